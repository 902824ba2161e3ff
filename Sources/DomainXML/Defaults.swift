import Foundation

// What libvirt's QEMU driver fills in when a domain is defined. Deterministic apart from the
// random UUID and MAC addresses, and idempotent: applying it twice changes nothing more.

enum DomainDefaults {
    static func apply(to d: inout Domain) {
        if d.uuid == nil { d.uuid = UUID() }
        if (d.currentMemoryKiB ?? .max) > d.memoryKiB { d.currentMemoryKiB = d.memoryKiB }
        if d.vcpu.placement == nil { d.vcpu.placement = "static" }
        let hvm = d.os.type == "hvm"
        if hvm {
            if d.os.arch == nil { d.os.arch = "x86_64" }
            if d.os.machine == nil, d.isX86 { d.os.machine = "pc" }
        }
        if d.onPoweroff == nil { d.onPoweroff = "destroy" }
        if d.onReboot == nil { d.onReboot = "restart" }
        if d.onCrash == nil { d.onCrash = "destroy" }
        if d.clock == nil { d.clock = Clock() }

        let pcLike = hvm && d.isX86
        disks(&d)
        if pcLike { inputs(&d) }
        charDevices(&d, x86: pcLike)
        displays(&d, x86: pcLike)
        if d.devices.memballoon == nil && hvm { d.devices.memballoon = MemBalloon(model: "virtio") }
        for i in d.devices.watchdogs.indices where d.devices.watchdogs[i].action == nil {
            d.devices.watchdogs[i].action = "reset"
        }
        for i in d.devices.tpms.indices {
            if d.devices.tpms[i].model == nil && pcLike { d.devices.tpms[i].model = "tpm-tis" }
            if d.devices.tpms[i].backendType == "emulator" && d.devices.tpms[i].backendVersion == nil {
                d.devices.tpms[i].backendVersion = "2.0"
            }
        }
        for i in d.devices.filesystems.indices where d.devices.filesystems[i].type == "mount" {
            if d.devices.filesystems[i].accessmode == nil { d.devices.filesystems[i].accessmode = "passthrough" }
        }
        macAddresses(&d)
        if pcLike {
            controllers(&d)
            USBAllocator.assign(&d)
            virtioSerialAddresses(&d)
            PCIAllocator.assign(&d)
        }
    }

    // MARK: Disks

    static func disks(_ d: inout Domain) {
        for i in d.devices.disks.indices {
            var disk = d.devices.disks[i]
            if disk.targetBus == nil { disk.targetBus = busFromTarget(disk.targetDev) }
            if disk.driverName == nil && disk.type != "vhostuser" { disk.driverName = "qemu" }
            // QEMU never probes image formats for libvirt (a guest could fake a qcow2 header): raw by default.
            if disk.driverType == nil && !["volume", "vhostuser", "dir"].contains(disk.type) { disk.driverType = "raw" }
            if disk.device == "cdrom" { disk.readonly = true }
            if disk.address == nil, let bus = disk.targetBus, let idx = diskIndex(disk.targetDev) {
                disk.address = driveAddress(bus: bus, index: idx)
            }
            d.devices.disks[i] = disk
        }
    }

    /// libvirt infers the bus from the target name's prefix.
    static func busFromTarget(_ dev: String) -> String? {
        if dev.hasPrefix("hd") { return "ide" }
        if dev.hasPrefix("sd") { return "scsi" }
        if dev.hasPrefix("vd") { return "virtio" }
        if dev.hasPrefix("xvd") { return "xen" }
        if dev.hasPrefix("ubd") { return "uml" }
        if dev.hasPrefix("fd") { return "fdc" }
        return nil
    }

    /// "sda" -> 0, "hdc" -> 2, "vdaa" -> 26, as libvirt's virDiskNameToIndex.
    static func diskIndex(_ dev: String) -> Int? {
        let prefixes = ["xvd", "ubd", "hd", "sd", "vd", "fd"]
        guard let p = prefixes.first(where: { dev.hasPrefix($0) }) else { return nil }
        let letters = dev.dropFirst(p.count)
        guard !letters.isEmpty, letters.count <= 4 else { return nil }
        var idx = 0
        for (i, c) in letters.unicodeScalars.enumerated() {
            guard c.value >= 97, c.value <= 122 else { return nil }
            idx = (idx + (i == 0 ? 0 : 1)) * 26 + Int(c.value - 97)
        }
        return idx
    }

