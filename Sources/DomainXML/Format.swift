import Foundation

// Model -> element tree -> text. Modeled content is written in libvirt's order; kept extras are
// merged back at the place libvirt would print them (by element name), else at the end.

/// An element under construction.
struct Builder {
    var name: String
    var attributes: [XMLAttribute] = []
    var children: [XMLNode] = []

    init(_ name: String) { self.name = name }

    mutating func attr(_ n: String, _ v: String?) {
        if let v { attributes.append(XMLAttribute(n, v)) }
    }
    mutating func attr(_ n: String, _ v: Int?) { attr(n, v.map(String.init)) }
    mutating func attr(_ n: String, yesNo v: Bool?) { attr(n, v.map { $0 ? "yes" : "no" }) }
    mutating func add(_ node: XMLNode?) { if let node { children.append(node) } }
    mutating func add(_ b: Builder) { children.append(b.node()) }
    mutating func text(_ s: String?) { if let s, !s.isEmpty { children.append(.text(s)) } }

    /// The element with `extra` merged in. Attributes are ordered by `attributeOrder` (unknown last);
    /// children by `childOrder`, with unknown children at `unknownBefore` (or last).
    func node(_ extra: Extra? = nil, attributeOrder: [String] = [], childOrder: [String] = [],
              unknownBefore: String? = nil) -> XMLNode {
        var attrs = attributes
        var kids = children
        if let extra {
            attrs += extra.attributes
            if !attributeOrder.isEmpty {
                attrs = stableSorted(attrs) { attributeOrder.firstIndex(of: $0.name) ?? attributeOrder.count }
            }
            if !extra.children.isEmpty {
                let unknown = unknownBefore.flatMap { childOrder.firstIndex(of: $0) }.map { 2 * $0 } ?? 2 * childOrder.count + 1
                func rank(_ n: XMLNode) -> Int? {
                    guard let name = n.elementName else { return nil }
                    return childOrder.firstIndex(of: name).map { 2 * $0 + 1 } ?? unknown
                }
                // A comment travels with the element after it: a modeled one it was anchored to,
                // else the next kept one.
                var ranks: [Int] = kids.map { rank($0) ?? 0 }
                var next = unknown
                var extraRanks = Array(repeating: unknown, count: extra.children.count)
                for (i, n) in extra.children.enumerated().reversed() {
                    if let r = rank(n) { next = r }
                    extraRanks[i] = next
                    if case .comment = n, let anchor = extra.commentAnchors[i] {
                        extraRanks[i] = childOrder.firstIndex(of: anchor).map { 2 * $0 } ?? 0
                    }
                }
                ranks += extraRanks
                kids += extra.children
                kids = zip(kids, ranks).enumerated()
                    .sorted { ($0.element.1, $0.offset) < ($1.element.1, $1.offset) }
                    .map(\.element.0)
            }
        }
        return .element(name: name, attributes: attrs, children: kids)
    }
}

private func stableSorted<T>(_ items: [T], by rank: (T) -> Int) -> [T] {
    items.enumerated().sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }.map(\.element)
}

/// Children that libvirt prints after a device's own elements, in its order (virDomainDeviceInfoFormat).
private let deviceTail = ["boot", "alias", "master", "rom", "acpi", "address"]

private let domainOrder = ["name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
                           "currentMemory", "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads",
                           "iothreadids", "defaultiothread", "cputune", "numatune", "resource", "sysinfo",
                           "bootloader", "bootloader_args", "os", "idmap", "features", "cpu", "clock",
                           "on_poweroff", "on_reboot", "on_crash", "on_lockfailure", "pm", "perf", "devices",
                           "seclabel", "keywrap", "launchSecurity"]

private let devicesOrder = ["emulator", "disk", "controller", "lease", "filesystem", "interface", "smartcard",
                            "serial", "parallel", "console", "channel", "input", "tpm", "graphics", "sound", "audio",
                            "video", "hostdev", "redirdev", "redirfilter", "hub", "watchdog", "memballoon", "rng",
                            "nvram", "panic", "shmem", "memory", "iommu", "vsock", "crypto", "pstore"]

private let osOrder = ["type", "firmware", "loader", "nvram", "varstore", "init", "initarg", "initenv", "initdir",
                       "inituser", "initgroup", "kernel", "initrd", "cmdline", "shim", "dtb", "acpi", "boot",
                       "bootmenu", "smbios", "bios"]

