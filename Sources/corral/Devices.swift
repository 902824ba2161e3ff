import ArgumentParser
import DomainXML
import Foundation
import Hypervisor

// attach-device, detach-device, update-device, attach-disk, detach-disk, attach-interface,
// detach-interface, change-media (virsh-domain.c). Like virsh, the device XML of the
// attach-disk/-interface, detach-disk/-interface and change-media commands is built here,
// client side, and sent through the same three driver calls as a user's own XML file.

/// --live, --config, --current and (for most commands) --persistent, with virsh's rules.
struct DeviceImpact: ParsableArguments {
    @Flag(help: "Make live change persistent.") var persistent = false
    @Flag(help: "Affect next boot.") var config = false
    @Flag(help: "Affect running domain.") var live = false
    @Flag(help: "Affect current domain.") var current = false

    /// VSH_EXCLUSIVE_OPTIONS_VAR, worded as virsh (and reported without the usage prefix).
    func check() throws {
        for (a, b, name) in [(persistent, current, "--persistent and --current"), (current, live, "--current and --live"),
                             (current, config, "--current and --config")] where a && b {
            throw CommandFailure("Options \(name) are mutually exclusive")
        }
    }

    /// The modification flags; --persistent adds the live guest when the domain runs.
    @MainActor
    func flags(_ dom: DomainRef) -> DeviceModifyFlags {
        var flags: DeviceModifyFlags = .current
        if config || persistent { flags.insert(.config) }
        if live || (persistent && dom.id != -1) { flags.insert(.live) }
        return flags
    }
}

/// The definition virsh searches for the device to detach or change: the persistent one
/// when only the config is affected, else the live one.
@MainActor
func definitionFor(_ shell: Shell, _ dom: DomainRef, _ flags: DeviceModifyFlags) async throws -> Domain {
    try await domainDefinition(shell, dom, inactive: flags.contains(.config) && !flags.contains(.live))
}

// MARK: attach-device, detach-device, update-device

/// attach-device, detach-device and update-device differ only in the call and the words.
@MainActor private func changeDevice(_ shell: Shell, _ domain: DomainArgument, _ file: FileArgument, _ impact: DeviceImpact,
                          extraFlags: DeviceModifyFlags = [], verb: String, done: String,
                          _ call: (any HypervisorDriver, DomainRef, String, DeviceModifyFlags) async throws -> Void) async throws {
    try impact.check()
    let dom = try await shell.domain(domain.value)
    let xml = try readXMLFile(file.value)
    let flags = impact.flags(dom).union(extraFlags)
    try await attempt("Failed to \(verb) device from \(file.value)") {
        try await call(shell.connection(), dom, xml, flags)
    }
    shell.extra("Device \(done) successfully\n")
}

struct AttachDevice: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "attach-device", abstract: "attach device from an XML file")
    @OptionGroup var domain: DomainArgument
    @OptionGroup var file: FileArgument
    @OptionGroup var impact: DeviceImpact

    func execute(_ shell: Shell) async throws {
        try await changeDevice(shell, domain, file, impact, verb: "attach", done: "attached") {
            try await $0.attachDevice($1, xml: $2, flags: $3)
        }
    }
}

struct DetachDevice: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "detach-device", abstract: "detach device from an XML file")
    @OptionGroup var domain: DomainArgument
    @OptionGroup var file: FileArgument
    @OptionGroup var impact: DeviceImpact

    func execute(_ shell: Shell) async throws {
        try await changeDevice(shell, domain, file, impact, verb: "detach", done: "detached") {
            try await $0.detachDevice($1, xml: $2, flags: $3)
        }
    }
}

struct UpdateDevice: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "update-device", abstract: "update device from an XML file")
    @OptionGroup var domain: DomainArgument
    @OptionGroup var file: FileArgument
    @OptionGroup var impact: DeviceImpact
    @Flag(help: "Force device update.") var force = false

    func execute(_ shell: Shell) async throws {
        try await changeDevice(shell, domain, file, impact, extraFlags: force ? .force : [], verb: "update", done: "updated") {
            try await $0.updateDevice($1, xml: $2, flags: $3)
        }
    }
}

