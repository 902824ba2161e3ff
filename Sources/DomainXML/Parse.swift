import Foundation

// Maps the generic element tree onto the typed model, validating as libvirt does on define.
// Whatever a reader does not consume ends up in the nearest `Extra`, so nothing is lost.

/// An element being consumed: tracks which attributes and children were used.
final class ElementReader {
    let name: String
    private let attrs: [XMLAttribute]
    private var attrUsed: [Bool]
    private let kids: [XMLNode]
    private var kidUsed: [Bool]
    /// Leftovers of consumed sub-elements that have no model field of their own.
    private var subExtras: [String: Extra] = [:]

    init?(_ node: XMLNode) {
        guard case .element(let name, let attributes, let children) = node else { return nil }
        self.name = name
        attrs = attributes
        attrUsed = Array(repeating: false, count: attributes.count)
        kids = children
        kidUsed = Array(repeating: false, count: children.count)
    }

    func has(_ attribute: String) -> Bool { attrs.contains { $0.name == attribute } }

    /// The attribute's value, marking it consumed.
    func attr(_ attribute: String) -> String? {
        guard let i = attrs.firstIndex(where: { $0.name == attribute }) else { return nil }
        attrUsed[i] = true
        return attrs[i].value
    }

    func required(_ attribute: String) throws(DomainXMLError) -> String {
        guard let v = attr(attribute) else {
            throw DomainXMLError("XML error: missing attribute '\(attribute)' in <\(name)>")
        }
        return v
    }

    func int(_ attribute: String) throws(DomainXMLError) -> Int? {
        guard let v = attr(attribute) else { return nil }
        guard let n = parseInteger(v) else {
            throw DomainXMLError("XML error: invalid value '\(v)' for attribute '\(attribute)' of <\(name)>: expected an integer")
        }
        return n
    }

    func yesNo(_ attribute: String) throws(DomainXMLError) -> Bool? {
        guard let v = attr(attribute) else { return nil }
        switch v {
        case "yes": return true
        case "no": return false
        default:
            throw DomainXMLError("XML error: invalid value '\(v)' for attribute '\(attribute)' of <\(name)>: expected 'yes' or 'no'")
        }
    }

    /// Checks an enumerated attribute against libvirt's accepted values.
    func oneOf(_ attribute: String, _ allowed: [String], what: String) throws(DomainXMLError) -> String? {
        guard let v = attr(attribute) else { return nil }
        guard allowed.contains(v) else { throw DomainXMLError("unsupported configuration: unknown \(what) '\(v)'") }
        return v
    }

    /// The first unconsumed child element called `childName` that satisfies `condition`, marking it consumed.
    func child(_ childName: String, where condition: (ElementReader) -> Bool = { _ in true }) -> ElementReader? {
        for (i, k) in kids.enumerated() where !kidUsed[i] {
            if case .element(let n, _, _) = k, n == childName, let r = ElementReader(k), condition(r) {
                kidUsed[i] = true
                return r
            }
        }
        return nil
    }

    /// All unconsumed children called `childName` (that satisfy `condition`), in one pass.
    func children(_ childName: String, where condition: (ElementReader) -> Bool = { _ in true }) -> [ElementReader] {
        var out: [ElementReader] = []
        for (i, k) in kids.enumerated() where !kidUsed[i] {
            if case .element(let n, _, _) = k, n == childName, let r = ElementReader(k), condition(r) {
                kidUsed[i] = true
                out.append(r)
            }
        }
        return out
    }

    /// All unconsumed children called `childName`, kept as raw nodes.
    func rawChildren(_ childName: String) -> [XMLNode] {
        var out: [XMLNode] = []
        for (i, k) in kids.enumerated() where !kidUsed[i] {
            if case .element(let n, _, _) = k, n == childName { kidUsed[i] = true; out.append(k) }
        }
        return out
    }

    /// The concatenated text content, marking text nodes consumed.
    var text: String {
        var s = ""
        for (i, k) in kids.enumerated() {
            if case .text(let t) = k { kidUsed[i] = true; s += t }
        }
        return s
    }

    /// Stores what a consumed sub-element left over, for the formatter to write back.
    func keep(_ sub: ElementReader, as key: String? = nil) {
        let rest = sub.leftover()
        if !rest.isEmpty { subExtras[key ?? sub.name] = rest }
    }

    /// Stores leftovers the caller has already split off.
    func keep(_ extra: Extra, as key: String) {
        if !extra.isEmpty { subExtras[key] = extra }
    }