struct DomainFormatter {
    let options: FormatOptions
    var inactive: Bool { options.contains(.inactive) }

    func format(_ d: Domain) -> String {
        XMLWriter.write(domain(d))
    }

    func domain(_ d: Domain) -> XMLNode {
        var b = Builder("domain")
        b.attr("type", d.type)
        if !inactive { b.attr("id", d.id) }
        let sub = d.extra.childExtras
        b.add(textElement("name", d.name, sub["name"]))
        b.add(d.uuid.map { textElement("uuid", $0.uuidString.lowercased(), sub["uuid"]) })
        b.add(d.title.map { textElement("title", $0, sub["title"]) })
        b.add(d.description.map { textElement("description", $0, sub["description"]) })
        if let m = d.maxMemory {
            var e = Builder("maxMemory")
            e.attr("slots", m.slots)
            e.attr("unit", "KiB")
            e.text(String(m.kib))
            b.add(e.node(m.extra, attributeOrder: ["slots", "unit"]))
        }
        b.add(memoryElement("memory", d.memoryKiB, sub["memory"]))
        b.add(d.currentMemoryKiB.map { memoryElement("currentMemory", $0, sub["currentMemory"]) })
        var v = Builder("vcpu")
        v.attr("placement", d.vcpu.placement)
        v.attr("cpuset", d.vcpu.cpuset)
        v.attr("current", d.vcpu.current)
        v.text(String(d.vcpu.count))
        b.add(v.node(d.vcpu.extra, attributeOrder: ["placement", "cpuset", "current"]))
        b.add(os(d.os))
        if let f = d.features {
            var e = Builder("features")
            if f.acpi { e.add(Builder("acpi").node(f.extra.childExtras["acpi"])) }
            if f.apic { e.add(Builder("apic").node(f.extra.childExtras["apic"])) }
            if f.pae { e.add(Builder("pae").node(f.extra.childExtras["pae"])) }
            b.add(e.node(f.extra))
        }
        if let c = d.cpu {
            var e = Builder("cpu")
            e.attr("mode", c.mode)
            e.attr("match", c.match)
            e.attr("check", c.check)
            if c.model != nil || c.modelFallback != nil || c.extra.childExtras["model"] != nil {
                var m = Builder("model")
                m.attr("fallback", c.modelFallback)
                m.text(c.model)
                e.add(m.node(c.extra.childExtras["model"]))
            }
            b.add(e.node(c.extra, attributeOrder: ["mode", "match", "check", "migratable", "deprecated_features"]))
        }
        if let c = d.clock {
            var e = Builder("clock")
            e.attr("offset", c.offset)
            e.children = c.timers
            b.add(e.node(c.extra, attributeOrder: ["offset", "timezone", "adjustment", "basis"]))
        }
        b.add(d.onPoweroff.map { textElement("on_poweroff", $0, sub["on_poweroff"]) })
        b.add(d.onReboot.map { textElement("on_reboot", $0, sub["on_reboot"]) })
        b.add(d.onCrash.map { textElement("on_crash", $0, sub["on_crash"]) })
        b.add(devices(d.devices))
        var extra = d.extra
        extra.childExtras = [:]
        return b.node(extra, attributeOrder: ["type", "id"], childOrder: domainOrder)
    }

    func textElement(_ name: String, _ text: String, _ extra: Extra?) -> XMLNode {
        var e = Builder(name)
        e.text(text)
        return e.node(extra)
    }

    func memoryElement(_ name: String, _ kib: UInt64, _ extra: Extra?) -> XMLNode {
        var e = Builder(name)
        e.attr("unit", "KiB")
        e.text(String(kib))
        return e.node(extra, attributeOrder: ["dumpCore", "unit"])
    }