// MARK: Addresses (virshAddressParse / virshAddressFormat)

/// A device address as attach-disk --address and attach-interface hostdev sources write it:
/// pci:D.B.S.F (hex), ide|scsi|sata:C.B.U, ccw:C.S.D (hex), usb:B.P. Any one character separates
/// the fields, as in virsh.
enum ShortAddress {
    case pci(domain: UInt32, bus: UInt32, slot: UInt32, function: UInt32, multifunction: Bool)
    case drive(kind: String, controller: UInt32, bus: UInt32, unit: UInt64)
    case ccw(cssid: UInt32, ssid: UInt32, devno: UInt32)
    case usb(bus: UInt32, port: UInt32)

    init?(_ text: String, multifunction: Bool = false) {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let kind = String(text[..<colon])
        var rest = Substring(text[colon...])
        /// Skips one separator, then reads an unsigned number like strtoul (0x prefix allowed in hex).
        func field(_ radix: Int) -> UInt64? {
            guard !rest.isEmpty else { return nil }
            rest = rest.dropFirst()
            if radix == 16, rest.hasPrefix("0x") || rest.hasPrefix("0X") { rest = rest.dropFirst(2) }
            let digits = rest.prefix { $0.isHexDigit && (radix == 16 || $0.isNumber) }
            guard !digits.isEmpty, let v = UInt64(digits, radix: radix) else { return nil }
            rest = rest.dropFirst(digits.count)
            return v
        }
        func u32(_ radix: Int) -> UInt32? { field(radix).flatMap { UInt32(exactly: $0) } }
        switch kind {
        case "pci":
            guard let d = u32(16), let b = u32(16), let s = u32(16), let f = u32(16) else { return nil }
            self = .pci(domain: d, bus: b, slot: s, function: f, multifunction: multifunction)
        case "ide", "scsi", "sata":
            guard let c = u32(10), let b = u32(10), let u = field(10) else { return nil }
            self = .drive(kind: kind, controller: c, bus: b, unit: u)
        case "ccw":
            guard let c = u32(16), let s = u32(16), let d = u32(16) else { return nil }
            self = .ccw(cssid: c, ssid: s, devno: d)
        case "usb":
            guard let b = u32(10), let p = u32(10) else { return nil }
            self = .usb(bus: b, port: p)
        default: return nil
        }
    }

    var kind: String {
        switch self {
        case .pci: "pci"
        case .drive(let kind, _, _, _): kind
        case .ccw: "ccw"
        case .usb: "usb"
        }
    }

    var xml: String {
        func hex(_ v: UInt32, _ width: Int) -> String {
            let s = String(v, radix: 16)
            return "0x" + String(repeating: "0", count: max(0, width - s.count)) + s
        }
        switch self {
        case let .pci(d, b, s, f, multi):
            return "<address type='pci' domain='\(hex(d, 4))' bus='\(hex(b, 2))' slot='\(hex(s, 2))' function='\(hex(f, 1))'"
                + (multi ? " multifunction='on'" : "") + "/>\n"
        case let .drive(_, c, b, u):
            return "<address type='drive' controller='\(c)' bus='\(b)' unit='\(u)'/>\n"
        case let .ccw(c, s, d):
            return "<address type='ccw' cssid='\(hex(c, 2))' ssid='\(hex(s, 1))' devno='\(hex(d, 4))'/>\n"
        case let .usb(b, p):
            return "<address type='usb' bus='\(b)' port='\(p)'/>\n"
        }
    }
}

/// Indents every line of `xml` by two spaces (the child lines of a device element).
private func indented(_ xml: String) -> String {
    xml.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  " + $0 }.joined(separator: "\n")
}

// MARK: attach-disk, detach-disk

