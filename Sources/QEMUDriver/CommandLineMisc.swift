import DomainXML

// Device sections of the argv builder: filesystems, TPM, input, audio, graphics, video,
// sound, watchdog, USB redirection and passthrough, balloon, RNG.

extension ArgvBuilder {
    mutating func buildFilesystems() throws {
        for (i, fs) in domain.devices.filesystems.enumerated() {
            let what = "filesystem \(i)" + (fs.targetDir.map { " (\($0))" } ?? "")
            guard fs.type == "mount" else { throw DomainXMLError("\(what): filesystem type '\(fs.type)' is not supported: use mount") }
            if fs.driverType == "virtiofs" {
                throw DomainXMLError("\(what): virtiofs needs a virtiofsd (vhost-user) daemon, which Corral does not start yet; use the 9p driver (<driver type='path'/>)")
            }
            guard let source = fs.sourceDir, let tag = fs.targetDir else {
                throw DomainXMLError("\(what): needs <source dir=''> and <target dir=''>")
            }
            let models = ["passthrough": "passthrough", "mapped": "mapped", "squash": "none"]
            let access = fs.accessmode ?? "passthrough"
            guard let model = models[access] else { throw DomainXMLError("\(what): accessmode '\(access)' is not supported") }
            var fsdev = "local,security_model=\(model),id=fsdev-fs\(i),path=\(QEMUCommandLine.optEscape(source))"
            if fs.readonly { fsdev += ",readonly=on" }
            add("-fsdev", fsdev)
            try addDevice(try pciDevice(["driver": "virtio-9p-pci", "id": .string("fs\(i)"), "fsdev": .string("fsdev-fs\(i)"),
                                         "mount_tag": .string(tag)], fs.address, what), for: what)
        }
    }

    mutating func buildTPMs() throws {
        for (i, tpm) in domain.devices.tpms.enumerated() {
            let what = "tpm \(i)"
            switch tpm.backendType {
            case "emulator":
                // The driver must start swtpm listening on context.tpmSocket before QEMU.
                add("-chardev", "socket,id=chrtpm\(i == 0 ? "" : String(i)),path=\(QEMUCommandLine.optEscape(context.tpmSocket))")
                add("-tpmdev", "emulator,id=tpm-tpm\(i),chardev=chrtpm\(i == 0 ? "" : String(i))")
            case "passthrough":
                let path = tpm.backendPath ?? "/dev/tpm0"
                let name = path.split(separator: "/").last.map(String.init) ?? "tpm0"
                add("-tpmdev", "passthrough,id=tpm-tpm\(i),path=\(QEMUCommandLine.optEscape(path)),cancel-path=/sys/class/tpm/\(name)/device/cancel")
            default:
                throw DomainXMLError("\(what): backend type '\(tpm.backendType)' is not supported: use emulator or passthrough")
            }
            let model = tpm.model ?? "tpm-tis"
            guard model == "tpm-tis" || model == "tpm-crb" else { throw DomainXMLError("\(what): model '\(model)' is not supported") }
            try addDevice(["driver": .string(model), "tpmdev": .string("tpm-tpm\(i)"), "id": .string("tpm\(i)")], for: what)
        }
    }

    mutating func buildInputs() throws {
        for (i, input) in domain.devices.inputs.enumerated() {
            let what = "input \(i) (\(input.type))"
            let bus = input.bus ?? (input.type == "tablet" ? "usb" : "ps2")
            var json: ArgvJSON
            switch (bus, input.type) {
            case ("ps2", "mouse"), ("ps2", "keyboard"):
                continue   // the PS/2 controller of pc/q35 provides them
            case ("usb", _):
                let drivers = ["tablet": "usb-tablet", "mouse": "usb-mouse", "keyboard": "usb-kbd"]
                guard let driver = drivers[input.type] else { throw DomainXMLError("\(what): unknown input type") }
                json = ["driver": .string(driver), "id": .string("input\(i)")]
                json.add(contentsOf: try usbProps(input.address, what))
            case ("virtio", _):
                let drivers = ["tablet": "virtio-tablet-pci", "mouse": "virtio-mouse-pci", "keyboard": "virtio-keyboard-pci"]
                guard let driver = drivers[input.type] else { throw DomainXMLError("\(what): unknown input type") }
                json = try pciDevice(["driver": .string(driver), "id": .string("input\(i)")], input.address, what)
            default:
                throw DomainXMLError("\(what): input bus '\(bus)' is not supported for type '\(input.type)'")
            }
            try addDevice(json, for: what)
        }
    }

