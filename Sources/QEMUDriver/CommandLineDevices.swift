import DomainXML
import HostNetworks

// Device sections of the argv builder: controllers, disks, network, character devices.

extension ArgvBuilder {
    typealias Props = [(key: String, value: ArgvJSON.Value)]

    // MARK: addresses

    /// bus/addr properties for a PCI device. A device without an address gets the lowest root-bus
    /// slot that no device of the domain claims: QEMU would otherwise take slots in creation order
    /// and collide with an explicitly addressed device created later.
    mutating func pciProps(_ address: DeviceAddress?, _ what: String) throws -> Props {
        guard let address else {
            let range = isQ35 ? 1...30 : 2...31    // host bridge at 0; PIIX3 at 1 (pc), ICH9 at 0x1f (q35)
            guard let slot = range.first(where: { !usedRootSlots.contains($0) }) else {
                throw DomainXMLError("\(what): no free slot left on the PCI root bus")
            }
            usedRootSlots.insert(slot)
            return [(key: "bus", value: .string(rootBus)), (key: "addr", value: .string("0x" + String(slot, radix: 16)))]
        }
        guard address.type == "pci" else {
            throw DomainXMLError("\(what): address type '\(address.type)' is not valid for a PCI device")
        }
        guard let slot = parseXMLInt(address["slot"]), (0...31).contains(slot) else {
            throw DomainXMLError("\(what): PCI address needs a slot between 0 and 0x1f")
        }
        let bus = parseXMLInt(address["bus"]) ?? 0
        let function = parseXMLInt(address["function"]) ?? 0
        guard (0...7).contains(function) else { throw DomainXMLError("\(what): PCI function must be 0 to 7") }
        if let domainNr = parseXMLInt(address["domain"]), domainNr != 0 {
            throw DomainXMLError("\(what): PCI domain \(domainNr) is not supported")
        }
        if bus != 0, !domain.devices.controllers.contains(where: { $0.type == "pci" && $0.index == bus }) {
            throw DomainXMLError("\(what): PCI bus \(bus) does not exist: add <controller type='pci' index='\(bus)'>")
        }
        var props: Props = [(key: "bus", value: .string(bus == 0 ? rootBus : "pci.\(bus)"))]
        if address["multifunction"] == "on" { props.append((key: "multifunction", value: true)) }
        let addr = "0x" + String(slot, radix: 16) + (function == 0 ? "" : ".0x" + String(function, radix: 16))
        props.append((key: "addr", value: .string(addr)))
        return props
    }

    /// The QEMU id of USB controller `index`: libvirt names the first "usb".
    func usbControllerID(_ index: Int) -> String { index == 0 ? "usb" : "usb\(index)" }

    /// bus/port properties for a USB device with a `<address type='usb' bus= port=/>`.
    func usbProps(_ address: DeviceAddress?, _ what: String) throws -> Props {
        guard let address else { return [] }
        guard address.type == "usb" else {
            throw DomainXMLError("\(what): address type '\(address.type)' is not valid for a USB device")
        }
        let bus = parseXMLInt(address["bus"]) ?? 0
        guard domain.devices.controllers.contains(where: { $0.index == bus && USBAllocator.rootPorts($0) > 0 }) else {
            throw DomainXMLError("\(what): USB bus \(bus) does not exist: add <controller type='usb' index='\(bus)'> with a model that has ports")
        }
        var props: Props = [(key: "bus", value: .string("\(usbControllerID(bus)).0"))]
        if let port = address["port"] {
            let parts = port.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count <= USBAllocator.maxDepth, parts.allSatisfy({ (Int($0) ?? 0) > 0 }) else {
                throw DomainXMLError("\(what): USB port '\(port)' must be numbers from 1 joined by dots, e.g. '2' or '1.3'")
            }
            props.append((key: "port", value: .string(port)))
        }
        return props
    }

    mutating func pciDevice(_ base: ArgvJSON, _ address: DeviceAddress?, _ what: String) throws -> ArgvJSON {
        var json = base
        json.add(contentsOf: try pciProps(address, what))
        return json
    }

    // MARK: controllers