struct AttachDisk: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "attach-disk", abstract: "attach disk device")
    @OptionGroup var domain: DomainArgument
    @Argument(help: "Source of disk device.") var source: String?
    @Argument(help: "Target of disk device.") var target: String?
    @Option(name: .customLong("source"), help: .hidden) var sourceOption: String?
    @Option(name: .customLong("target"), help: .hidden) var targetOption: String?
    @Option(help: "Target bus of disk device.") var targetbus: String?
    @Option(help: "Driver of disk device.") var driver: String?
    @Option(help: "Subdriver of disk device.") var subdriver: String?
    @Option(help: "IOThread to be used by supported device.") var iothread: String?
    @Option(help: "Cache mode of disk device.") var cache: String?
    @Option(help: "IO policy of disk device.") var io: String?
    @Option(help: "Target device type (disk, cdrom, floppy, lun).") var type: String?
    @Option(help: "Mode of device reading and writing (readonly, shareable).") var mode: String?
    @Flag(help: "Same as --mode shareable.") var shareable = false
    @Option(help: "Type of source (block|file).") var sourcetype: String?
    @Option(help: "Serial of disk device.") var serial: String?
    @Option(help: "WWN of disk device.") var wwn: String?
    @Option(help: "Custom alias name of disk device.") var alias: String?
    @Flag(help: "Needs rawio capability.") var rawio = false
    @Option(help: "Address of disk device (pci:D.B.S.F, scsi|ide|sata:C.B.U, usb:B.P, ccw:C.S.D).") var address: String?
    @Flag(help: "Use multifunction pci under specified address.") var multifunction = false
    @Flag(name: .customLong("print-xml"), help: "Print XML document rather than attach the disk.") var printXML = false
    @OptionGroup var impact: DeviceImpact

    func validate() throws {
        if (source ?? sourceOption) == nil { throw ValidationError("missing <source> argument") }
        if (target ?? targetOption) == nil { throw ValidationError("missing <target> argument") }
    }

    /// The <disk> element, built as cmdAttachDisk builds it.
    func diskXML() throws -> String {
        let source = sourceOption ?? self.source ?? ""
        let target = targetOption ?? self.target ?? ""
        let mode = shareable ? "shareable" : mode
        if let mode, mode != "readonly" && mode != "shareable" {
            throw CommandFailure("No support for \(mode) in command 'attach-disk'")
        }
        let sourceType: String
        switch sourcetype {
        case nil, "":
            // A block device is attached as one unless the (Xen) driver says file or tap.
            var st = stat()
            let isBlock = driver != "file" && driver != "tap" && stat(source, &st) == 0 && (st.st_mode & S_IFMT) == S_IFBLK
            sourceType = isBlock ? "block" : "file"
        case "file", "block": sourceType = sourcetype ?? "file"
        case "network": throw CommandFailure("--sourcetype network (--source-protocol) is not supported by corral's attach-disk")
        case let other?: throw CommandFailure("Unknown source type: '\(other)'")
        }
        if let wwn, !(wwn.count == 16 && wwn.allSatisfy(\.isHexDigit)) {
            throw CommandFailure("internal error: Malformed wwn: \(wwn)")   // virValidateWWN's wording
        }
        var addressXML = ""
        if let address {
            guard let addr = ShortAddress(address, multifunction: multifunction) else { throw CommandFailure("Invalid address.") }
            if target.hasPrefix("vd"), !["pci", "ccw"].contains(addr.kind) {
                throw CommandFailure("expecting a pci:0000.00.00.00 or ccw:00.0.0000 address.")
            } else if target.hasPrefix("sd"), !["scsi", "usb", "sata"].contains(addr.kind) {
                throw CommandFailure("expecting a scsi:00.00.00 or usb:00.00 or sata:00.00.00 address.")
            } else if target.hasPrefix("hd"), addr.kind != "ide" {
                throw CommandFailure("expecting an ide:00.00.00 address.")
            }
            addressXML = addr.xml
        }

        var xml = "<disk type='\(sourceType)'"
        if let type { xml += " device='\(xmlEscape(type))'" }
        if rawio { xml += " rawio='yes'" }
        xml += ">\n"
        var children = ""
        let driverAttrs = [("name", driver), ("type", subdriver), ("iothread", iothread), ("cache", cache), ("io", io)]
            .compactMap { name, value in value.map { " \(name)='\(xmlEscape($0))'" } }.joined()
        if !driverAttrs.isEmpty { children += "<driver\(driverAttrs)/>\n" }
        children += "<source \(sourceType == "block" ? "dev" : "file")='\(xmlEscape(source))'/>\n"
        children += "<target dev='\(xmlEscape(target))'" + (targetbus.map { " bus='\(xmlEscape($0))'" } ?? "") + "/>\n"
        if let mode { children += "<\(mode)/>\n" }
        if let serial { children += "<serial>\(xmlEscape(serial))</serial>\n" }
        if let alias { children += "<alias name='\(xmlEscape(alias))'/>\n" }
        if let wwn { children += "<wwn>\(wwn)</wwn>\n" }
        children += addressXML
        return xml + indented(children) + "</disk>\n"
    }

    func execute(_ shell: Shell) async throws {
        try impact.check()
        let xml = try diskXML()
        if printXML {
            shell.print(xml)
            return
        }
        let dom = try await shell.domain(domain.value)
        try await attempt("Failed to attach disk") {
            try await shell.connection().attachDevice(dom, xml: xml, flags: impact.flags(dom))
        }
        shell.extra("Disk attached successfully\n")
    }
}