    static func driveAddress(bus: String, index idx: Int) -> DeviceAddress? {
        let (controller, busNo, unit): (Int, Int, Int)
        switch bus {
        case "ide": (controller, busNo, unit) = (idx / 4, (idx % 4) / 2, idx % 2)
        case "sata": (controller, busNo, unit) = (idx / 6, 0, idx % 6)
        case "scsi": (controller, busNo, unit) = (idx / 7, 0, idx % 7)
        case "fdc": guard idx < 2 else { return nil }; (controller, busNo, unit) = (0, 0, idx)
        default: return nil
        }
        return DeviceAddress(type: "drive", attributes: [
            XMLAttribute("controller", String(controller)), XMLAttribute("bus", String(busNo)),
            XMLAttribute("target", "0"), XMLAttribute("unit", String(unit)),
        ])
    }

    // MARK: Inputs, character devices, displays

    static func inputs(_ d: inout Domain) {
        for i in d.devices.inputs.indices where d.devices.inputs[i].bus == nil {
            d.devices.inputs[i].bus = d.devices.inputs[i].type == "tablet" ? "usb" : "ps2"
        }
        // The i8042 controller always provides a PS/2 mouse and keyboard; libvirt lists them.
        for type in ["mouse", "keyboard"] where !d.devices.inputs.contains(where: { $0.type == type && $0.bus == "ps2" }) {
            d.devices.inputs.append(Input(type: type, bus: "ps2"))
        }
    }

    static func charDevices(_ d: inout Domain, x86: Bool) {
        var ports = Set(d.devices.serials.compactMap(\.targetPort))
        var p = 0
        for i in d.devices.serials.indices {
            if d.devices.serials[i].targetType == nil && x86 { d.devices.serials[i].targetType = "isa-serial" }
            if d.devices.serials[i].targetPort == nil {
                while ports.contains(p) { p += 1 }
                ports.insert(p)
                d.devices.serials[i].targetPort = p
            }
            if d.devices.serials[i].targetModel == nil && d.devices.serials[i].targetType == "isa-serial" {
                d.devices.serials[i].targetModel = "isa-serial"
            }
        }
        var pports = Set(d.devices.parallels.compactMap(\.targetPort))
        p = 0
        for i in d.devices.parallels.indices where d.devices.parallels[i].targetPort == nil {
            while pports.contains(p) { p += 1 }
            pports.insert(p)
            d.devices.parallels[i].targetPort = p
        }
        if x86, !d.devices.consoles.isEmpty, d.devices.consoles[0].targetType == nil {
            d.devices.consoles[0].targetType = "serial"
        }
        // libvirt keeps console 0 and serial 0 as two views of one device.
        if let console = d.devices.consoles.first, console.targetType == "serial" {
            if d.devices.serials.isEmpty {
                var serial = mirror(console)
                serial.targetType = x86 ? "isa-serial" : nil
                serial.targetPort = 0
                serial.targetModel = x86 ? "isa-serial" : nil
                d.devices.serials.append(serial)
            }
            if d.devices.consoles[0].targetPort == nil {
                d.devices.consoles[0].targetPort = d.devices.serials[0].targetPort ?? 0
            }
        } else if d.devices.consoles.isEmpty, let serial = d.devices.serials.first, x86 || serial.targetType != nil {
            var console = mirror(serial)
            console.targetType = "serial"
            console.targetPort = serial.targetPort ?? 0
            d.devices.consoles.append(console)
        }
        for i in d.devices.channels.indices where d.devices.channels[i].type == "spicevmc" {
            // The port name (com.redhat.spice.0) stays implicit, as in libvirt's XML; the argv builder supplies it.
            if d.devices.channels[i].targetType == nil { d.devices.channels[i].targetType = "virtio" }
        }
    }