    mutating func buildControllers() throws {
        let all = domain.devices.controllers
        for type in ["pci", "usb", "scsi", "ide", "sata", "fdc", "virtio-serial"] {
            for c in all where c.type == type { try buildController(c) }
        }
        for c in all where !["pci", "usb", "scsi", "ide", "sata", "fdc", "virtio-serial"].contains(c.type) {
            throw DomainXMLError("controller type '\(c.type)' (index \(c.index)) is not supported")
        }
        // libvirt adds this controller when a virtio channel/console needs it; do the same.
        let needsSerialBus = domain.devices.channels.contains { ($0.targetType ?? "virtio") == "virtio" }
            || domain.devices.consoles.contains { $0.targetType == "virtio" }
        if needsSerialBus, !all.contains(where: { $0.type == "virtio-serial" }) {
            try addDevice(try pciDevice(["driver": "virtio-serial-pci", "id": "virtio-serial0"], nil, "virtio-serial controller"), for: "virtio-serial controller")
        }
        // Hubs come right after the controllers: other USB devices may sit on their ports.
        for (i, address) in USBAllocator.hubAddresses(domain).enumerated() {
            var json: ArgvJSON = ["driver": "usb-hub", "id": .string("hub\(i)")]
            json.add(contentsOf: try usbProps(address, "hub \(i)"))
            try addDevice(json, for: "hub \(i)")
        }
    }

    mutating func buildController(_ c: Controller) throws {
        let what = "controller type='\(c.type)' index='\(c.index)'"
        switch c.type {
        case "pci":
            try buildPCIController(c, what)
        case "usb":
            try buildUSBController(c, what)
        case "scsi":
            let drivers = ["virtio-scsi": "virtio-scsi-pci", "lsilogic": "lsi", "lsisas1068": "mptsas1068", "lsisas1078": "megasas"]
            let model = c.model ?? "lsilogic"
            guard let driver = drivers[model] else { throw DomainXMLError("\(what): SCSI controller model '\(model)' is not supported") }
            try addDevice(try pciDevice(["driver": .string(driver), "id": .string("scsi\(c.index)")], c.address, what), for: what)
        case "sata":
            // q35 has its AHCI controller built in as "ide"; pc needs one added.
            if isQ35, c.index == 0 { return }
            try addDevice(try pciDevice(["driver": "ahci", "id": .string("sata\(c.index)")], c.address, what), for: what)
        case "ide":
            guard !isQ35, c.index == 0 else { throw DomainXMLError("\(what): only the built-in IDE controller of pc machines is supported") }
        case "fdc":
            break   // the ISA floppy controller is created with the floppy drives
        case "virtio-serial":
            try addDevice(try pciDevice(["driver": "virtio-serial-pci", "id": .string("virtio-serial\(c.index)")], c.address, what), for: what)
        default:
            throw DomainXMLError("\(what) is not supported")
        }
    }

    mutating func buildPCIController(_ c: Controller, _ what: String) throws {
        let target = elements(c.extra, "target").first ?? [:]
        let id: ArgvJSON.Value = .string("pci.\(c.index)")
        var json: ArgvJSON
        switch c.model {
        case "pci-root", "pcie-root":
            guard c.index == 0 else { throw DomainXMLError("\(what): the root bus must have index 0") }
            guard (c.model == "pcie-root") == isQ35 else {
                throw DomainXMLError("\(what): model '\(c.model ?? "")' does not match machine type '\(machine)'")
            }
            return
        case "pcie-root-port":
            json = ["driver": "pcie-root-port"]
            json.add("port", parseXMLInt(target["port"]))
            json.add("chassis", parseXMLInt(target["chassis"]))
            json.add("id", id)
        case "pci-bridge":
            json = ["driver": "pci-bridge"]
            json.add("chassis_nr", parseXMLInt(target["chassisNr"]) ?? c.index)
            json.add("id", id)
        case "pcie-to-pci-bridge":
            json = ["driver": "pcie-pci-bridge", "id": id]
        case "dmi-to-pci-bridge":
            json = ["driver": "i82801b11-bridge", "id": id]
        default:
            throw DomainXMLError("\(what): PCI controller model '\(c.model ?? "(none)")' is not supported")
        }
        json.add(contentsOf: try pciProps(c.address, what))
        try addDevice(json, for: what)
    }