/// virshFindDisk: the first disk whose target or source path is `path`; `changeable` limits
/// the search to CD-ROM and floppy drives (change-media).
func findDisk(_ def: Domain, _ path: String, changeable: Bool) throws -> Int {
    let index = def.devices.disks.firstIndex { disk in
        (!changeable || disk.device == "cdrom" || disk.device == "floppy")
            && (disk.targetDev == path || (disk.sourcePath != nil && disk.sourcePath == path))
    }
    guard let index else { throw CommandFailure("No disk found whose source path or target is \(path)") }
    return index
}

struct DetachDisk: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "detach-disk", abstract: "detach disk device")
    @OptionGroup var domain: DomainArgument
    @Argument(help: "Target of disk device (or its source path).") var target: String?
    @Option(name: .customLong("target"), help: .hidden) var targetOption: String?
    @OptionGroup var impact: DeviceImpact
    @Flag(name: .customLong("print-xml"), help: "Print XML document rather than detach the disk.") var printXML = false

    func validate() throws { if (target ?? targetOption) == nil { throw ValidationError("missing <target> argument") } }

    func execute(_ shell: Shell) async throws {
        try impact.check()
        let dom = try await shell.domain(domain.value)
        let flags = impact.flags(dom)
        let def = try await definitionFor(shell, dom, flags)
        let disk = def.devices.disks[try findDisk(def, targetOption ?? target ?? "", changeable: false)]
        let xml = DomainDevice.disk(disk).formatXML()
        if printXML {
            shell.print(xml)
            return
        }
        try await attempt("Failed to detach disk") { try await shell.connection().detachDevice(dom, xml: xml, flags: flags) }
        shell.extra("Disk detached successfully\n")
    }
}

// MARK: attach-interface, detach-interface