    /// The host side of a character device, without its guest-side target.
    static func mirror(_ c: CharDevice) -> CharDevice {
        var m = CharDevice()
        m.type = c.type
        m.sourcePath = c.sourcePath
        m.sourceMode = c.sourceMode
        m.sourceHost = c.sourceHost
        m.sourceService = c.sourceService
        m.sourceExtra = c.sourceExtra
        m.protocolType = c.protocolType
        m.logFile = c.logFile
        m.logAppend = c.logAppend
        m.alias = c.alias
        return m
    }

    static func displays(_ d: inout Domain, x86: Bool) {
        for i in d.devices.graphics.indices where ["vnc", "spice"].contains(d.devices.graphics[i].type) {
            var g = d.devices.graphics[i]
            if g.autoport == nil { g.autoport = g.port == nil || g.port == -1 }
            if g.autoport == true && g.type == "vnc" && g.port == nil { g.port = -1 }
            d.devices.graphics[i] = g
        }
        if !d.devices.graphics.isEmpty && d.devices.videos.isEmpty {
            d.devices.videos.append(Video(model: "default"))
        }
        for i in d.devices.videos.indices {
            var v = d.devices.videos[i]
            // libvirt's QEMU default on x86 is still cirrus (qemuDomainDeviceVideoDefPostParse).
            if v.model == "default" { v.model = x86 ? "cirrus" : "virtio" }
            switch v.model {
            case "vga", "cirrus", "vmvga", "bochs":
                if v.vram == nil { v.vram = 16384 }
            case "qxl":
                if v.vram == nil { v.vram = 65536 }
                var model = v.extra.childExtras["model"] ?? Extra()
                for (name, value) in [("ram", "65536"), ("vgamem", "16384")] where !model.attributes.contains(where: { $0.name == name }) {
                    model.attributes.append(XMLAttribute(name, value))
                }
                v.extra.childExtras["model"] = model
            default: break
            }
            if v.heads == nil && v.model != "none" { v.heads = 1 }
            d.devices.videos[i] = v
        }
        if let first = d.devices.videos.indices.first, d.devices.videos[first].model != "none",
           !d.devices.videos.contains(where: { $0.primary == true }) {
            d.devices.videos[first].primary = true
        }
        // libvirt always gives QEMU an audio backend; "none" unless SPICE carries the sound.
        if x86 && d.devices.audios.isEmpty {
            let spice = d.devices.graphics.contains { $0.type == "spice" }
            d.devices.audios.append(Audio(id: 1, type: spice ? "spice" : "none"))
        }
    }

    static func macAddresses(_ d: inout Domain) {
        var used = Set(d.devices.interfaces.compactMap(\.mac))
        var rng = SystemRandomNumberGenerator()
        for i in d.devices.interfaces.indices where d.devices.interfaces[i].mac == nil {
            var mac: String
            repeat {
                let b = (0..<3).map { _ in UInt8.random(in: 0...255, using: &rng) }
                mac = "52:54:00:" + b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
            } while used.contains(mac)
            used.insert(mac)
            d.devices.interfaces[i].mac = mac
        }
    }

    // MARK: Controllers

    /// Inserts like libvirt: grouped with controllers of the same type, ordered by index.
    static func insert(_ c: Controller, into list: inout [Controller]) {
        var lastSameType: Int?
        for (i, x) in list.enumerated() where x.type == c.type {
            if x.index > c.index { list.insert(c, at: i); return }
            lastSameType = i
        }
        if let l = lastSameType { list.insert(c, at: l + 1) } else { list.append(c) }
    }