    /// For sub-elements whose unknown attributes the model holds in a field of its own: keeps
    /// `sub`'s other leftovers (children, comments) and returns its unknown attributes.
    func keepChildren(of sub: ElementReader) -> [XMLAttribute] {
        var rest = sub.leftover()
        let attributes = rest.attributes
        rest.attributes = []
        keep(rest, as: sub.name)
        return attributes
    }

    /// True when the element has only attributes from `allowed` and no children: the shape the model holds.
    func isPlain(_ allowed: Set<String>) -> Bool {
        kids.isEmpty && attrs.allSatisfy { allowed.contains($0.name) }
    }

    func peek(_ attribute: String) -> String? { attrs.first { $0.name == attribute }?.value }

    /// Everything not consumed, in document order.
    func leftover() -> Extra {
        var e = Extra()
        for (i, a) in attrs.enumerated() where !attrUsed[i] { e.attributes.append(a) }
        // Comments right before a consumed element remember its name (one backward pass).
        var anchors: [Int: String] = [:]
        var nextElement: Int?
        for i in kids.indices.reversed() {
            if case .comment = kids[i], let j = nextElement, kidUsed[j] { anchors[i] = kids[j].elementName }
            if kids[i].elementName != nil { nextElement = i }
        }
        for (i, k) in kids.enumerated() where !kidUsed[i] {
            if let name = anchors[i] { e.commentAnchors[e.children.count] = name }
            e.children.append(k)
        }
        e.childExtras = subExtras
        return e
    }
}

/// Integers as libvirt accepts them in attributes: decimal, or hex with 0x.
func parseInteger(_ s: String) -> Int? {
    let t = s.trimmingCharacters(in: .whitespaces)
    if t.hasPrefix("0x") || t.hasPrefix("0X") { return Int(t.dropFirst(2), radix: 16) }
    if t.hasPrefix("-0x") { return Int(t.dropFirst(3), radix: 16).map { -$0 } }
    return Int(t)
}

private func err(_ message: String) -> DomainXMLError { DomainXMLError(message) }

enum DomainParser {
    static let domainTypes = ["none", "qemu", "kqemu", "kvm", "xen", "lxc", "uml", "openvz", "test", "vmware",
                              "hyperv", "vbox", "phyp", "parallels", "bhyve", "vz", "ch", "hvf"]
    static let lifecycleActions = ["destroy", "restart", "preserve", "rename-restart"]
    static let diskBuses = ["ide", "fdc", "scsi", "virtio", "xen", "usb", "uml", "sata", "sd", "none"]
    static let diskDevices = ["disk", "cdrom", "floppy", "lun"]
    static let diskTypes = ["file", "block", "dir", "network", "volume", "nvme", "vhostuser"]
    static let controllerTypes = ["ide", "fdc", "scsi", "sata", "virtio-serial", "ccid", "usb", "pci", "xenbus", "isa"]
    static let interfaceTypes = ["user", "ethernet", "vhostuser", "server", "client", "mcast", "network", "bridge",
                                 "internal", "direct", "hostdev", "udp", "vdpa", "null", "vds"]
    static let inputTypes = ["mouse", "tablet", "keyboard", "passthrough", "evdev"]
    static let inputBuses = ["ps2", "usb", "xen", "virtio", "none"]
    static let soundModels = ["sb16", "es1370", "pcspk", "ac97", "ich6", "ich9", "usb", "ich7", "virtio"]
    static let videoModels = ["default", "vga", "cirrus", "vmvga", "xen", "vbox", "qxl", "parallels", "virtio",
                              "gop", "none", "bochs", "ramfb"]
    static let graphicsTypes = ["sdl", "vnc", "rdp", "desktop", "spice", "egl-headless", "dbus"]
    static let charTypes = ["null", "vc", "pty", "dev", "file", "pipe", "stdio", "udp", "tcp", "unix", "spicevmc",
                            "spiceport", "nmdm", "qemu-vdagent", "dbus"]