    func os(_ o: OS) -> XMLNode {
        var b = Builder("os")
        b.attr("firmware", o.firmware)
        var t = Builder("type")
        t.attr("arch", o.arch)
        t.attr("machine", o.machine)
        t.text(o.type)
        b.add(t.node(o.extra.childExtras["type"]))
        if let l = o.loader {
            var e = Builder("loader")
            e.attr("readonly", yesNo: l.readonly)
            e.attr("secure", yesNo: l.secure)
            e.attr("type", l.type)
            e.text(l.path)
            b.add(e.node(l.extra, attributeOrder: ["readonly", "secure", "stateless", "type", "format"]))
        }
        if let n = o.nvram {
            var e = Builder("nvram")
            e.attr("template", n.template)
            e.text(n.path)
            b.add(e.node(n.extra))
        }
        b.add(o.kernel.map { textElement("kernel", $0, o.extra.childExtras["kernel"]) })
        b.add(o.initrd.map { textElement("initrd", $0, o.extra.childExtras["initrd"]) })
        b.add(o.cmdline.map { textElement("cmdline", $0, o.extra.childExtras["cmdline"]) })
        for dev in o.boot {
            var e = Builder("boot")
            e.attr("dev", dev)
            b.add(e)
        }
        if let m = o.bootMenu {
            var e = Builder("bootmenu")
            e.attr("enable", yesNo: m.enable)
            e.attr("timeout", m.timeout)
            b.add(e.node(m.extra))
        }
        var extra = o.extra
        extra.childExtras = [:]
        return b.node(extra, childOrder: osOrder)
    }

    // MARK: Devices

    func devices(_ d: Devices) -> XMLNode {
        var b = Builder("devices")
        b.add(d.emulator.map { textElement("emulator", $0, d.extra.childExtras["emulator"]) })
        for x in d.disks { b.add(disk(x)) }
        for x in d.controllers { b.add(controller(x)) }
        for x in d.filesystems { b.add(filesystem(x)) }
        for x in d.interfaces { b.add(interface(x)) }
        for x in d.serials { b.add(charDevice("serial", x)) }
        for x in d.parallels { b.add(charDevice("parallel", x)) }
        for x in d.consoles { b.add(charDevice("console", x)) }
        for x in d.channels { b.add(charDevice("channel", x)) }
        for x in d.inputs { b.add(input(x)) }
        for x in d.tpms { b.add(tpm(x)) }
        for x in d.graphics { b.add(graphics(x)) }
        for x in d.sounds { b.add(sound(x)) }
        for x in d.audios {
            var e = Builder("audio")
            e.attr("id", x.id)
            e.attr("type", x.type)
            b.add(e.node(x.extra))
        }
        for x in d.videos { b.add(video(x)) }
        for x in d.hostdevs { b.add(hostdev(x)) }
        for x in d.redirdevs { b.add(redirdev(x)) }
        for x in d.watchdogs {
            var e = Builder("watchdog")
            e.attr("model", x.model)
            e.attr("action", x.action)
            deviceInfo(&e, alias: x.alias, address: x.address, x.extra)
            b.add(device(e, x.extra))
        }
        if let m = d.memballoon {
            var e = Builder("memballoon")
            e.attr("model", m.model)
            if let p = m.statsPeriod {
                var s = Builder("stats")
                s.attr("period", p)
                e.add(s.node(m.extra.childExtras["stats"]))
            }
            deviceInfo(&e, alias: m.alias, address: m.address, m.extra)
            b.add(device(e, m.extra, order: ["stats"]))
        }
        for x in d.rngs { b.add(rng(x)) }
        var extra = d.extra
        extra.childExtras = [:]
        return b.node(extra, childOrder: devicesOrder)
    }

    /// Appends `<alias>` (live only, except user aliases) and `<address>`.
    func deviceInfo(_ e: inout Builder, alias: String?, address: DeviceAddress?, _ extra: Extra) {
        if let alias, !inactive || alias.hasPrefix("ua-") {
            var a = Builder("alias")
            a.attr("name", alias)
            e.add(a.node(extra.childExtras["alias"]))
        }
        if let address {
            var a = Builder("address")
            a.attr("type", address.type)
            a.attributes += address.attributes
            e.add(a.node(extra.childExtras["address"]))
        }
    }

    func bootElement(_ order: Int?, _ extra: Extra) -> XMLNode? {
        guard let order else { return nil }
        var b = Builder("boot")
        b.attr("order", order)
        return b.node(extra.childExtras["boot"])
    }

    func device(_ b: Builder, _ extra: Extra, order: [String] = [], attributeOrder: [String] = []) -> XMLNode {
        var rest = extra
        rest.childExtras = [:]
        return b.node(rest, attributeOrder: attributeOrder, childOrder: order + deviceTail, unknownBefore: "boot")
    }