    static func controllers(_ d: inout Domain) {
        let q35 = d.isQ35
        var list = d.devices.controllers
        func has(_ type: String, _ index: Int) -> Bool { list.contains { $0.type == type && $0.index == index } }

        if !list.contains(where: { $0.type == "usb" }) {
            insert(Controller(type: "usb", index: 0, model: q35 ? "qemu-xhci" : "piix3-uhci"), into: &list)
        }
        for i in list.indices where list[i].type == "usb" && list[i].model == nil {
            list[i].model = q35 ? "qemu-xhci" : "piix3-uhci"
        }
        if q35 && !has("sata", 0) { insert(Controller(type: "sata", index: 0), into: &list) }
        for disk in d.devices.disks {
            guard let bus = disk.targetBus, ["ide", "sata", "scsi", "fdc"].contains(bus),
                  disk.address?.type == "drive", let idx = disk.address?["controller"].flatMap(parseInteger),
                  idx >= 0, idx < 64 else { continue }
            if !has(bus, idx) { insert(Controller(type: bus, index: idx), into: &list) }
        }
        for i in list.indices where list[i].type == "scsi" && list[i].model == nil { list[i].model = "virtio-scsi" }
        let needsVirtioSerial = d.devices.channels.contains { $0.targetType == "virtio" }
            || d.devices.consoles.contains { $0.targetType == "virtio" }
        if needsVirtioSerial && !list.contains(where: { $0.type == "virtio-serial" }) {
            insert(Controller(type: "virtio-serial", index: 0), into: &list)
        }
        if !has("pci", 0) { insert(Controller(type: "pci", index: 0, model: q35 ? "pcie-root" : "pci-root"), into: &list) }
        d.devices.controllers = list
    }

    /// Channels (and virtio consoles) get ports 1, 2, ... on virtio-serial controller 0.
    static func virtioSerialAddresses(_ d: inout Domain) {
        var used = Set<Int>()
        for c in d.devices.channels + d.devices.consoles where c.address?.type == "virtio-serial" {
            if let p = c.address?["port"].flatMap(parseInteger) { used.insert(p) }
        }
        var p = 1
        func next() -> DeviceAddress {
            while used.contains(p) { p += 1 }
            used.insert(p)
            return DeviceAddress(type: "virtio-serial", attributes: [
                XMLAttribute("controller", "0"), XMLAttribute("bus", "0"), XMLAttribute("port", String(p)),
            ])
        }
        for i in d.devices.channels.indices where d.devices.channels[i].targetType == "virtio" && d.devices.channels[i].address == nil {
            d.devices.channels[i].address = next()
        }
        for i in d.devices.consoles.indices where d.devices.consoles[i].targetType == "virtio" && d.devices.consoles[i].address == nil {
            d.devices.consoles[i].address = next()
        }
    }
}