    static func parse(_ root: XMLNode) throws(DomainXMLError) -> Domain {
        guard let r = ElementReader(root) else { throw err("XML error: document has no root element") }
        guard r.name == "domain" else {
            throw err("XML error: unexpected root element <\(r.name)>, expecting <domain>")
        }
        var d = Domain()
        guard let type = r.attr("type") else { throw err("XML error: missing domain type attribute") }
        guard domainTypes.contains(type) else { throw err("unsupported configuration: invalid domain type \(type)") }
        d.type = type
        if let id = try r.int("id"), id >= 0 { d.id = id }

        guard let nameEl = r.child("name") else { throw err("missing name information") }
        let name = nameEl.text
        r.keep(nameEl)
        guard !name.isEmpty else { throw err("XML error: domain name must not be empty") }
        guard !name.contains("/") else { throw err("XML error: name '\(name)' cannot contain '/'") }
        d.name = name

        if let u = r.child("uuid") {
            let s = u.text
            guard let uuid = parseUUID(s) else { throw err("invalid argument: malformed uuid element '\(s)'") }
            d.uuid = uuid
            r.keep(u)
        }
        if let t = r.child("title") {
            let s = t.text
            guard !s.contains("\n") else { throw err("XML error: title can't contain newlines") }
            d.title = s
            r.keep(t)
        }
        if let t = r.child("description") { d.description = t.text; r.keep(t) }

        if let m = r.child("maxMemory") {
            var mm = MaxMemory(kib: try memory(m), slots: try m.int("slots"))
            mm.extra = m.leftover()
            d.maxMemory = mm
        }
        if let m = r.child("memory") {
            d.memoryKiB = try memory(m)
            r.keep(m)
        }
        if let m = r.child("currentMemory") {
            d.currentMemoryKiB = try memory(m)
            r.keep(m)
        }
        if let v = r.child("vcpu") { d.vcpu = try vcpu(v) }
        guard let os = r.child("os") else { throw err("XML error: missing <os> element with an os <type>") }
        d.os = try parseOS(os)
        if let f = r.child("features") { d.features = features(f) }
        if let c = r.child("cpu") { d.cpu = try cpu(c) }
        if let c = r.child("clock") { d.clock = try clock(c) }
        d.onPoweroff = try lifecycle(r, "on_poweroff", lifecycleActions)
        d.onReboot = try lifecycle(r, "on_reboot", lifecycleActions)
        d.onCrash = try lifecycle(r, "on_crash", lifecycleActions + ["coredump-destroy", "coredump-restart"])
        if let dev = r.child("devices") { d.devices = try devices(dev) }
        d.extra = r.leftover()

        if d.memoryKiB == 0 && !(d.cpu?.extra.children.contains { $0.elementName == "numa" } ?? false) {
            throw err("XML error: Memory size must be specified via <memory> or in the <numa> configuration")
        }
        try validate(d)
        return d
    }

    // MARK: Top-level elements