    mutating func buildUSBController(_ c: Controller, _ what: String) throws {
        let model = c.model ?? (isQ35 ? "qemu-xhci" : "piix3-uhci")
        let drivers = ["piix3-uhci": "piix3-usb-uhci", "piix4-uhci": "piix4-usb-uhci", "ehci": "usb-ehci",
                       "ich9-ehci1": "ich9-usb-ehci1", "qemu-xhci": "qemu-xhci", "nec-xhci": "nec-usb-xhci",
                       "ich9-uhci1": "ich9-usb-uhci1", "ich9-uhci2": "ich9-usb-uhci2", "ich9-uhci3": "ich9-usb-uhci3"]
        if model == "none" { return }
        guard let driver = drivers[model] else { throw DomainXMLError("\(what): USB controller model '\(model)' is not supported") }
        if model.hasPrefix("ich9-uhci") {
            // A companion of the EHCI controller with the same index: it has no id of its own.
            let firstPort = parseXMLInt(elements(c.extra, "master").first?["startport"]) ?? 0
            let json: ArgvJSON = ["driver": .string(driver), "masterbus": .string("\(usbControllerID(c.index)).0"), "firstport": .int(firstPort)]
            try addDevice(try pciDevice(json, c.address, what), for: what)
            return
        }
        var json: ArgvJSON = ["driver": .string(driver)]
        if model == "qemu-xhci" || model == "nec-xhci", let ports = c.extra.attributes.first(where: { $0.name == "ports" })?.value {
            // libvirt splits the root ports evenly between the USB 2 and USB 3 halves.
            guard let n = parseXMLInt(ports), (1...15).contains(n) else {
                throw DomainXMLError("\(what): ports='\(ports)' must be a number from 1 to 15")
            }
            json.add("p2", n)
            json.add("p3", n)
        }
        json.add("id", usbControllerID(c.index))
        try addDevice(try pciDevice(json, c.address, what), for: what)
    }

    // MARK: disks

    /// Position of a disk name in its bus: vda → 0, sdb → 1, hdaa → 26 (libvirt's virDiskNameToIndex).
    static func diskIndex(_ dev: String) -> Int? {
        let prefixes = ["xvd", "vd", "sd", "hd", "fd", "ubd"]
        guard let prefix = prefixes.first(where: { dev.hasPrefix($0) }) else { return nil }
        let letters = dev.dropFirst(prefix.count)
        guard !letters.isEmpty, letters.count <= 4 else { return nil }
        var index = 0
        for ch in letters.unicodeScalars {
            guard ch.value >= 97, ch.value <= 122 else { return nil }
            index = index * 26 + Int(ch.value - 96)
        }
        return index - 1
    }

    mutating func buildDisks() throws {
        let disks = domain.devices.disks
        // libvirt numbers node names from the last disk backwards; empty drives get none.
        var nodeNumber = disks.filter { $0.sourcePath != nil }.count
        for (i, disk) in disks.enumerated() {
            let what = "disk '\(disk.targetDev)'"
            guard let index = Self.diskIndex(disk.targetDev) else {
                throw DomainXMLError("\(what): cannot understand target dev name; expected e.g. vda, sda, hdc, fda")
            }
            guard disk.type == "file" || disk.type == "block" else {
                throw DomainXMLError("\(what): disk type '\(disk.type)' is not supported yet: use file or block")
            }
            var node: String?
            if disk.sourcePath != nil {
                node = try buildBlockdevs(disk, number: nodeNumber, what)
                nodeNumber -= 1
            } else if disk.device != "cdrom" && disk.device != "floppy" {
                throw DomainXMLError("\(what): a \(disk.device) needs a <source>; only cdrom and floppy drives may be empty")
            }
            let bus = disk.targetBus ?? defaultBus(disk)
            if bus == "fdc" || disk.device == "floppy" {
                guard bus == "fdc", disk.device == "floppy" else { throw DomainXMLError("\(what): floppy drives need bus 'fdc'") }
                guard !isQ35 else { throw DomainXMLError("\(what): q35 machines have no floppy controller") }
                let unit = disk.address.flatMap { parseXMLInt($0["unit"]) } ?? index
                guard unit < 2 else { throw DomainXMLError("\(what): the floppy controller has only units 0 and 1") }
                // pc machines have the ISA floppy controller built in; drives plug into its bus.
                var json: ArgvJSON = ["driver": "floppy", "unit": .int(unit)]
                json.add("drive", node)
                json.add("id", "fdc0-0-\(unit)")
                json.add("bootindex", diskBoot[i])
                try addDevice(json, for: what)
                continue
            }
            try buildDiskDevice(disk, bus: bus, index: index, node: node, boot: diskBoot[i], what)
        }
    }