struct AttachInterface: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "attach-interface", abstract: "attach network interface")
    @OptionGroup var domain: DomainArgument
    @Argument(help: "Network interface type (network, bridge, direct, hostdev, vhostuser).") var type: String?
    @Argument(help: "Source of network interface.") var source: String?
    @Option(name: .customLong("type"), help: .hidden) var typeOption: String?
    @Option(name: .customLong("source"), help: .hidden) var sourceOption: String?
    @Option(help: "Target network name.") var target: String?
    @Option(help: "MAC address.") var mac: String?
    @Option(help: "Script used to bridge network interface.") var script: String?
    @Option(help: "Model type.") var model: String?
    @Option(help: "Custom alias name of interface device.") var alias: String?
    @Flag(help: "Let the host detach/attach the (hostdev) device automatically.") var managed = false
    @Option(name: .customLong("source-mode"), help: "Mode attribute of <source/> element (server, client).") var sourceMode: String?
    @Flag(name: .customLong("print-xml"), help: "Print XML document rather than attach the interface.") var printXML = false
    @OptionGroup var impact: DeviceImpact

    /// virDomainNetType names: known types that attach-interface cannot build are refused by name.
    static let knownTypes: Set<String> = ["user", "ethernet", "vhostuser", "server", "client", "mcast", "network",
                                          "bridge", "internal", "direct", "hostdev", "udp", "vdpa", "null", "vds"]

    func validate() throws {
        if (type ?? typeOption) == nil { throw ValidationError("missing <type> argument") }
        if (source ?? sourceOption) == nil { throw ValidationError("missing <source> argument") }
    }

    func interfaceXML() throws -> String {
        let type = typeOption ?? self.type ?? ""
        let source = sourceOption ?? self.source ?? ""
        let unsupported = CommandFailure("No support for \(type) in command 'attach-interface'")
        guard Self.knownTypes.contains(type) else { throw unsupported }
        if let sourceMode, sourceMode != "server" && sourceMode != "client" {
            throw CommandFailure("Invalid source mode: \(sourceMode)")
        }
        var children: String
        switch type {
        case "network", "bridge": children = "<source \(type)='\(xmlEscape(source))'/>\n"
        case "direct": children = "<source dev='\(xmlEscape(source))'/>\n"
        case "hostdev":
            guard let addr = ShortAddress("pci:" + source) else {
                throw CommandFailure("cannot parse pci address '\(source)' for network interface")
            }
            children = "<source>\n" + indented(addr.xml) + "</source>\n"
        case "vhostuser":
            guard let sourceMode else { throw CommandFailure("source-mode is mandatory") }
            children = "<source type='unix' path='\(xmlEscape(source))' mode='\(sourceMode)'/>\n"
        default: throw unsupported
        }
        if let target { children += "<target dev='\(xmlEscape(target))'/>\n" }
        if let mac { children += "<mac address='\(xmlEscape(mac))'/>\n" }
        if let script { children += "<script path='\(xmlEscape(script))'/>\n" }
        if let model { children += "<model type='\(xmlEscape(model))'/>\n" }
        if let alias { children += "<alias name='\(xmlEscape(alias))'/>\n" }
        return "<interface type='\(type)'" + (managed ? " managed='yes'" : "") + ">\n" + indented(children) + "</interface>\n"
    }

    func execute(_ shell: Shell) async throws {
        try impact.check()
        let xml = try interfaceXML()
        if printXML {
            shell.print(xml)
            return
        }
        let dom = try await shell.domain(domain.value)
        try await attempt("Failed to attach interface") {
            try await shell.connection().attachDevice(dom, xml: xml, flags: impact.flags(dom))
        }
        shell.extra("Interface attached successfully\n")
    }
}

/// A MAC address as six octets, so that 52:54:00:0:0:1 and 52:54:00:00:00:01 compare equal (virMacAddrCompare).
func macOctets(_ s: String) -> [UInt8]? {
    let parts = s.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 6 else { return nil }
    var out: [UInt8] = []
    for p in parts {
        guard (1...2).contains(p.count), let v = UInt8(p, radix: 16) else { return nil }
        out.append(v)
    }
    return out
}