    mutating func buildAudio() throws {
        var audios = domain.devices.audios
        // libvirt adds a backend for sound devices that lack one; without it QEMU would pick a
        // host audio system on its own.
        if audios.isEmpty, !domain.devices.sounds.isEmpty {
            audios = [Audio(id: 1, type: domain.devices.graphics.contains { $0.type == "spice" } ? "spice" : "none")]
        }
        let drivers = ["none": "none", "spice": "spice", "pulseaudio": "pa", "alsa": "alsa", "oss": "oss", "sdl": "sdl",
                       "pipewire": "pipewire", "jack": "jack", "dbus": "dbus"]
        for audio in audios {
            guard let driver = drivers[audio.type] else { throw DomainXMLError("audio \(audio.id): type '\(audio.type)' is not supported") }
            add("-audiodev", (["id": .string("audio\(audio.id)"), "driver": .string(driver)] as ArgvJSON).text)
            audioIDs.append(audio.id)
        }
    }

    mutating func buildGraphics() throws {
        let graphics = domain.devices.graphics
        if graphics.isEmpty { add("-display", "none"); return }
        for type in ["vnc", "spice"] where graphics.filter({ $0.type == type }).count > 1 {
            throw DomainXMLError("only one <graphics type='\(type)'> is supported")
        }
        for (i, g) in graphics.enumerated() {
            let what = "graphics \(i) (\(g.type))"
            let listen = g.listen ?? "127.0.0.1"
            let autoport = g.autoport == true || g.port == nil || g.port == -1
            let port = autoport ? context.graphicsPorts[i] : g.port
            switch g.type {
            case "vnc":
                let host = listen.contains(":") ? "[\(listen)]" : listen
                var opts: String
                if let port {
                    guard port >= 5900 else { throw DomainXMLError("\(what): VNC port \(port) is below 5900") }
                    opts = "\(host):\(port - 5900)"
                } else {
                    // No port allocated: QEMU takes the first free display of 5900-5999; read it with query-vnc.
                    opts = "\(host):0,to=99"
                }
                if g.passwd != nil { opts += ",password=on" }
                if let audio = audioIDs.first { opts += ",audiodev=audio\(audio)" }
                add("-vnc", opts)
            case "spice":
                guard let port else {
                    throw DomainXMLError("\(what): SPICE with autoport needs a port allocated by the driver (QEMULaunchContext.graphicsPorts)")
                }
                if g.tlsPort != nil { throw DomainXMLError("\(what): SPICE TLS is not supported yet") }
                var opts = "port=\(port),addr=\(QEMUCommandLine.optEscape(listen))"
                if g.passwd == nil { opts += ",disable-ticketing=on" }
                opts += ",seamless-migration=on"
                add("-spice", opts)
            default:
                throw DomainXMLError("\(what): graphics type '\(g.type)' is not supported: use vnc or spice")
            }
        }
    }