    func defaultBus(_ disk: Disk) -> String {
        switch disk.device {
        case "floppy": return "fdc"
        default:
            if disk.targetDev.hasPrefix("vd") { return "virtio" }
            if disk.targetDev.hasPrefix("sd") { return isQ35 ? "sata" : "scsi" }
            return isQ35 ? "sata" : "ide"
        }
    }

    /// `-blockdev` storage and format nodes; returns the format node name the device attaches to.
    mutating func buildBlockdevs(_ disk: Disk, number: Int, _ what: String) throws -> String {
        guard let path = disk.sourcePath else { throw DomainXMLError("\(what): no source") }
        let storageDriver: String
        switch disk.type {
        case "file": storageDriver = "file"
        case "block": storageDriver = disk.device == "cdrom" ? "host_cdrom" : "host_device"
        default: throw DomainXMLError("\(what): disk type '\(disk.type)' is not supported yet: use file or block")
        }
        let format = disk.driverType ?? "raw"
        guard ["raw", "qcow2", "qed", "vmdk", "vdi", "vpc", "vhdx", "luks", "dmg", "parallels", "bochs", "cloop"].contains(format) else {
            throw DomainXMLError("\(what): disk format '\(format)' is not supported")
        }
        if let name = disk.driverName, name != "qemu" {
            throw DomainXMLError("\(what): <driver name='\(name)'> is not supported: use qemu")
        }
        let cache = try cacheProps(disk.driverCache, what)
        let readonly = disk.readonly || disk.device == "cdrom"
        let storageName = "libvirt-\(number)-storage", formatName = "libvirt-\(number)-format"
        var storage: ArgvJSON = ["driver": .string(storageDriver), "filename": .string(path)]
        if let io = disk.driverExtra.first(where: { $0.name == "io" })?.value, io != "default" {
            guard ["native", "threads", "io_uring"].contains(io) else { throw DomainXMLError("\(what): <driver io='\(io)'> is not supported") }
            if io == "native", cache?.blockdev?["direct"] != .bool(true) {
                throw DomainXMLError("\(what): <driver io='native'> needs cache='none' or cache='directsync'")
            }
            storage.add("aio", .string(io))
        }
        storage.add("node-name", .string(storageName))
        storage.add("cache", cache?.blockdev.map(ArgvJSON.Value.object))
        storage.add("auto-read-only", true)
        storage.add("discard", "unmap")
        var fmt: ArgvJSON = ["node-name": .string(formatName), "read-only": .bool(readonly)]
        if disk.driverDiscard == "unmap" { fmt.add("discard", "unmap") }
        fmt.add("cache", cache?.blockdev.map(ArgvJSON.Value.object))
        fmt.add("driver", .string(format))
        fmt.add("file", .string(storageName))
        add("-blockdev", storage.text, "-blockdev", fmt.text)
        return formatName
    }

    /// Maps libvirt's cache modes to blockdev cache flags and the device's write-cache.
    func cacheProps(_ mode: String?, _ what: String) throws -> (blockdev: ArgvJSON?, writeCache: String?)? {
        guard let mode, mode != "default" else { return nil }
        let table: [String: (direct: Bool, noFlush: Bool, writeCache: Bool)] = [
            "none": (true, false, true), "writeback": (false, false, true), "writethrough": (false, false, false),
            "directsync": (true, false, false), "unsafe": (false, true, true),
        ]
        guard let m = table[mode] else { throw DomainXMLError("\(what): cache mode '\(mode)' is not supported") }
        return (["direct": .bool(m.direct), "no-flush": .bool(m.noFlush)], m.writeCache ? "on" : "off")
    }