struct DetachInterface: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "detach-interface", abstract: "detach network interface")
    @OptionGroup var domain: DomainArgument
    @Argument(help: "Network interface type.") var type: String?
    @Option(name: .customLong("type"), help: .hidden) var typeOption: String?
    @Option(help: "MAC address.") var mac: String?
    @OptionGroup var impact: DeviceImpact
    @Flag(name: .customLong("print-xml"), help: "Print XML document rather than detach the interface.") var printXML = false

    func validate() throws { if (type ?? typeOption) == nil { throw ValidationError("missing <type> argument") } }

    /// virshDomainDetachInterface's choice: the one interface of that type, or the one with that MAC.
    func find(_ def: Domain, type: String) throws -> Interface {
        let ofType = def.devices.interfaces.filter { $0.type == type }
        if ofType.isEmpty { throw CommandFailure("No interface found whose type is \(type)") }
        guard let mac else {
            if ofType.count > 1 {
                throw CommandFailure("Domain has \(ofType.count) interfaces. Please specify which one to detach using --mac")
            }
            return ofType[0]
        }
        let wanted = macOctets(mac)
        guard let wanted, let nic = ofType.first(where: { $0.mac.flatMap(macOctets) == wanted }) else {
            throw CommandFailure("No interface with MAC address \(mac) was found")
        }
        return nic
    }

    func execute(_ shell: Shell) async throws {
        try impact.check()
        let type = typeOption ?? self.type ?? ""
        let dom = try await shell.domain(domain.value)
        let flags = impact.flags(dom)
        // The persistent and the live definitions may differ: each change looks in its own.
        var changes: [(DeviceModifyFlags, Bool)] = []
        if flags.contains(.config) { changes.append((.config, true)) }
        if flags.contains(.live) || !flags.contains(.config) { changes.append((flags.subtracting(.config), false)) }
        for (changeFlags, inactive) in changes {
            let def = try await domainDefinition(shell, dom, inactive: inactive)
            let nic: Interface
            do { nic = try find(def, type: type) } catch let failure as CommandFailure {
                throw printXML ? failure : CommandFailure(messages: failure.messages + ["Failed to detach interface"])
            }
            let xml = DomainDevice.interface(nic).formatXML()
            if printXML {
                shell.print(xml)
                continue
            }
            try await attempt("Failed to detach interface") {
                try await shell.connection().detachDevice(dom, xml: xml, flags: changeFlags)
            }
        }
        if !printXML { shell.extra("Interface detached successfully\n") }
    }
}

// MARK: change-media

struct ChangeMedia: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "change-media", abstract: "Change media of CD or floppy drive")
    @OptionGroup var domain: DomainArgument
    @Argument(help: "Fully-qualified path or target of disk device.") var path: String?
    @Argument(help: "Source of the media.") var source: String?
    @Option(name: .customLong("path"), help: .hidden) var pathOption: String?
    @Option(name: .customLong("source"), help: .hidden) var sourceOption: String?
    @Flag(help: "Eject the media.") var eject = false
    @Flag(help: "Insert the media.") var insert = false
    @Flag(help: "Update the media.") var update = false
    @Flag(help: "Alter live configuration of running domain.") var live = false
    @Flag(help: "Alter persistent configuration, effect observed on next boot.") var config = false
    @Flag(help: "Alter current domain configuration.") var current = false
    @Flag(help: "Force media changing.") var force = false
    @Flag(name: .customLong("print-xml"), help: "Print XML document rather than change media.") var printXML = false
    @Flag(help: "Source media is a block device.") var block = false

    func validate() throws { if (path ?? pathOption) == nil { throw ValidationError("missing <path> argument") } }

    enum Action: String { case eject, insert, update }

    /// virshUpdateDiskXML: the disk with its <source> removed (eject) or replaced (insert/update).
    static func changed(_ disk: Disk, _ action: Action, source: String?, block: Bool) throws -> Disk {
        let target = disk.targetDev
        let hasMedia = disk.sourcePath != nil || !disk.sourceExtra.isEmpty
        var d = disk
        switch action {
        case .eject:
            guard hasMedia else { throw CommandFailure("The disk device '\(target)' doesn't have media") }
        case .insert:
            guard let source, !source.isEmpty else { throw CommandFailure("New disk media source was not specified") }
            if hasMedia { throw CommandFailure("The disk device '\(target)' already has media") }
        case .update:
            if !hasMedia && (source ?? "").isEmpty { throw CommandFailure("The disk device '\(target)' doesn't have media") }
        }
        d.sourcePath = nil
        d.sourceExtra = Extra()
        if action != .eject, let source, !source.isEmpty {
            d.type = block ? "block" : "file"
            d.sourcePath = source
        }
        return d
    }

    func execute(_ shell: Shell) async throws {
        for (a, b, name) in [(eject, insert, "--eject and --insert"), (eject, update, "--eject and --update"),
                             (insert, update, "--insert and --update"), (current, live, "--current and --live"),
                             (current, config, "--current and --config")] where a && b {
            throw CommandFailure("Options \(name) are mutually exclusive")
        }
        let action: Action = eject ? .eject : insert ? .insert : .update
        var flags: DeviceModifyFlags = .current
        if config { flags.insert(.config) }
        if live { flags.insert(.live) }
        if force { flags.insert(.force) }

        let dom = try await shell.domain(domain.value)
        let def = try await definitionFor(shell, dom, flags)
        let disk = def.devices.disks[try findDisk(def, pathOption ?? path ?? "", changeable: true)]
        let newSource = sourceOption ?? source
        let xml = DomainDevice.disk(try Self.changed(disk, action, source: newSource, block: block)).formatXML()
        if printXML {
            // virsh prints the element without a final newline
            shell.print(xml.hasSuffix("\n") ? String(xml.dropLast()) : xml)
            return
        }
        try await attempt("Failed to complete action \(action.rawValue) on media") {
            try await shell.connection().updateDevice(dom, xml: xml, flags: flags)
        }
        switch action {
        case .eject: shell.extra("Successfully ejected media.\n")
        case .insert: shell.extra("Successfully inserted media.\n")
        case .update: shell.extra("Successfully updated media.\n")
        }
    }
}