/// Assigns PCI addresses in libvirt's order (qemuDomainAssignDevicePCISlots). On pc everything goes
/// on bus 0. On q35, PCI Express devices each get a pcie-root-port (as libvirt does, so that they
/// can be hot-unplugged) and one spare port is kept for hotplug; conventional PCI devices sit on
/// pcie.0 directly, where libvirt would add a pcie-to-pci-bridge.
enum PCIAllocator {
    static func assign(_ d: inout Domain) {
        let q35 = d.isQ35
        var used = Set<Int>()          // slot * 8 + function on bus 0
        var slotsTaken = Set<Int>()    // bus-0 slots holding a device
        var busesInUse = Set<Int>()
        for u in d.pciUsage() where u.address.domain == 0 {
            if u.address.bus == 0 {
                used.insert(u.address.slot * 8 + u.address.function)
                slotsTaken.insert(u.address.slot)
            } else {
                busesInUse.insert(u.address.bus)
            }
        }
        // Slot 0 is the host bridge. PIIX3 sits at 1 on pc; on q35 slot 1 is kept for the primary
        // video, 0x1b for ICH9 audio, 0x1d for ICH9 USB and 0x1f for the ICH9 LPC/SATA/SMBus functions.
        let reserved: Set<Int> = q35 ? [0, 1, 0x1b, 0x1d, 0x1f] : [0, 1]

        func take(_ slot: Int, _ function: Int, multifunction: Bool = false) -> DeviceAddress? {
            guard !used.contains(slot * 8 + function) else { return nil }
            used.insert(slot * 8 + function)
            slotsTaken.insert(slot)
            return PCIAddress(slot: slot, function: function, multifunction: multifunction).deviceAddress
        }
        func freeSlot() -> Int? { (1...31).first { !slotsTaken.contains($0) && !reserved.contains($0) } }
        func nextSlot() -> DeviceAddress? { freeSlot().flatMap { take($0, 0) } }
        /// A reserved slot for the device it is reserved for, or else the next free one.
        func preferred(_ slot: Int) -> DeviceAddress? { slotsTaken.contains(slot) ? nextSlot() : take(slot, 0) }

        // Root ports pack eight to a slot, function 0 marked multifunction.
        var portSlot: (slot: Int, function: Int)?
        func rootPortAddress() -> DeviceAddress? {
            if let p = portSlot, p.function < 8, let a = take(p.slot, p.function) {
                portSlot = (p.slot, p.function + 1)
                return a
            }
            guard let s = freeSlot() else { return nil }
            portSlot = (s, 1)
            return take(s, 0, multifunction: true)
        }
        var freePorts = d.devices.controllers
            .filter { $0.type == "pci" && $0.model == "pcie-root-port" && !busesInUse.contains($0.index) }
            .map(\.index).sorted()
        var nextIndex = (d.devices.controllers.filter { $0.type == "pci" }.map(\.index).max() ?? 0) + 1
        var newPorts: [Controller] = []
        func addRootPort() -> Int? {
            guard nextIndex <= 0xff, let address = rootPortAddress() else { return nil }
            var c = Controller(type: "pci", index: nextIndex, model: "pcie-root-port")
            c.address = address
            describeRootPort(&c)
            newPorts.append(c)
            nextIndex += 1
            return c.index
        }
        /// The next address for a device; PCI Express devices on q35 go behind a root port.
        func place(pcie: Bool) -> DeviceAddress? {
            guard q35 && pcie else { return nextSlot() }
            guard let bus = freePorts.isEmpty ? addRootPort() : freePorts.removeFirst() else { return nil }
            return PCIAddress(bus: bus, slot: 0).deviceAddress
        }

        // Fixed places first: the chipset's own functions and the primary video.
        for i in d.devices.controllers.indices where d.devices.controllers[i].address == nil {
            let c = d.devices.controllers[i]
            if !q35 && c.type == "ide" && c.index == 0 { d.devices.controllers[i].address = take(1, 1) }
            if !q35 && c.type == "usb" && c.index == 0 && c.model == "piix3-uhci" {
                d.devices.controllers[i].address = take(1, 2)
            }
            if q35 && c.type == "sata" && c.index == 0 { d.devices.controllers[i].address = take(0x1f, 2) }
        }
        if let v = d.devices.videos.firstIndex(where: { $0.primary == true }) ?? d.devices.videos.indices.first,
           d.devices.videos[v].address == nil, isPCI(d.devices.videos[v]) {
            d.devices.videos[v].address = preferred(q35 ? 1 : 2)
        }

        for i in d.devices.controllers.indices where d.devices.controllers[i].type == "pci" && d.devices.controllers[i].address == nil {
            guard isPCI(d.devices.controllers[i]) else { continue }
            let rootPort = q35 && d.devices.controllers[i].model == "pcie-root-port"
            d.devices.controllers[i].address = rootPort ? rootPortAddress() : nextSlot()
        }
        for i in d.devices.controllers.indices where d.devices.controllers[i].model == "pcie-root-port" {
            describeRootPort(&d.devices.controllers[i])
        }
        for i in d.devices.filesystems.indices where d.devices.filesystems[i].address == nil {
            d.devices.filesystems[i].address = place(pcie: true)
        }
        for i in d.devices.interfaces.indices where d.devices.interfaces[i].address == nil && isPCI(d.devices.interfaces[i]) {
            let model = d.devices.interfaces[i].model ?? ""
            d.devices.interfaces[i].address = place(pcie: model.hasPrefix("virtio") || ["e1000e", "igb"].contains(model))
        }
        for i in d.devices.sounds.indices where d.devices.sounds[i].address == nil && isPCI(d.devices.sounds[i]) {
            let model = d.devices.sounds[i].model
            d.devices.sounds[i].address = q35 && model == "ich9" ? preferred(0x1b) : place(pcie: model == "virtio")
        }
        // USB EHCI and its UHCI companions share one multifunction slot.
        let companionFunction = ["ich9-ehci1": 7, "ich9-uhci1": 0, "ich9-uhci2": 1, "ich9-uhci3": 2]
        var companionSlot: [Int: Int] = [:]
        for c in d.devices.controllers where c.type == "usb" {
            if let m = c.model, companionFunction[m] != nil, let p = PCIAddress(c.address) { companionSlot[c.index] = p.slot }
        }
        for i in d.devices.controllers.indices where d.devices.controllers[i].address == nil {
            let c = d.devices.controllers[i]
            guard c.type != "pci", isPCI(c) else { continue }
            if c.type == "usb", let m = c.model, let fn = companionFunction[m] {
                let slot: Int
                if let s = companionSlot[c.index] {
                    slot = s
                } else if q35 && c.index == 0 && !slotsTaken.contains(0x1d) {
                    slot = 0x1d
                } else {
                    guard let s = freeSlot() else { continue }
                    slot = s
                }
                companionSlot[c.index] = slot
                d.devices.controllers[i].address = take(slot, fn, multifunction: fn == 0)
            } else {
                let pcie = ["qemu-xhci", "nec-xhci", "virtio-scsi"].contains(c.model ?? "") || c.type == "virtio-serial"
                d.devices.controllers[i].address = place(pcie: pcie)
            }
        }
        for i in d.devices.disks.indices where d.devices.disks[i].address == nil && d.devices.disks[i].targetBus == "virtio" {
            d.devices.disks[i].address = place(pcie: true)
        }
        for i in d.devices.hostdevs.indices where d.devices.hostdevs[i].address == nil && d.devices.hostdevs[i].type == "pci" {
            d.devices.hostdevs[i].address = place(pcie: true)
        }
        if let m = d.devices.memballoon, m.address == nil, m.model.hasPrefix("virtio") {
            d.devices.memballoon?.address = place(pcie: true)
        }
        for i in d.devices.rngs.indices where d.devices.rngs[i].address == nil && d.devices.rngs[i].model.hasPrefix("virtio") {
            d.devices.rngs[i].address = place(pcie: true)
        }
        for i in d.devices.watchdogs.indices where d.devices.watchdogs[i].address == nil && d.devices.watchdogs[i].model == "i6300esb" {
            d.devices.watchdogs[i].address = nextSlot()
        }
        for i in d.devices.videos.indices where d.devices.videos[i].address == nil && isPCI(d.devices.videos[i]) {
            d.devices.videos[i].address = place(pcie: d.devices.videos[i].model == "virtio")
        }
        for i in d.devices.inputs.indices where d.devices.inputs[i].address == nil && d.devices.inputs[i].bus == "virtio" {
            d.devices.inputs[i].address = place(pcie: true)
        }
        if q35 && freePorts.isEmpty && !newPorts.isEmpty { _ = addRootPort() }
        for c in newPorts { DomainDefaults.insert(c, into: &d.devices.controllers) }
    }