    mutating func buildDiskDevice(_ disk: Disk, bus: String, index: Int, node: String?, boot: Int?, _ what: String) throws {
        let cdrom = disk.device == "cdrom"
        guard disk.device == "disk" || cdrom else { throw DomainXMLError("\(what): device '\(disk.device)' is not supported") }
        let drive = disk.address?.type == "drive" ? disk.address : nil
        func addr(_ key: String) -> Int? { drive.flatMap { parseXMLInt($0[key]) } }
        var json: ArgvJSON
        var id: String
        switch bus {
        case "virtio":
            guard !cdrom else { throw DomainXMLError("\(what): a cdrom cannot be on the virtio bus: use sata, ide or scsi") }
            id = "virtio-disk\(index)"
            json = try pciDevice(["driver": "virtio-blk-pci"], disk.address, what)
        case "ide":
            guard !isQ35 else { throw DomainXMLError("\(what): q35 machines have no IDE bus: use sata") }
            let ideBus = addr("bus") ?? index / 2, unit = addr("unit") ?? index % 2
            guard ideBus < 2, unit < 2 else { throw DomainXMLError("\(what): IDE has only buses 0-1 and units 0-1") }
            id = "ide0-\(ideBus)-\(unit)"
            json = ["driver": .string(cdrom ? "ide-cd" : "ide-hd"), "bus": .string("ide.\(ideBus)"), "unit": .int(unit)]
        case "sata":
            let controller = addr("controller") ?? index / 6, unit = addr("unit") ?? index % 6
            guard unit < 6 else { throw DomainXMLError("\(what): a SATA controller has units 0-5") }
            guard (isQ35 && controller == 0) || domain.devices.controllers.contains(where: { $0.type == "sata" && $0.index == controller }) else {
                throw DomainXMLError("\(what): no <controller type='sata' index='\(controller)'>")
            }
            id = "sata\(controller)-0-\(unit)"
            let busName = isQ35 && controller == 0 ? "ide.\(unit)" : "sata\(controller).\(unit)"
            json = ["driver": .string(cdrom ? "ide-cd" : "ide-hd"), "bus": .string(busName)]
        case "scsi":
            let controller = addr("controller") ?? 0, scsiBus = addr("bus") ?? 0, target = addr("target") ?? 0, unit = addr("unit") ?? index
            guard let ctl = domain.devices.controllers.first(where: { $0.type == "scsi" && $0.index == controller }) else {
                throw DomainXMLError("\(what): no <controller type='scsi' index='\(controller)'>")
            }
            id = "scsi\(controller)-\(scsiBus)-\(target)-\(unit)"
            json = ["driver": .string(cdrom ? "scsi-cd" : "scsi-hd"), "bus": .string("scsi\(controller).0")]
            if ctl.model == "virtio-scsi" {
                json.add("channel", scsiBus); json.add("scsi-id", target); json.add("lun", unit)
            } else {
                json.add("scsi-id", unit)
            }
            json.add("device_id", "drive-\(id)")
        case "usb":
            id = "usb-disk\(index)"
            json = ["driver": "usb-storage"]
            json.add(contentsOf: try usbProps(disk.address?.type == "usb" ? disk.address : nil, what))
        default:
            throw DomainXMLError("\(what): disk bus '\(bus)' is not supported: use virtio, sata, ide, scsi or usb")
        }
        json.add("drive", node)
        json.add("id", id)
        json.add("bootindex", boot)
        if bus == "usb" {
            // libvirt always states it; the guest sees a removable medium only when asked.
            let removable = disk.extra.childExtras["target"]?.attributes.first { $0.name == "removable" }?.value
            json.add("removable", removable == "on")
        }
        if disk.shareable { json.add("share-rw", true) }
        json.add("write-cache", try cacheProps(disk.driverCache, what)?.writeCache)
        json.add("serial", disk.serial)
        try addDevice(json, for: what)
    }

    // MARK: network

    mutating func buildInterfaces() throws {
        let drivers = ["virtio": "virtio-net-pci", "e1000": "e1000", "e1000e": "e1000e", "rtl8139": "rtl8139",
                       "ne2k_pci": "ne2k_pci", "pcnet": "pcnet", "vmxnet3": "vmxnet3"]
        for (i, net) in domain.devices.interfaces.enumerated() {
            let what = "interface \(i) (type='\(net.type)')"
            let id = "hostnet\(i)"
            var netdev: ArgvJSON
            switch (net.type, context.interfaceBackends[i]) {
            case ("user", _):
                netdev = try userNetdev(id: id, options: nil, net, what)
            case ("network", .user(let options)?):
                netdev = try userNetdev(id: id, options: options, net, what)
            case ("network", .tap(let tap)?), ("bridge", .tap(let tap)?):
                // The driver created the tap and enslaved it to the bridge; QEMU only opens it.
                netdev = ["type": "tap", "id": .string(id), "ifname": .string(tap),
                          "script": "no", "downscript": "no"]
            case ("network", _), ("bridge", _):
                throw DomainXMLError("\(what): the host side of this interface was not set up (network '\(net.sourceNetwork ?? net.sourceBridge ?? "?")')")
            default:
                throw DomainXMLError("\(what): interface type '\(net.type)' is not supported; use user, network or bridge")
            }
            let model = net.model ?? "rtl8139"   // QEMU's and libvirt's x86 default
            guard let driver = drivers[model] else { throw DomainXMLError("\(what): NIC model '\(model)' is not supported") }
            add("-netdev", netdev.text)
            var json: ArgvJSON = ["driver": .string(driver), "netdev": .string(id), "id": .string("net\(i)")]
            json.add("mac", net.mac)
            json.add(contentsOf: try pciProps(net.address, what))
            json.add("bootindex", netBoot[i])
            try addDevice(json, for: what)
        }
    }