    func disk(_ d: Disk) -> XMLNode {
        var b = Builder("disk")
        b.attr("type", d.type)
        b.attr("device", d.device)
        let sub = d.extra.childExtras
        if d.driverName != nil || d.driverType != nil || d.driverCache != nil || d.driverDiscard != nil
            || !d.driverExtra.isEmpty || sub["driver"] != nil {
            var e = Builder("driver")
            e.attr("name", d.driverName)
            e.attr("type", d.driverType)
            e.attr("cache", d.driverCache)
            e.attr("discard", d.driverDiscard)
            var extra = sub["driver"] ?? Extra()
            extra.attributes = d.driverExtra
            b.add(e.node(extra, attributeOrder: ["name", "type", "cache", "error_policy", "rerror_policy", "io",
                                                 "ioeventfd", "event_idx", "copy_on_read", "discard", "iothread",
                                                 "detect_zeroes", "discard_no_unref", "queues", "queue_size"]))
        }
        if d.sourcePath != nil || !d.sourceExtra.isEmpty {
            var e = Builder("source")
            switch d.type {
            case "block": e.attr("dev", d.sourcePath)
            case "dir": e.attr("dir", d.sourcePath)
            default: e.attr("file", d.sourcePath)
            }
            b.add(e.node(d.sourceExtra, attributeOrder: ["protocol", "name", "pool", "volume", "file", "dev", "dir"]))
        }
        var t = Builder("target")
        t.attr("dev", d.targetDev)
        t.attr("bus", d.targetBus)
        b.add(t.node(sub["target"]))
        if d.readonly { b.add(Builder("readonly").node(sub["readonly"])) }
        if d.shareable { b.add(Builder("shareable").node(sub["shareable"])) }
        b.add(d.serial.map { textElement("serial", $0, sub["serial"]) })
        b.add(bootElement(d.bootOrder, d.extra))
        deviceInfo(&b, alias: d.alias, address: d.address, d.extra)
        return device(b, d.extra, order: ["driver", "auth", "source", "backingStore", "geometry", "blockio", "target",
                                           "iotune", "throttlefilters", "readonly", "shareable", "transient",
                                           "serial", "wwn", "vendor", "product", "encryption"])
    }

    func controller(_ c: Controller) -> XMLNode {
        var b = Builder("controller")
        b.attr("type", c.type)
        b.attr("index", c.index)
        b.attr("model", c.model)
        deviceInfo(&b, alias: c.alias, address: c.address, c.extra)
        return device(b, c.extra, order: ["driver", "model", "target", "pcihole64"],
                      attributeOrder: ["type", "index", "model", "ports", "vectors", "maxGrantFrames", "maxEventChannels"])
    }

    func interface(_ n: Interface) -> XMLNode {
        var b = Builder("interface")
        b.attr("type", n.type)
        let sub = n.extra.childExtras
        if let mac = n.mac {
            var e = Builder("mac")
            e.attr("address", mac)
            b.add(e.node(sub["mac"]))
        }
        if n.sourceNetwork != nil || n.sourceBridge != nil || !n.sourceExtra.isEmpty {
            var e = Builder("source")
            e.attr("network", n.sourceNetwork)
            e.attr("bridge", n.sourceBridge)
            b.add(e.node(n.sourceExtra, attributeOrder: ["network", "portgroup", "portid", "bridge", "dev", "mode"]))
        }
        if let dev = n.targetDev,
           !(inactive && (dev.hasPrefix("vnet") || dev.hasPrefix("macvtap") || dev.hasPrefix("macvlan"))) {
            var e = Builder("target")
            e.attr("dev", dev)
            b.add(e.node(sub["target"]))
        }
        if let model = n.model {
            var e = Builder("model")
            e.attr("type", model)
            b.add(e.node(sub["model"]))
        }
        b.add(bootElement(n.bootOrder, n.extra))
        deviceInfo(&b, alias: n.alias, address: n.address, n.extra)
        return device(b, n.extra, order: ["mac", "source", "virtualport", "ip", "route", "script", "downscript",
                                          "backenddomain", "target", "guest", "model", "driver", "backend",
                                          "filterref", "tune", "teaming", "link", "mtu", "coalesce", "portForward"])
    }