    static func memory(_ m: ElementReader) throws(DomainXMLError) -> UInt64 {
        let unit = m.attr("unit") ?? "KiB"
        let text = m.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let value = UInt64(text) else {
            throw err("XML error: invalid value '\(text)' for <\(m.name)>: expected a non-negative integer")
        }
        guard let scale = memoryScale(unit) else {
            throw err("unsupported configuration: unknown unit '\(unit)' in <\(m.name)>")
        }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: scale)
        guard !overflow else { throw err("XML error: value of <\(m.name)> is too large") }
        // libvirt rounds up to whole KiB.
        return bytes / 1024 + (bytes % 1024 == 0 ? 0 : 1)
    }

    /// Bytes per unit, with libvirt's spelling rules: case-insensitive, "iB" and bare letters are powers of 1024.
    static func memoryScale(_ unit: String) -> UInt64? {
        let u = unit.lowercased()
        if u == "b" || u == "bytes" { return 1 }
        guard let first = u.first else { return nil }
        let rest = u.dropFirst()
        let base: UInt64
        if rest.isEmpty || rest == "ib" { base = 1024 } else if rest == "b" { base = 1000 } else { return nil }
        let power: Int
        switch first {
        case "k": power = 1
        case "m": power = 2
        case "g": power = 3
        case "t": power = 4
        case "p": power = 5
        case "e": power = 6
        default: return nil
        }
        var s: UInt64 = 1
        for _ in 0..<power { s *= base }
        return s
    }

    static func vcpu(_ v: ElementReader) throws(DomainXMLError) -> VCPU {
        var out = VCPU()
        let text = v.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let count = Int(text), count >= 0 else {
            throw err("XML error: maximum vcpus count must be an integer, not '\(text)'")
        }
        guard count > 0 else { throw err("XML error: Domain requires at least 1 vCPU") }
        out.count = count
        out.placement = try v.oneOf("placement", ["static", "auto"], what: "CPU placement mode")
        out.current = try v.int("current")
        if let c = out.current {
            guard c >= 1 else { throw err("XML error: current vcpus must be at least 1") }
            guard c <= count else { throw err("XML error: maxvcpus must not be less than current vcpus (\(count) < \(c))") }
        }
        out.cpuset = v.attr("cpuset")
        out.extra = v.leftover()
        return out
    }

    static func parseOS(_ o: ElementReader) throws(DomainXMLError) -> OS {
        var os = OS()
        os.firmware = try o.oneOf("firmware", ["bios", "efi"], what: "firmware")
        guard let t = o.child("type") else { throw err("XML error: missing os type (<os><type>)") }
        let type = t.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !type.isEmpty else { throw err("XML error: missing os type (<os><type>)") }
        os.type = type
        os.arch = t.attr("arch")
        os.machine = t.attr("machine")
        o.keep(t)
        if let l = o.child("loader") {
            var loader = Loader()
            loader.readonly = try l.yesNo("readonly")
            loader.secure = try l.yesNo("secure")
            loader.type = try l.oneOf("type", ["rom", "pflash"], what: "loader type")
            let path = l.text
            loader.path = path.isEmpty ? nil : path
            loader.extra = l.leftover()
            os.loader = loader
        }
        if let n = o.child("nvram") {
            var nv = NVRAM()
            nv.template = n.attr("template")
            let path = n.text
            nv.path = path.isEmpty ? nil : path
            nv.extra = n.leftover()
            os.nvram = nv
        }
        if let k = o.child("kernel") { os.kernel = k.text; o.keep(k) }
        if let k = o.child("initrd") { os.initrd = k.text; o.keep(k) }
        if let k = o.child("cmdline") { os.cmdline = k.text; o.keep(k) }
        // Only plain <boot dev=''/> is modeled; anything richer stays verbatim.
        for b in o.children("boot", where: { $0.has("dev") && $0.isPlain(["dev"]) }) {
            let dev = try b.oneOf("dev", ["hd", "fd", "cdrom", "network"], what: "boot device") ?? ""
            os.boot.append(dev)
        }
        if let m = o.child("bootmenu", where: { $0.has("enable") }) {
            var menu = BootMenu(enable: try m.yesNo("enable") ?? false, timeout: try m.int("timeout"))
            menu.extra = m.leftover()
            os.bootMenu = menu
        }
        os.extra = o.leftover()
        return os
    }

    static func features(_ f: ElementReader) -> Features {
        var out = Features()
        if let a = f.child("acpi") { out.acpi = true; f.keep(a) }
        if let a = f.child("apic") { out.apic = true; f.keep(a) }
        if let a = f.child("pae") { out.pae = true; f.keep(a) }
        out.extra = f.leftover()
        return out
    }

    static func cpu(_ c: ElementReader) throws(DomainXMLError) -> CPU {
        var out = CPU()
        out.mode = try c.oneOf("mode", ["custom", "host-model", "host-passthrough", "maximum"], what: "CPU mode")
        out.match = try c.oneOf("match", ["minimum", "exact", "strict"], what: "CPU match mode")
        out.check = try c.oneOf("check", ["none", "partial", "full"], what: "CPU check mode")
        if let m = c.child("model") {
            let name = m.text
            out.model = name.isEmpty ? nil : name
            out.modelFallback = try m.oneOf("fallback", ["allow", "forbid"], what: "CPU model fallback")
            c.keep(m)
        }
        out.extra = c.leftover()
        return out
    }

    static func clock(_ c: ElementReader) throws(DomainXMLError) -> Clock {
        var out = Clock()
        out.offset = try c.oneOf("offset", ["utc", "localtime", "timezone", "variable", "absolute"], what: "clock offset") ?? "utc"
        out.timers = c.rawChildren("timer")
        out.extra = c.leftover()
        return out
    }

    static func lifecycle(_ r: ElementReader, _ name: String, _ allowed: [String]) throws(DomainXMLError) -> String? {
        guard let e = r.child(name) else { return nil }
        let v = e.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard allowed.contains(v) else { throw err("XML error: unknown \(name) action '\(v)'") }
        r.keep(e)
        return v
    }

    // MARK: Devices

    static func devices(_ r: ElementReader) throws(DomainXMLError) -> Devices {
        var d = Devices()
        if let e = r.child("emulator") { d.emulator = e.text; r.keep(e) }
        for e in r.children("disk") { d.disks.append(try disk(e)) }
        var implicitIndex: [Int] = []
        var used = Set<String>()
        for e in r.children("controller") {
            let (c, explicit) = try controller(e)
            if explicit { used.insert("\(c.type)#\(c.index)") } else { implicitIndex.append(d.controllers.count) }
            d.controllers.append(c)
        }
        // Controllers without an index get the lowest free one of their type, as libvirt does.
        for i in implicitIndex {
            var idx = 0
            while used.contains("\(d.controllers[i].type)#\(idx)") { idx += 1 }
            d.controllers[i].index = idx
            used.insert("\(d.controllers[i].type)#\(idx)")
        }
        for e in r.children("filesystem") { d.filesystems.append(try filesystem(e)) }
        for e in r.children("interface") { d.interfaces.append(try interface(e)) }
        for e in r.children("serial") { d.serials.append(try charDevice(e)) }
        for e in r.children("parallel") { d.parallels.append(try charDevice(e)) }
        for e in r.children("console") { d.consoles.append(try charDevice(e)) }
        for e in r.children("channel") { d.channels.append(try charDevice(e)) }
        for e in r.children("input") { d.inputs.append(try input(e)) }
        for e in r.children("tpm") { d.tpms.append(try tpm(e)) }
        for e in r.children("graphics") { d.graphics.append(try graphics(e)) }
        for e in r.children("sound") { d.sounds.append(try sound(e)) }
        for e in r.children("audio") { d.audios.append(try audio(e)) }
        for e in r.children("video") { d.videos.append(try video(e)) }
        for e in r.children("hostdev") { d.hostdevs.append(try hostdev(e)) }
        for e in r.children("redirdev") { d.redirdevs.append(try redirdev(e)) }
        for e in r.children("watchdog") { d.watchdogs.append(try watchdog(e)) }
        if let e = r.child("memballoon") { d.memballoon = try memballoon(e) }
        for e in r.children("rng") { d.rngs.append(try rng(e)) }
        d.extra = r.leftover()
        return d
    }

    /// `<alias>` and `<address>`, common to most devices.
    static func deviceInfo(_ r: ElementReader) throws(DomainXMLError) -> (alias: String?, address: DeviceAddress?) {
        var alias: String?
        if let a = r.child("alias", where: { $0.has("name") }) {
            alias = a.attr("name")
            r.keep(a)
        }
        var address: DeviceAddress?
        if let a = r.child("address") {
            guard let type = a.attr("type") else {
                throw err("XML error: no type specified for device address in <\(r.name)>")
            }
            address = DeviceAddress(type: type, attributes: r.keepChildren(of: a))
        }
        return (alias, address)
    }

    static func bootOrder(_ r: ElementReader) throws(DomainXMLError) -> Int? {
        guard let b = r.child("boot", where: { $0.has("order") }) else { return nil }
        let order = try b.int("order")
        guard let o = order, o > 0 else { throw err("XML error: boot order must be a positive integer in <\(r.name)>") }
        r.keep(b)
        return o
    }

    static func disk(_ r: ElementReader) throws(DomainXMLError) -> Disk {
        var d = Disk()
        d.type = try r.oneOf("type", diskTypes, what: "disk type") ?? "file"
        d.device = try r.oneOf("device", diskDevices, what: "disk device") ?? "disk"
        if let drv = r.child("driver") {
            d.driverName = drv.attr("name")
            d.driverType = drv.attr("type")
            d.driverCache = drv.attr("cache")
            d.driverDiscard = drv.attr("discard")
            d.driverExtra = r.keepChildren(of: drv)
        }
        if let s = r.child("source") {
            switch d.type {
            case "file": d.sourcePath = s.attr("file")
            case "block": d.sourcePath = s.attr("dev")
            case "dir": d.sourcePath = s.attr("dir")
            default: break
            }
            d.sourceExtra = s.leftover()
        }
        guard let t = r.child("target", where: { $0.has("dev") }) else {
            throw err("XML error: missing target information for <disk> (<target dev=''/>)")
        }
        d.targetDev = t.attr("dev") ?? ""
        guard !d.targetDev.isEmpty else { throw err("XML error: <disk> target dev must not be empty") }
        if let bus = t.attr("bus") {
            guard diskBuses.contains(bus) else { throw err("unsupported configuration: unknown disk bus '\(bus)'") }
            d.targetBus = bus
        }
        r.keep(t)
        if let e = r.child("readonly") { d.readonly = true; r.keep(e) }
        if let e = r.child("shareable") { d.shareable = true; r.keep(e) }
        if let e = r.child("serial") { d.serial = e.text; r.keep(e) }
        d.bootOrder = try bootOrder(r)
        (d.alias, d.address) = try deviceInfo(r)
        d.extra = r.leftover()
        return d
    }

    static func controller(_ r: ElementReader) throws(DomainXMLError) -> (Controller, Bool) {
        guard let type = r.attr("type") else { throw err("XML error: missing attribute 'type' in <controller>") }
        guard controllerTypes.contains(type) else { throw err("unsupported configuration: unknown controller type '\(type)'") }
        let index = try r.int("index")
        if let i = index, i < 0 { throw err("XML error: invalid controller index '\(i)'") }
        var c = Controller(type: type, index: index ?? 0, model: r.attr("model"))
        (c.alias, c.address) = try deviceInfo(r)
        c.extra = r.leftover()
        return (c, index != nil)
    }

    static func interface(_ r: ElementReader) throws(DomainXMLError) -> Interface {
        var n = Interface()
        n.type = try r.oneOf("type", interfaceTypes, what: "interface type") ?? "user"
        if let m = r.child("mac", where: { $0.has("address") }) {
            let mac = m.attr("address") ?? ""
            guard let normalized = normalizeMAC(mac) else { throw err("XML error: unable to parse mac address '\(mac)'") }
            guard let first = UInt8(normalized.prefix(2), radix: 16), first & 1 == 0 else {
                throw err("XML error: expected unicast mac address, found multicast '\(mac)'")
            }
            n.mac = normalized
            r.keep(m)
        }
        if let s = r.child("source") {
            if n.type == "network" { n.sourceNetwork = s.attr("network") }
            if n.type == "bridge" { n.sourceBridge = s.attr("bridge") }
            n.sourceExtra = s.leftover()
        }
        if let t = r.child("target", where: { $0.has("dev") }) { n.targetDev = t.attr("dev"); r.keep(t) }
        if let m = r.child("model", where: { $0.has("type") }) { n.model = m.attr("type"); r.keep(m) }
        n.bootOrder = try bootOrder(r)
        (n.alias, n.address) = try deviceInfo(r)
        n.extra = r.leftover()
        return n
    }

    static func charDevice(_ r: ElementReader) throws(DomainXMLError) -> CharDevice {
        var c = CharDevice()
        c.type = try r.oneOf("type", charTypes, what: "character device type") ?? "pty"
        if let s = r.child("source") {
            c.sourceMode = s.attr("mode")
            c.sourcePath = s.attr("path")
            c.sourceHost = s.attr("host")
            c.sourceService = s.attr("service")
            c.sourceExtra = r.keepChildren(of: s)
        }
        if let p = r.child("protocol", where: { $0.has("type") }) { c.protocolType = p.attr("type"); r.keep(p) }
        if let l = r.child("log", where: { $0.has("file") }) {
            c.logFile = l.attr("file")
            c.logAppend = l.attr("append")
            r.keep(l)
        }
        if let t = r.child("target") {
            c.targetType = t.attr("type")
            c.targetPort = try t.int("port")
            c.targetName = t.attr("name")
            if let m = t.child("model", where: { $0.has("name") }) { c.targetModel = m.attr("name"); t.keep(m) }
            r.keep(t)
        }
        (c.alias, c.address) = try deviceInfo(r)
        c.extra = r.leftover()
        return c
    }

    static func input(_ r: ElementReader) throws(DomainXMLError) -> Input {
        guard let type = try r.oneOf("type", inputTypes, what: "input device type") else {
            throw err("XML error: missing input device type")
        }
        var i = Input(type: type, bus: try r.oneOf("bus", inputBuses, what: "input bus"))
        (i.alias, i.address) = try deviceInfo(r)
        i.extra = r.leftover()
        return i
    }

    static func graphics(_ r: ElementReader) throws(DomainXMLError) -> Graphics {
        guard let type = try r.oneOf("type", graphicsTypes, what: "graphics type") else {
            throw err("XML error: missing graphics device type")
        }
        var g = Graphics(type: type)
        g.port = try r.int("port")
        g.tlsPort = try r.int("tlsPort")
        g.autoport = try r.yesNo("autoport")
        let listenAttr = r.attr("listen")
        g.passwd = r.attr("passwd")
        // <listen type='address' address='X'/> with nothing else is the model's `listen`.
        if let l = r.child("listen", where: { $0.peek("type") == "address" && $0.has("address") && $0.isPlain(["type", "address"]) }) {
            let address = l.attr("address") ?? ""
            _ = l.attr("type")
            if let a = listenAttr, a != address {
                throw err("XML error: graphics 'listen' attribute '\(a)' must match 'address' attribute of first listen element (found '\(address)')")
            }
            g.listen = address
            r.keep(l)
        } else {
            g.listen = listenAttr
        }
        g.extra = r.leftover()
        return g
    }

    static func video(_ r: ElementReader) throws(DomainXMLError) -> Video {
        var v = Video(model: "default")
        if let m = r.child("model") {
            guard m.has("type") else { throw err("XML error: missing video model type in <video><model>") }
            v.model = try m.oneOf("type", videoModels, what: "video model") ?? "default"
            v.vram = try m.int("vram")
            v.heads = try m.int("heads")
            v.primary = try m.yesNo("primary")
            r.keep(m)
        }
        (v.alias, v.address) = try deviceInfo(r)
        v.extra = r.leftover()
        return v
    }

    static func sound(_ r: ElementReader) throws(DomainXMLError) -> Sound {
        guard let model = try r.oneOf("model", soundModels, what: "sound model") else {
            throw err("XML error: missing sound model")
        }
        var s = Sound(model: model)
        if let a = r.child("audio", where: { $0.has("id") }) { s.audioID = try a.int("id"); r.keep(a) }
        (s.alias, s.address) = try deviceInfo(r)
        s.extra = r.leftover()
        return s
    }

    static func audio(_ r: ElementReader) throws(DomainXMLError) -> Audio {
        guard let id = try r.int("id"), id > 0 else { throw err("XML error: <audio> requires a positive 'id' attribute") }
        guard let type = r.attr("type") else { throw err("XML error: missing audio type in <audio id='\(id)'>") }
        var a = Audio(id: id, type: type)
        a.extra = r.leftover()
        return a
    }

    static func memballoon(_ r: ElementReader) throws(DomainXMLError) -> MemBalloon {
        guard let model = r.attr("model") else { throw err("XML error: missing memballoon model") }
        var m = MemBalloon(model: model)
        if let s = r.child("stats", where: { $0.has("period") }) { m.statsPeriod = try s.int("period"); r.keep(s) }
        (m.alias, m.address) = try deviceInfo(r)
        m.extra = r.leftover()
        return m
    }

    static func rng(_ r: ElementReader) throws(DomainXMLError) -> RNG {
        var g = RNG()
        g.model = r.attr("model") ?? "virtio"
        guard let b = r.child("backend") else { throw err("XML error: missing <backend> in <rng>") }
        g.backendModel = try b.oneOf("model", ["random", "egd", "builtin"], what: "rng backend model") ?? "random"
        if g.backendModel == "random" {
            let path = b.text
            g.backendPath = path.isEmpty ? nil : path
        }
        r.keep(b)
        (g.alias, g.address) = try deviceInfo(r)
        g.extra = r.leftover()
        return g
    }

    static func watchdog(_ r: ElementReader) throws(DomainXMLError) -> Watchdog {
        guard let model = r.attr("model") else { throw err("XML error: missing watchdog model") }
        var w = Watchdog(model: model)
        w.action = try r.oneOf("action", ["reset", "shutdown", "poweroff", "pause", "none", "dump", "inject-nmi"],
                               what: "watchdog action")
        (w.alias, w.address) = try deviceInfo(r)
        w.extra = r.leftover()
        return w
    }

    static func hostdev(_ r: ElementReader) throws(DomainXMLError) -> HostDev {
        var h = HostDev()
        h.mode = r.attr("mode") ?? "subsystem"
        h.type = r.attr("type") ?? "usb"
        // Only USB sources are modeled; other sources (pci, scsi, mdev) stay verbatim.
        if h.type == "usb", let s = r.child("source") {
            if let v = s.child("vendor", where: { $0.has("id") }) {
                h.vendorID = try usbID(v.attr("id") ?? "", "vendor")
                s.keep(v)
            }
            if let p = s.child("product", where: { $0.has("id") }) {
                h.productID = try usbID(p.attr("id") ?? "", "product")
                s.keep(p)
            }
            if let a = s.child("address", where: { !$0.has("type") }) {
                h.sourceBus = try a.int("bus")
                h.sourceDevice = try a.int("device")
                s.keep(a)
            }
            if h.vendorID == nil && h.sourceBus == nil {
                throw err("XML error: usb <hostdev> needs a vendor/product id or a bus/device address in <source>")
            }
            r.keep(s)
        }
        (h.alias, h.address) = try deviceInfo(r)
        h.extra = r.leftover()
        return h
    }

    static func usbID(_ s: String, _ what: String) throws(DomainXMLError) -> String {
        guard let v = parseInteger(s), v >= 0, v <= 0xffff else {
            throw err("XML error: cannot parse USB \(what) id '\(s)'")
        }
        return s
    }

    static func redirdev(_ r: ElementReader) throws(DomainXMLError) -> RedirDev {
        var d = RedirDev()
        d.bus = r.attr("bus") ?? "usb"
        d.type = try r.oneOf("type", charTypes, what: "redirdev type") ?? "spicevmc"
        if d.type == "tcp", let s = r.child("source") {
            d.sourceHost = s.attr("host")
            d.sourceService = s.attr("service")
            r.keep(s)
        }
        (d.alias, d.address) = try deviceInfo(r)
        d.extra = r.leftover()
        return d
    }

    static func filesystem(_ r: ElementReader) throws(DomainXMLError) -> Filesystem {
        var f = Filesystem()
        f.type = r.attr("type") ?? "mount"
        f.accessmode = try r.oneOf("accessmode", ["passthrough", "mapped", "squash"], what: "filesystem accessmode")
        if let d = r.child("driver", where: { $0.has("type") }) { f.driverType = d.attr("type"); r.keep(d) }
        if let s = r.child("source", where: { $0.has("dir") }) { f.sourceDir = s.attr("dir"); r.keep(s) }
        if let t = r.child("target", where: { $0.has("dir") }) { f.targetDir = t.attr("dir"); r.keep(t) }
        if f.targetDir == nil { throw err("XML error: missing target information for <filesystem> (<target dir=''/>)") }
        if let e = r.child("readonly") { f.readonly = true; r.keep(e) }
        (f.alias, f.address) = try deviceInfo(r)
        f.extra = r.leftover()
        return f
    }

    static func tpm(_ r: ElementReader) throws(DomainXMLError) -> TPM {
        var t = TPM()
        t.model = r.attr("model")
        guard let b = r.child("backend") else { throw err("XML error: missing <backend> in <tpm>") }
        t.backendType = try b.oneOf("type", ["passthrough", "emulator", "external"], what: "TPM backend type") ?? "emulator"
        t.backendVersion = b.attr("version")
        if let d = b.child("device", where: { $0.has("path") }) { t.backendPath = d.attr("path"); b.keep(d) }
        r.keep(b)
        if let a = r.child("alias", where: { $0.has("name") }) { t.alias = a.attr("name"); r.keep(a) }
        t.extra = r.leftover()
        return t
    }

    // MARK: Validation across elements

    static func validate(_ d: Domain) throws(DomainXMLError) {
        var targets = Set<String>()
        for disk in d.devices.disks {
            guard targets.insert(disk.targetDev).inserted else {
                throw err("XML error: target '\(disk.targetDev)' duplicated for disks")
            }
        }
        var controllers = Set<String>()
        let companions: Set<String> = ["ich9-ehci1", "ich9-uhci1", "ich9-uhci2", "ich9-uhci3", "vt82c686b-uhci"]
        // An EHCI controller and its UHCI companions share one index: they form one USB bus.
        for c in d.devices.controllers where !(c.type == "usb" && companions.contains(c.model ?? "")) {
            guard controllers.insert("\(c.type)#\(c.index)").inserted else {
                throw err("XML error: Multiple '\(c.type)' controllers with index '\(c.index)'")
            }
        }
        var bootOrders = Set<Int>()
        let orders = d.devices.disks.compactMap(\.bootOrder) + d.devices.interfaces.compactMap(\.bootOrder)
        for o in orders {
            guard bootOrders.insert(o).inserted else {
                throw err("XML error: boot order \(o) is already used by another device")
            }
        }
        if !orders.isEmpty && !d.os.boot.isEmpty {
            throw err("unsupported configuration: per-device boot elements cannot be used together with os/boot elements")
        }
        if d.devices.videos.filter({ $0.primary == true }).count > 1 {
            throw err("XML error: Only one primary video device is supported")
        }
        var audioIDs = Set<Int>()
        for a in d.devices.audios {
            guard audioIDs.insert(a.id).inserted else { throw err("XML error: audio id '\(a.id)' is used more than once") }
        }
        for s in d.devices.sounds {
            if let id = s.audioID, !audioIDs.contains(id) {
                throw err("XML error: no audio backend with id '\(id)' for <sound model='\(s.model)'>")
            }
        }
    }
}