    mutating func buildVideos() throws {
        for (i, video) in domain.devices.videos.enumerated() {
            let what = "video \(i) (\(video.model))"
            let primary = i == 0
            let attrs = attributeMap(video.extra.childExtras["model"]?.attributes ?? [])
            let id: ArgvJSON.Value = .string("video\(i)")
            var json: ArgvJSON
            switch video.model {
            case "none": continue
            case "vga":
                json = ["driver": "VGA", "id": id, "vgamem_mb": .int((video.vram ?? 16384) / 1024)]
            case "cirrus":
                json = ["driver": "cirrus-vga", "id": id]
            case "qxl":
                json = ["driver": primary ? "qxl-vga" : "qxl", "id": id]
                if primary, (video.heads ?? 1) >= 1 { json.add("max_outputs", video.heads ?? 1) }
                json.add("ram_size", (parseXMLInt(attrs["ram"]) ?? 65536) * 1024)
                json.add("vram_size", (video.vram ?? 65536) * 1024)
                json.add("vram64_size_mb", (parseXMLInt(attrs["vram64"]) ?? 0) / 1024)
                json.add("vgamem_mb", (parseXMLInt(attrs["vgamem"]) ?? 16384) / 1024)
            case "virtio":
                json = ["driver": primary ? "virtio-vga" : "virtio-gpu-pci", "id": id, "max_outputs": .int(video.heads ?? 1)]
            case "bochs":
                json = ["driver": "bochs-display", "id": id, "vgamem": .int((video.vram ?? 16384) * 1024)]
            case "ramfb":
                try addDevice(["driver": "ramfb", "id": id], for: what)
                continue
            default:
                throw DomainXMLError("\(what): video model '\(video.model)' is not supported")
            }
            if !primary, ["vga", "cirrus"].contains(video.model) {
                throw DomainXMLError("\(what): only the first video device can be '\(video.model)'")
            }
            json.add(contentsOf: try pciProps(video.address, what))
            try addDevice(json, for: what)
        }
    }

    mutating func buildSounds() throws {
        for (i, sound) in domain.devices.sounds.enumerated() {
            let what = "sound \(i) (\(sound.model))"
            let audio = sound.audioID ?? audioIDs.first ?? 1
            guard audioIDs.contains(audio) else { throw DomainXMLError("\(what): no <audio id='\(audio)'>") }
            let id: ArgvJSON.Value = .string("sound\(i)")
            switch sound.model {
            case "ich6", "ich9":
                let driver = sound.model == "ich6" ? "intel-hda" : "ich9-intel-hda"
                try addDevice(try pciDevice(["driver": .string(driver), "id": id], sound.address, what), for: what)
                try addDevice(["driver": "hda-duplex", "id": .string("sound\(i)-codec0"), "bus": .string("sound\(i).0"),
                               "cad": 0, "audiodev": .string("audio\(audio)")], for: what)
            case "ac97", "es1370":
                let driver = sound.model == "ac97" ? "AC97" : "ES1370"
                try addDevice(try pciDevice(["driver": .string(driver), "id": id, "audiodev": .string("audio\(audio)")], sound.address, what), for: what)
            case "usb":
                var json: ArgvJSON = ["driver": "usb-audio", "id": id, "audiodev": .string("audio\(audio)")]
                json.add(contentsOf: try usbProps(sound.address, what))
                try addDevice(json, for: what)
            default:
                throw DomainXMLError("\(what): sound model '\(sound.model)' is not supported")
            }
        }
    }

    mutating func buildWatchdogs() throws {
        let watchdogs = domain.devices.watchdogs
        guard let first = watchdogs.first else { return }
        guard watchdogs.count == 1 else { throw DomainXMLError("only one <watchdog> is supported") }
        let what = "watchdog (\(first.model))"
        switch first.model {
        case "i6300esb":
            try addDevice(try pciDevice(["driver": "i6300esb", "id": "watchdog0"], first.address, what), for: what)
        case "ib700":
            try addDevice(["driver": "ib700", "id": "watchdog0"], for: what)
        case "itco":
            guard isQ35 else { throw DomainXMLError("\(what): the iTCO watchdog exists only on q35 machines") }
            add("-global", "ICH9-LPC.noreboot=off")   // the built-in iTCO fires only when allowed to reboot
        default:
            throw DomainXMLError("\(what): watchdog model '\(first.model)' is not supported")
        }
        let action = first.action ?? "reset"
        guard ["reset", "shutdown", "poweroff", "pause", "none", "inject-nmi"].contains(action) else {
            throw DomainXMLError("\(what): action '\(action)' is not supported")
        }
        add("-watchdog-action", action)
    }