    func charDevice(_ name: String, _ c: CharDevice) -> XMLNode {
        var b = Builder(name)
        b.attr("type", c.type)
        let sub = c.extra.childExtras
        let livePty = c.type == "pty" && inactive
        let path = livePty ? nil : c.sourcePath
        if path != nil || c.sourceMode != nil || c.sourceHost != nil || c.sourceService != nil
            || !c.sourceExtra.isEmpty || sub["source"] != nil {
            var e = Builder("source")
            e.attr("mode", c.sourceMode)
            e.attr("host", c.sourceHost)
            e.attr("service", c.sourceService)
            e.attr("path", path)
            var extra = sub["source"] ?? Extra()
            extra.attributes = c.sourceExtra
            b.add(e.node(extra, attributeOrder: ["mode", "host", "service", "path", "append", "tls"]))
        }
        if let p = c.protocolType {
            var e = Builder("protocol")
            e.attr("type", p)
            b.add(e.node(sub["protocol"]))
        }
        if let f = c.logFile {
            var e = Builder("log")
            e.attr("file", f)
            e.attr("append", c.logAppend)
            b.add(e.node(sub["log"]))
        }
        if c.targetType != nil || c.targetPort != nil || c.targetName != nil || c.targetModel != nil || sub["target"] != nil {
            var e = Builder("target")
            e.attr("type", c.targetType)
            e.attr("port", c.targetPort)
            e.attr("name", c.targetName)
            let targetExtra = sub["target"] ?? Extra()
            if let m = c.targetModel {
                var me = Builder("model")
                me.attr("name", m)
                e.add(me.node(targetExtra.childExtras["model"]))
            }
            var rest = targetExtra
            rest.childExtras = [:]
            b.add(e.node(rest))
        }
        deviceInfo(&b, alias: c.alias, address: c.address, c.extra)
        var extra = c.extra
        if livePty { extra.attributes.removeAll { $0.name == "tty" } }
        return device(b, extra, order: ["source", "protocol", "log", "target"])
    }

    func input(_ i: Input) -> XMLNode {
        var b = Builder("input")
        b.attr("type", i.type)
        b.attr("bus", i.bus)
        deviceInfo(&b, alias: i.alias, address: i.address, i.extra)
        return device(b, i.extra, order: ["source", "driver"])
    }

    func graphics(_ g: Graphics) -> XMLNode {
        var b = Builder("graphics")
        b.attr("type", g.type)
        let autoport = g.autoport == true
        if inactive && autoport {
            // libvirt hides auto-assigned ports in inactive XML.
            if g.type == "vnc" { b.attr("port", "-1") }
        } else {
            b.attr("port", g.port)
            b.attr("tlsPort", g.tlsPort)
        }
        b.attr("autoport", yesNo: g.autoport)
        b.attr("listen", g.listen)
        if options.contains(.secure) { b.attr("passwd", g.passwd) }
        if let l = g.listen {
            var e = Builder("listen")
            e.attr("type", "address")
            e.attr("address", l)
            b.add(e.node(g.extra.childExtras["listen"]))
        }
        var extra = g.extra
        extra.childExtras = [:]
        if !options.contains(.secure) { extra.attributes.removeAll { $0.name == "passwdValidTo" } }
        return b.node(extra, attributeOrder: ["type", "port", "tlsPort", "autoport", "websocket", "listen", "sharePolicy",
                                              "passwd", "keymap", "defaultMode", "passwdValidTo", "connected"],
                      childOrder: ["listen"])
    }

    func video(_ v: Video) -> XMLNode {
        var b = Builder("video")
        let sub = v.extra.childExtras
        if v.model != "default" || v.vram != nil || v.heads != nil || v.primary != nil || sub["model"] != nil {
            var m = Builder("model")
            m.attr("type", v.model)
            m.attr("vram", v.vram)
            m.attr("heads", v.heads)
            m.attr("primary", yesNo: v.primary)
            b.add(m.node(sub["model"], attributeOrder: ["type", "ram", "vram", "vram64", "vgamem", "heads", "primary", "blob"]))
        }
        deviceInfo(&b, alias: v.alias, address: v.address, v.extra)
        return device(b, v.extra, order: ["driver", "model"])
    }

    func sound(_ s: Sound) -> XMLNode {
        var b = Builder("sound")
        b.attr("model", s.model)
        if let id = s.audioID {
            var a = Builder("audio")
            a.attr("id", id)
            b.add(a.node(s.extra.childExtras["audio"]))
        }
        deviceInfo(&b, alias: s.alias, address: s.address, s.extra)
        return device(b, s.extra, order: ["codec", "audio"])
    }