// MARK: domifaddr

struct DomIfAddr: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "domifaddr", abstract: "Get network interfaces' addresses for a running domain")
    @OptionGroup var domain: DomainArgument
    @Option(help: "Network interface name.") var interface: String?
    @Flag(help: "Always display names and MACs of interfaces.") var full = false
    @Option(help: "Address source: 'lease', 'agent', or 'arp'.") var source: String?
    @Flag(help: "Machine-readable output (JSON).") var json = false

    /// printf's "%-Ns": pads to N bytes.
    static func pad(_ s: String, _ n: Int) -> String {
        s + String(repeating: " ", count: max(0, n - s.utf8.count))
    }

    func execute(_ shell: Shell) async throws {
        var src = InterfaceAddressSource.lease
        if let source {
            switch source {
            case "lease": src = .lease
            case "agent": src = .agent
            case "arp": src = .arp
            default: throw CommandFailure("Unknown data source '\(source)'")
            }
        }
        let dom = try await shell.domain(domain.value)
        let ifaces = try await attempt("Failed to query for interfaces addresses") {
            try await shell.connection().interfaceAddresses(dom, source: src, flags: 0)
        }.filter { interface == nil || $0.name == interface }
        func proto(_ t: IPAddrType) -> String { t == .ipv4 ? "ipv4" : "ipv6" }
        if json {
            shell.print(JSONOutput.encode(ifaces.map { i -> [String: Any] in
                ["name": i.name, "hwaddr": i.hwaddr.map { $0 as Any } ?? NSNull(),
                 "addrs": i.addrs.map { ["type": proto($0.type), "addr": $0.addr, "prefix": Int($0.prefix)] as [String: Any] }]
            }))
            return
        }
        shell.extra(" " + Self.pad("Name", 10) + " " + Self.pad("MAC address", 20) + " " + Self.pad("Protocol", 8) + "     Address\n"
                    + String(repeating: "-", count: 79) + "\n")
        var out = ""
        for i in ifaces {
            if i.addrs.isEmpty {
                out += " \(Self.pad(i.name, 10)) \(Self.pad(i.hwaddr ?? "N/A", 17))    \(Self.pad("N/A", 12)) N/A\n"
                continue
            }
            for (j, a) in i.addrs.enumerated() {
                let addr = Self.pad(proto(a.type), 12) + " \(a.addr)/\(a.prefix)"
                let first = full || j == 0
                out += " \(Self.pad(first ? i.name : "-", 10)) \(Self.pad(first ? i.hwaddr ?? "" : "-", 17))    \(addr)\n"
            }
        }
        shell.print(out)
    }
}