extension XMLNode {
    var elementName: String? {
        if case .element(let n, _, _) = self { return n }
        return nil
    }
}

/// Parses 32 hex digits, optionally separated by dashes, as libvirt's virUUIDParse accepts.
func parseUUID(_ s: String) -> UUID? {
    let hex = s.trimmingCharacters(in: .whitespacesAndNewlines).filter { $0 != "-" }
    guard hex.utf8.count == 32 else { return nil }
    var bytes: [UInt8] = []
    var it = hex.utf8.makeIterator()
    while let hi = it.next(), let lo = it.next() {
        guard let h = hexValue(hi), let l = hexValue(lo) else { return nil }
        bytes.append(h << 4 | l)
    }
    guard bytes.count == 16 else { return nil }
    return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                       bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
}

/// "52:54:00:AB:cd:01" -> "52:54:00:ab:cd:01"; nil unless six 1-2 digit hex octets.
func normalizeMAC(_ s: String) -> String? {
    let parts = s.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 6 else { return nil }
    var out: [String] = []
    for p in parts {
        guard (1...2).contains(p.count), let v = UInt8(p, radix: 16) else { return nil }
        out.append(v < 16 ? "0" + String(v, radix: 16) : String(v, radix: 16))
    }
    return out.joined(separator: ":")
}