    func rng(_ r: RNG) -> XMLNode {
        var b = Builder("rng")
        b.attr("model", r.model)
        var e = Builder("backend")
        e.attr("model", r.backendModel)
        e.text(r.backendPath)
        b.add(e.node(r.extra.childExtras["backend"]))
        deviceInfo(&b, alias: r.alias, address: r.address, r.extra)
        return device(b, r.extra, order: ["rate", "backend"])
    }

    func hostdev(_ h: HostDev) -> XMLNode {
        var b = Builder("hostdev")
        b.attr("mode", h.mode)
        b.attr("type", h.type)
        let sub = h.extra.childExtras
        if h.vendorID != nil || h.sourceBus != nil || sub["source"] != nil {
            var s = Builder("source")
            let sourceExtra = sub["source"] ?? Extra()
            if let v = h.vendorID {
                var e = Builder("vendor")
                e.attr("id", v)
                s.add(e.node(sourceExtra.childExtras["vendor"]))
            }
            if let p = h.productID {
                var e = Builder("product")
                e.attr("id", p)
                s.add(e.node(sourceExtra.childExtras["product"]))
            }
            if h.sourceBus != nil || h.sourceDevice != nil {
                var e = Builder("address")
                e.attr("bus", h.sourceBus)
                e.attr("device", h.sourceDevice)
                s.add(e.node(sourceExtra.childExtras["address"]))
            }
            var rest = sourceExtra
            rest.childExtras = [:]
            b.add(s.node(rest))
        }
        deviceInfo(&b, alias: h.alias, address: h.address, h.extra)
        return device(b, h.extra, order: ["source", "driver", "origstates", "readonly", "shareable"],
                      attributeOrder: ["mode", "type", "managed", "model", "display", "ramfb"])
    }

    func redirdev(_ r: RedirDev) -> XMLNode {
        var b = Builder("redirdev")
        b.attr("bus", r.bus)
        b.attr("type", r.type)
        if r.sourceHost != nil || r.sourceService != nil || r.extra.childExtras["source"] != nil {
            var s = Builder("source")
            s.attr("host", r.sourceHost)
            s.attr("service", r.sourceService)
            b.add(s.node(r.extra.childExtras["source"], attributeOrder: ["mode", "host", "service", "tls"]))
        }
        deviceInfo(&b, alias: r.alias, address: r.address, r.extra)
        return device(b, r.extra, order: ["source", "protocol"])
    }

    func filesystem(_ f: Filesystem) -> XMLNode {
        var b = Builder("filesystem")
        b.attr("type", f.type)
        b.attr("accessmode", f.accessmode)
        let sub = f.extra.childExtras
        if let t = f.driverType {
            var e = Builder("driver")
            e.attr("type", t)
            b.add(e.node(sub["driver"]))
        }
        if let s = f.sourceDir {
            var e = Builder("source")
            e.attr("dir", s)
            b.add(e.node(sub["source"]))
        }
        if let t = f.targetDir {
            var e = Builder("target")
            e.attr("dir", t)
            b.add(e.node(sub["target"]))
        }
        if f.readonly { b.add(Builder("readonly").node(sub["readonly"])) }
        deviceInfo(&b, alias: f.alias, address: f.address, f.extra)
        return device(b, f.extra, order: ["driver", "binary", "source", "target", "idmap", "readonly",
                                          "space_hard_limit", "space_soft_limit"],
                      attributeOrder: ["type", "accessmode", "model", "multidevs", "fmode", "dmode"])
    }

    func tpm(_ t: TPM) -> XMLNode {
        var b = Builder("tpm")
        b.attr("model", t.model)
        var e = Builder("backend")
        e.attr("type", t.backendType)
        e.attr("version", t.backendVersion)
        let backendExtra = t.extra.childExtras["backend"] ?? Extra()
        if let p = t.backendPath {
            var d = Builder("device")
            d.attr("path", p)
            e.add(d.node(backendExtra.childExtras["device"]))
        }
        var rest = backendExtra
        rest.childExtras = [:]
        b.add(e.node(rest))
        deviceInfo(&b, alias: t.alias, address: nil, t.extra)
        return device(b, t.extra, order: ["backend"])
    }
}