    /// A user-mode (slirp) netdev: the network's addressing in session mode, and the interface's
    /// `<portForward>`s as hostfwd rules.
    func userNetdev(id: String, options: UserNetOptions?, _ net: Interface, _ what: String) throws -> ArgvJSON {
        var json: ArgvJSON = ["type": "user", "id": .string(id)]
        json.add("net", options?.net)
        json.add("host", options?.host)
        json.add("dhcpstart", options?.dhcpStart)
        json.add("dns", options?.dns)
        let forwards: [PortForward]
        do { forwards = try net.portForwards() } catch { throw DomainXMLError("\(what): \(error.message)") }
        if !forwards.isEmpty {
            json.add("hostfwd", .array(forwards.map { f in
                let host = f.address.map { $0.contains(":") ? "[\($0)]" : $0 } ?? ""
                return .object(["str": .string("\(f.proto):\(host):\(f.hostPort)-:\(f.guestPort)")])
            }))
        }
        return json
    }

    // MARK: character devices

    /// The -chardev backend for a libvirt character device, with a log file when given.
    func chardev(_ dev: CharDevice, id: String, logFile: String?, logAppend: Bool, _ what: String) throws -> String {
        let esc = QEMUCommandLine.optEscape
        var opts: String
        switch dev.type {
        case "pty": opts = "pty,id=\(id)"
        case "null": opts = "null,id=\(id)"
        case "vc": opts = "vc,id=\(id)"
        case "file":
            guard let path = dev.sourcePath else { throw DomainXMLError("\(what): type 'file' needs <source path=''>") }
            opts = "file,id=\(id),path=\(esc(path))"
        case "pipe":
            guard let path = dev.sourcePath else { throw DomainXMLError("\(what): type 'pipe' needs <source path=''>") }
            opts = "pipe,id=\(id),path=\(esc(path))"
        case "dev":
            guard let path = dev.sourcePath else { throw DomainXMLError("\(what): type 'dev' needs <source path=''>") }
            opts = "tty,id=\(id),path=\(esc(path))"
        case "unix":
            let path = dev.sourcePath ?? context.channelSocketPath(name: dev.targetName ?? id)
            opts = "socket,id=\(id),path=\(esc(path))"
            if dev.sourceMode != "connect" { opts += ",server=on,wait=off" }
        case "tcp":
            guard let host = dev.sourceHost, let port = dev.sourceService else {
                throw DomainXMLError("\(what): type 'tcp' needs <source host='' service=''>")
            }
            opts = "socket,id=\(id),host=\(esc(host)),port=\(esc(port))"
            if dev.protocolType == "telnet" { opts += ",telnet=on" }
            if dev.sourceMode == "bind" { opts += ",server=on,wait=off" }
        case "spicevmc":
            opts = "spicevmc,id=\(id),name=vdagent"
        case "stdio":
            throw DomainXMLError("\(what): type 'stdio' cannot work for a daemon-run guest: use pty")
        default:
            throw DomainXMLError("\(what): character device type '\(dev.type)' is not supported")
        }
        if let logFile {
            opts += ",logfile=\(esc(logFile)),logappend=\(logAppend ? "on" : "off")"
        }
        return opts
    }

    /// The XML's <log> if any, else Corral's default file; logs make boot output readable later.
    func logFor(_ dev: CharDevice, default path: String) -> (file: String, append: Bool) {
        if let file = dev.logFile { return (file, dev.logAppend != "off") }
        return (path, true)
    }