    /// libvirt's `<model name='pcie-root-port'/><target chassis='N' port='0xSF'/>`, where the port
    /// number is the root port's own slot and function; added where missing.
    static func describeRootPort(_ c: inout Controller) {
        guard let p = PCIAddress(c.address), p.bus == 0 else { return }
        let names = c.extra.children.compactMap(\.elementName)
        if !names.contains("model") {
            c.extra.children.append(.element(name: "model", attributes: [XMLAttribute("name", "pcie-root-port")], children: []))
        }
        if !names.contains("target") {
            c.extra.children.append(.element(name: "target", attributes: [
                XMLAttribute("chassis", String(c.index)), XMLAttribute("port", "0x" + String(p.slot * 8 + p.function, radix: 16)),
            ], children: []))
        }
    }

    static func isPCI(_ c: Controller) -> Bool {
        switch c.type {
        case "pci": return c.index != 0 && !["pci-root", "pcie-root"].contains(c.model ?? "")
        case "usb": return !["none", "qusb1", "qusb2"].contains(c.model ?? "")
        case "scsi", "virtio-serial", "sata": return true
        default: return false   // ide 0 is PIIX3's own function; fdc, ccid, isa are not PCI
        }
    }

    static func isPCI(_ n: Interface) -> Bool {
        !["usb-net", "spapr-vlan"].contains(n.model ?? "")
    }

    static func isPCI(_ s: Sound) -> Bool { !["sb16", "pcspk", "usb"].contains(s.model) }

    static func isPCI(_ v: Video) -> Bool { !["none", "ramfb"].contains(v.model) }
}