    mutating func buildRedirdevs() throws {
        for (i, redir) in domain.devices.redirdevs.enumerated() {
            let what = "redirdev \(i)"
            guard redir.bus == "usb" else { throw DomainXMLError("\(what): bus '\(redir.bus)' is not supported: use usb") }
            switch redir.type {
            case "spicevmc":
                add("-chardev", "spicevmc,id=charredir\(i),name=usbredir")
            case "tcp":
                guard let host = redir.sourceHost, let port = redir.sourceService else {
                    throw DomainXMLError("\(what): type 'tcp' needs <source host='' service=''>")
                }
                add("-chardev", "socket,id=charredir\(i),host=\(QEMUCommandLine.optEscape(host)),port=\(QEMUCommandLine.optEscape(port))")
            default:
                throw DomainXMLError("\(what): type '\(redir.type)' is not supported: use spicevmc or tcp")
            }
            var json: ArgvJSON = ["driver": "usb-redir", "chardev": .string("charredir\(i)"), "id": .string("redir\(i)")]
            json.add(contentsOf: try usbProps(redir.address, what))
            try addDevice(json, for: what)
        }
    }

    mutating func buildHostdevs() throws {
        for (i, dev) in domain.devices.hostdevs.enumerated() {
            let what = "hostdev \(i) (\(dev.type))"
            guard dev.mode == "subsystem", dev.type == "usb" else {
                throw DomainXMLError("\(what): only USB host devices are supported; PCI passthrough needs VFIO setup")
            }
            var json: ArgvJSON = ["driver": "usb-host"]
            if let bus = dev.sourceBus, let device = dev.sourceDevice {
                guard (1...999).contains(bus), (1...999).contains(device) else {
                    throw DomainXMLError("\(what): USB bus \(bus) device \(device) is out of range (1-999)")
                }
                // The device node, as libvirt passes it: QEMU opens exactly this device.
                json.add("hostdevice", "/dev/bus/usb/" + threeDigits(bus) + "/" + threeDigits(device))
            } else if let vendor = parseXMLInt(dev.vendorID), let product = parseXMLInt(dev.productID) {
                // libvirt looks the IDs up in sysfs before starting; QEMU matches them itself,
                // which also takes a device plugged in after the guest started.
                json.add("vendorid", vendor); json.add("productid", product)
            } else {
                throw DomainXMLError("\(what): needs <vendor id=''/><product id=''/> or <address bus='' device=''/>")
            }
            json.add("id", "hostdev\(i)")
            let boot = elements(dev.extra, "boot").first?["order"]
            if let boot {
                guard let order = parseXMLInt(boot), order > 0 else { throw DomainXMLError("\(what): <boot order='\(boot)'> must be a positive number") }
                json.add("bootindex", order)
            }
            json.add(contentsOf: try usbProps(dev.address, what))
            try addDevice(json, for: what)
        }
    }

    func threeDigits(_ n: Int) -> String { String(repeating: "0", count: max(0, 3 - String(n).count)) + String(n) }

    mutating func buildMemballoon() throws {
        guard let balloon = domain.devices.memballoon, balloon.model != "none" else { return }
        guard balloon.model == "virtio" else { throw DomainXMLError("memballoon model '\(balloon.model)' is not supported: use virtio") }
        try addDevice(try pciDevice(["driver": "virtio-balloon-pci", "id": "balloon0"], balloon.address, "memballoon"), for: "memballoon")
    }

    mutating func buildRNGs() throws {
        for (i, rng) in domain.devices.rngs.enumerated() {
            let what = "rng \(i)"
            guard rng.model == "virtio" else { throw DomainXMLError("\(what): model '\(rng.model)' is not supported: use virtio") }
            let object: ArgvJSON
            switch rng.backendModel {
            case "random":
                object = ["qom-type": "rng-random", "id": .string("objrng\(i)"), "filename": .string(rng.backendPath ?? "/dev/urandom")]
            case "builtin":
                object = ["qom-type": "rng-builtin", "id": .string("objrng\(i)")]
            default:
                throw DomainXMLError("\(what): backend model '\(rng.backendModel)' is not supported: use random or builtin")
            }
            add("-object", object.text)
            try addDevice(try pciDevice(["driver": "virtio-rng-pci", "rng": .string("objrng\(i)"), "id": .string("rng\(i)")], rng.address, what), for: what)
        }
    }
}