    mutating func buildSerials() throws {
        var serials = domain.devices.serials
        // libvirt copies a serial console into <serial> when there is none; do the same.
        if serials.isEmpty, let console = domain.devices.consoles.first, (console.targetType ?? "serial") == "serial" {
            serials = [console]
        }
        for (i, s) in serials.enumerated() {
            let what = "serial \(i)"
            let log = logFor(s, default: context.serialLogPath(domainName: name, index: i))
            add("-chardev", try chardev(s, id: "charserial\(i)", logFile: log.file, logAppend: log.append, what))
            var json: ArgvJSON
            switch s.targetType ?? "isa-serial" {
            case "isa-serial", "serial":
                json = ["driver": "isa-serial", "chardev": .string("charserial\(i)"), "id": .string("serial\(i)"), "index": .int(s.targetPort ?? i)]
            case "pci-serial":
                json = try pciDevice(["driver": "pci-serial", "chardev": .string("charserial\(i)"), "id": .string("serial\(i)")], s.address, what)
            case "usb-serial":
                json = ["driver": "usb-serial", "chardev": .string("charserial\(i)"), "id": .string("serial\(i)")]
                json.add(contentsOf: try usbProps(s.address, what))
            case let t:
                throw DomainXMLError("\(what): target type '\(t)' is not supported")
            }
            try addDevice(json, for: what)
        }
    }

    mutating func buildParallels() throws {
        for (i, p) in domain.devices.parallels.enumerated() {
            let what = "parallel \(i)"
            add("-chardev", try chardev(p, id: "charparallel\(i)", logFile: p.logFile, logAppend: p.logAppend != "off", what))
            try addDevice(["driver": "isa-parallel", "chardev": .string("charparallel\(i)"), "id": .string("parallel\(i)")], for: what)
        }
    }

    /// bus/nr of a port on a virtio-serial controller.
    func virtioSerialProps(_ address: DeviceAddress?, defaultPort: Int?, _ what: String) throws -> Props {
        if let address {
            guard address.type == "virtio-serial" else {
                throw DomainXMLError("\(what): address type '\(address.type)' is not valid for a virtio-serial port")
            }
            let controller = parseXMLInt(address["controller"]) ?? 0, bus = parseXMLInt(address["bus"]) ?? 0
            var props: Props = [(key: "bus", value: .string("virtio-serial\(controller).\(bus)"))]
            if let port = parseXMLInt(address["port"]) ?? defaultPort { props.append((key: "nr", value: .int(port))) }
            return props
        }
        var props: Props = [(key: "bus", value: "virtio-serial0.0")]
        if let defaultPort { props.append((key: "nr", value: .int(defaultPort))) }
        return props
    }

    mutating func buildChannels() throws {
        for (i, ch) in domain.devices.channels.enumerated() {
            let what = "channel \(i)" + (ch.targetName.map { " (\($0))" } ?? "")
            guard (ch.targetType ?? "virtio") == "virtio" else {
                throw DomainXMLError("\(what): channel target type '\(ch.targetType ?? "")' is not supported: use virtio")
            }
            add("-chardev", try chardev(ch, id: "charchannel\(i)", logFile: ch.logFile, logAppend: ch.logAppend != "off", what))
            var json: ArgvJSON = ["driver": "virtserialport"]
            // Port 0 of each virtio-serial bus is the console's, so channels count from 1.
            json.add(contentsOf: try virtioSerialProps(ch.address, defaultPort: i + 1, what))
            json.add("chardev", "charchannel\(i)")
            json.add("id", "channel\(i)")
            json.add("name", ch.targetName ?? (ch.type == "spicevmc" ? "com.redhat.spice.0" : nil))
            try addDevice(json, for: what)
        }
    }

    mutating func buildConsoles() throws {
        for (i, con) in domain.devices.consoles.enumerated() {
            let what = "console \(i)"
            switch con.targetType ?? "serial" {
            case "serial":
                guard i == 0 else { throw DomainXMLError("\(what): only the first console can be the serial port") }
                continue   // the serial device already built is this console
            case "virtio":
                let log = logFor(con, default: context.consoleLogPath(domainName: name, index: i))
                add("-chardev", try chardev(con, id: "charconsole\(i)", logFile: log.file, logAppend: log.append, what))
                var json: ArgvJSON = ["driver": "virtconsole"]
                json.add(contentsOf: try virtioSerialProps(con.address, defaultPort: nil, what))
                json.add("chardev", "charconsole\(i)")
                json.add("id", "console\(i)")
                try addDevice(json, for: what)
            case let t:
                throw DomainXMLError("\(what): console target type '\(t)' is not supported: use serial or virtio")
            }
        }
    }
}
