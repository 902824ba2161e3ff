import Foundation

// One device element on its own, as virDomainAttachDevice/DetachDevice/UpdateDevice take it:
// parsed and formatted with the domain parser's own per-device code, and matched against a
// domain's devices the way libvirt identifies the device a detach or update means.

/// A single `<devices>` child.
public enum DomainDevice: Sendable, Equatable {
    case disk(Disk)
    /// `indexGiven` is false when the XML had no index: the domain's lowest free one is used.
    case controller(Controller, indexGiven: Bool)
    case interface(Interface)
    case input(Input)
    case hostdev(HostDev)
    case redirdev(RedirDev)
    case filesystem(Filesystem)
    case sound(Sound)
    case video(Video)
    case watchdog(Watchdog)
    case rng(RNG)
    case serial(CharDevice)
    case parallel(CharDevice)
    case console(CharDevice)
    case channel(CharDevice)

    /// The element name, as libvirt names the device type in messages.
    public var elementName: String {
        switch self {
        case .disk: "disk"
        case .controller: "controller"
        case .interface: "interface"
        case .input: "input"
        case .hostdev: "hostdev"
        case .redirdev: "redirdev"
        case .filesystem: "filesystem"
        case .sound: "sound"
        case .video: "video"
        case .watchdog: "watchdog"
        case .rng: "rng"
        case .serial: "serial"
        case .parallel: "parallel"
        case .console: "console"
        case .channel: "channel"
        }
    }

    /// Parses one device element with the same rules as inside a domain.
    public init(xml: String) throws(DomainXMLError) {
        let root = try XMLReader.parse(xml)
        guard let r = ElementReader(root) else { throw DomainXMLError("XML error: document has no root element") }
        switch r.name {
        case "disk": self = .disk(try DomainParser.disk(r))
        case "controller":
            let (c, given) = try DomainParser.controller(r)
            self = .controller(c, indexGiven: given)
        case "interface": self = .interface(try DomainParser.interface(r))
        case "input": self = .input(try DomainParser.input(r))
        case "hostdev": self = .hostdev(try DomainParser.hostdev(r))
        case "redirdev": self = .redirdev(try DomainParser.redirdev(r))
        case "filesystem": self = .filesystem(try DomainParser.filesystem(r))
        case "sound": self = .sound(try DomainParser.sound(r))
        case "video": self = .video(try DomainParser.video(r))
        case "watchdog": self = .watchdog(try DomainParser.watchdog(r))
        case "rng": self = .rng(try DomainParser.rng(r))
        case "serial": self = .serial(try DomainParser.charDevice(r))
        case "parallel": self = .parallel(try DomainParser.charDevice(r))
        case "console": self = .console(try DomainParser.charDevice(r))
        case "channel": self = .channel(try DomainParser.charDevice(r))
        default: throw DomainXMLError("XML error: unknown device type '\(r.name)'")
        }
    }

    /// The element as libvirt prints it inside `<devices>`, ending with a newline.
    public func formatXML(_ options: FormatOptions = []) -> String {
        let f = DomainFormatter(options: options)
        let node: XMLNode
        switch self {
        case .disk(let d): node = f.disk(d)
        case .controller(let c, _): node = f.controller(c)
        case .interface(let n): node = f.interface(n)
        case .input(let i): node = f.input(i)
        case .hostdev(let h): node = f.hostdev(h)
        case .redirdev(let r): node = f.redirdev(r)
        case .filesystem(let x): node = f.filesystem(x)
        case .sound(let s): node = f.sound(s)
        case .video(let v): node = f.video(v)
        case .watchdog(let w): node = f.watchdogNode(w)
        case .rng(let r): node = f.rng(r)
        case .serial(let c): node = f.charDevice("serial", c)
        case .parallel(let c): node = f.charDevice("parallel", c)
        case .console(let c): node = f.charDevice("console", c)
        case .channel(let c): node = f.charDevice("channel", c)
        }
        return XMLWriter.write(node)
    }

    public var alias: String? {
        switch self {
        case .disk(let d): d.alias
        case .controller(let c, _): c.alias
        case .interface(let n): n.alias
        case .input(let i): i.alias
        case .hostdev(let h): h.alias
        case .redirdev(let r): r.alias
        case .filesystem(let x): x.alias
        case .sound(let s): s.alias
        case .video(let v): v.alias
        case .watchdog(let w): w.alias
        case .rng(let r): r.alias
        case .serial(let c), .parallel(let c), .console(let c), .channel(let c): c.alias
        }
    }

    public var address: DeviceAddress? {
        switch self {
        case .disk(let d): d.address
        case .controller(let c, _): c.address
        case .interface(let n): n.address
        case .input(let i): i.address
        case .hostdev(let h): h.address
        case .redirdev(let r): r.address
        case .filesystem(let x): x.address
        case .sound(let s): s.address
        case .video(let v): v.address
        case .watchdog(let w): w.address
        case .rng(let r): r.address
        case .serial(let c), .parallel(let c), .console(let c), .channel(let c): c.address
        }
    }
}

/// Where a device sits in a domain: its kind's list and the position in it.
public struct DeviceSlot: Sendable, Equatable {
    public var element: String
    public var index: Int
    public init(element: String, index: Int) { self.element = element; self.index = index }
}

extension Domain {
    /// The device `dev` identifies, as libvirt looks it up for detach and update: a disk by its
    /// target dev, an interface by MAC (else the only one), a controller by type and index,
    /// a USB host device by its source, anything else by alias or address, else by its kind
    /// when the domain has exactly one. The error names what was not found.
    public func findDevice(_ dev: DomainDevice) throws(DomainXMLError) -> DeviceSlot {
        let devs = devices
        func slot(_ i: Int?) -> DeviceSlot? { i.map { DeviceSlot(element: dev.elementName, index: $0) } }
        /// Generic identification: alias and address when given (both must match), else the only one.
        func byInfo<T>(_ list: [T], alias: (T) -> String?, address: (T) -> DeviceAddress?, extra: (T) -> Bool = { _ in true }) throws(DomainXMLError) -> Int {
            let candidates = list.indices.filter { i in
                extra(list[i])
                    && (dev.alias == nil || alias(list[i]) == dev.alias)
                    && (dev.address == nil || sameAddress(address(list[i]), dev.address))
            }
            guard let first = candidates.first else {
                throw DomainXMLError("device not present in domain configuration")
            }
            guard candidates.count == 1 else {
                throw DomainXMLError("multiple matching <\(dev.elementName)> devices found: identify one by <alias> or <address>")
            }
            return first
        }
        switch dev {
        case .disk(let d):
            guard let i = devs.disks.firstIndex(where: { $0.targetDev == d.targetDev }) else {
                throw DomainXMLError("disk \(d.targetDev) not found")
            }
            return DeviceSlot(element: "disk", index: i)
        case .interface(let n):
            let matches = devs.interfaces.indices.filter { i in
                let x = devs.interfaces[i]
                return (n.mac == nil || x.mac == n.mac)
                    && (n.address == nil || sameAddress(x.address, n.address))
                    && (n.alias == nil || x.alias == n.alias)
            }
            if matches.isEmpty {
                if let mac = n.mac { throw DomainXMLError("no device matching MAC address \(mac) found") }
                throw DomainXMLError("no matching device found")
            }
            if matches.count > 1 {
                if let mac = n.mac { throw DomainXMLError("multiple devices matching MAC address \(mac) found") }
                throw DomainXMLError("multiple matching devices found")
            }
            return DeviceSlot(element: "interface", index: matches[0])
        case .controller(let c, _):
            guard let i = devs.controllers.firstIndex(where: { $0.type == c.type && $0.index == c.index }) else {
                throw DomainXMLError("controller \(c.type):\(c.index) not found")
            }
            return DeviceSlot(element: "controller", index: i)
        case .input(let x):
            do {
                return DeviceSlot(element: "input", index: try byInfo(devs.inputs, alias: \.alias, address: \.address,
                                                                      extra: { $0.type == x.type && ($0.bus ?? "") == (x.bus ?? $0.bus ?? "") }))
            } catch {
                throw DomainXMLError("matching input device not found")
            }
        case .hostdev(let h):
            let found = devs.hostdevs.firstIndex { x in
                guard x.type == h.type else { return false }
                if h.alias != nil || h.address != nil, x.alias == h.alias || sameAddress(x.address, h.address) { return true }
                if let v = h.vendorID, let p = h.productID {
                    return x.vendorID.flatMap(parseInteger) == parseInteger(v) && x.productID.flatMap(parseInteger) == parseInteger(p)
                }
                if let b = h.sourceBus, let d = h.sourceDevice { return x.sourceBus == b && x.sourceDevice == d }
                return false
            }
            guard let i = slot(found) else {
                if let v = h.vendorID, let p = h.productID {
                    throw DomainXMLError("host usb device vendor=\(v), product=\(p) not found")
                }
                if let b = h.sourceBus, let d = h.sourceDevice {
                    throw DomainXMLError("host usb device \(String(format: "%03d.%03d", b, d)) not found")
                }
                throw DomainXMLError("device not present in domain configuration")
            }
            return i
        case .redirdev(let r):
            return DeviceSlot(element: "redirdev", index: try byInfo(devs.redirdevs, alias: \.alias, address: \.address,
                                                                     extra: { $0.bus == r.bus && $0.type == r.type }))
        case .filesystem(let f):
            guard let i = devs.filesystems.firstIndex(where: { $0.targetDir == f.targetDir }) else {
                throw DomainXMLError("matching filesystem '\(f.targetDir ?? "")' not found")
            }
            return DeviceSlot(element: "filesystem", index: i)
        case .sound(let s):
            return DeviceSlot(element: "sound", index: try byInfo(devs.sounds, alias: \.alias, address: \.address, extra: { $0.model == s.model }))
        case .video(let v):
            return DeviceSlot(element: "video", index: try byInfo(devs.videos, alias: \.alias, address: \.address, extra: { $0.model == v.model }))
        case .watchdog(let w):
            return DeviceSlot(element: "watchdog", index: try byInfo(devs.watchdogs, alias: \.alias, address: \.address, extra: { $0.model == w.model }))
        case .rng(let r):
            return DeviceSlot(element: "rng", index: try byInfo(devs.rngs, alias: \.alias, address: \.address, extra: { $0.model == r.model }))
        case .serial(let c):
            return DeviceSlot(element: "serial", index: try byInfo(devs.serials, alias: \.alias, address: \.address,
                                                                   extra: { c.targetPort == nil || $0.targetPort == c.targetPort }))
        case .parallel(let c):
            return DeviceSlot(element: "parallel", index: try byInfo(devs.parallels, alias: \.alias, address: \.address,
                                                                     extra: { c.targetPort == nil || $0.targetPort == c.targetPort }))
        case .console(let c):
            return DeviceSlot(element: "console", index: try byInfo(devs.consoles, alias: \.alias, address: \.address,
                                                                    extra: { c.targetPort == nil || $0.targetPort == c.targetPort }))
        case .channel(let c):
            return DeviceSlot(element: "channel", index: try byInfo(devs.channels, alias: \.alias, address: \.address,
                                                                    extra: { c.targetName == nil || $0.targetName == c.targetName }))
        }
    }

    /// The device at `slot`.
    public func device(at slot: DeviceSlot) -> DomainDevice? {
        let d = devices
        func at<T>(_ list: [T]) -> T? { list.indices.contains(slot.index) ? list[slot.index] : nil }
        switch slot.element {
        case "disk": return at(d.disks).map { .disk($0) }
        case "controller": return at(d.controllers).map { .controller($0, indexGiven: true) }
        case "interface": return at(d.interfaces).map { .interface($0) }
        case "input": return at(d.inputs).map { .input($0) }
        case "hostdev": return at(d.hostdevs).map { .hostdev($0) }
        case "redirdev": return at(d.redirdevs).map { .redirdev($0) }
        case "filesystem": return at(d.filesystems).map { .filesystem($0) }
        case "sound": return at(d.sounds).map { .sound($0) }
        case "video": return at(d.videos).map { .video($0) }
        case "watchdog": return at(d.watchdogs).map { .watchdog($0) }
        case "rng": return at(d.rngs).map { .rng($0) }
        case "serial": return at(d.serials).map { .serial($0) }
        case "parallel": return at(d.parallels).map { .parallel($0) }
        case "console": return at(d.consoles).map { .console($0) }
        case "channel": return at(d.channels).map { .channel($0) }
        default: return nil
        }
    }

    /// How many devices of the kind `element` the domain has.
    public func count(of element: String) -> Int {
        var n = 0
        while device(at: DeviceSlot(element: element, index: n)) != nil { n += 1 }
        return n
    }

    /// Removes the device at `slot` (found by `findDevice`).
    public mutating func removeDevice(at slot: DeviceSlot) {
        func drop<T>(_ list: inout [T]) { if list.indices.contains(slot.index) { list.remove(at: slot.index) } }
        switch slot.element {
        case "disk": drop(&devices.disks)
        case "controller": drop(&devices.controllers)
        case "interface": drop(&devices.interfaces)
        case "input": drop(&devices.inputs)
        case "hostdev": drop(&devices.hostdevs)
        case "redirdev": drop(&devices.redirdevs)
        case "filesystem": drop(&devices.filesystems)
        case "sound": drop(&devices.sounds)
        case "video": drop(&devices.videos)
        case "watchdog": drop(&devices.watchdogs)
        case "rng": drop(&devices.rngs)
        case "serial": drop(&devices.serials)
        case "parallel": drop(&devices.parallels)
        case "console": drop(&devices.consoles)
        case "channel": drop(&devices.channels)
        default: break
        }
    }

    /// Puts `dev` in place of the device at `slot` (same kind).
    public mutating func replaceDevice(at slot: DeviceSlot, with dev: DomainDevice) {
        func put<T>(_ list: inout [T], _ x: T) { if list.indices.contains(slot.index) { list[slot.index] = x } }
        switch dev {
        case .disk(let x): put(&devices.disks, x)
        case .controller(let x, _): put(&devices.controllers, x)
        case .interface(let x): put(&devices.interfaces, x)
        case .input(let x): put(&devices.inputs, x)
        case .hostdev(let x): put(&devices.hostdevs, x)
        case .redirdev(let x): put(&devices.redirdevs, x)
        case .filesystem(let x): put(&devices.filesystems, x)
        case .sound(let x): put(&devices.sounds, x)
        case .video(let x): put(&devices.videos, x)
        case .watchdog(let x): put(&devices.watchdogs, x)
        case .rng(let x): put(&devices.rngs, x)
        case .serial(let x): put(&devices.serials, x)
        case .parallel(let x): put(&devices.parallels, x)
        case .console(let x): put(&devices.consoles, x)
        case .channel(let x): put(&devices.channels, x)
        }
    }

    /// Adds `dev` where libvirt would: disks ordered by bus and target within their bus,
    /// controllers grouped by type and index, everything else at the end of its kind.
    /// Refuses what would clash (libvirt's qemuDomainAttachDeviceConfig checks).
    public mutating func addDevice(_ dev: DomainDevice) throws(DomainXMLError) {
        switch dev {
        case .disk(let d):
            if devices.disks.contains(where: { $0.targetDev == d.targetDev }) {
                throw DomainXMLError("target \(d.targetDev) already exists")
            }
            // virDomainDiskInsert: after the last disk of the same bus with a lower target index.
            let bus = d.targetBus ?? DomainDefaults.busFromTarget(d.targetDev)
            let idx = DomainDefaults.diskIndex(d.targetDev) ?? Int.max
            var at = devices.disks.count
            var sawBus = false
            for (i, x) in devices.disks.enumerated() where (x.targetBus ?? DomainDefaults.busFromTarget(x.targetDev)) == bus {
                sawBus = true
                if (DomainDefaults.diskIndex(x.targetDev) ?? Int.max) > idx { at = i; break }
                at = i + 1
            }
            if !sawBus { at = devices.disks.count }
            devices.disks.insert(d, at: at)
        case .controller(var c, let given):
            if !given {
                var i = 0
                while devices.controllers.contains(where: { $0.type == c.type && $0.index == i }) { i += 1 }
                c.index = i
            } else if devices.controllers.contains(where: { $0.type == c.type && $0.index == c.index }) {
                throw DomainXMLError("target \(c.type):\(c.index) already exists")
            }
            DomainDefaults.insert(c, into: &devices.controllers)
        case .interface(let n):
            if let mac = n.mac, devices.interfaces.contains(where: { $0.mac == mac }) {
                throw DomainXMLError("mac \(mac) already exists")
            }
            devices.interfaces.append(n)
        case .input(let x): devices.inputs.append(x)
        case .hostdev(let x): devices.hostdevs.append(x)
        case .redirdev(let x): devices.redirdevs.append(x)
        case .filesystem(let x):
            if devices.filesystems.contains(where: { $0.targetDir == x.targetDir }) {
                throw DomainXMLError("filesystem target '\(x.targetDir ?? "")' already exists")
            }
            devices.filesystems.append(x)
        case .sound(let x): devices.sounds.append(x)
        case .video(let x): devices.videos.append(x)
        case .watchdog(let x): devices.watchdogs.append(x)
        case .rng(let x): devices.rngs.append(x)
        case .serial(let x): devices.serials.append(x)
        case .parallel(let x): devices.parallels.append(x)
        case .console(let x): devices.consoles.append(x)
        case .channel(let x): devices.channels.append(x)
        }
    }

    /// libvirt's device-name index ("vdb" -> 1, "sdaa" -> 26); nil for names it cannot read.
    public static func diskIndex(_ targetDev: String) -> Int? { DomainDefaults.diskIndex(targetDev) }

    /// The bus libvirt infers from a target name ("vd*" -> virtio, "sd*" -> scsi, "hd*" -> ide).
    public static func diskBus(forTarget targetDev: String) -> String? { DomainDefaults.busFromTarget(targetDev) }
}

/// Two addresses name the same place when their type and every attribute the query gives agree
/// (numbers compared by value, so 0x1 and 1 are equal).
func sameAddress(_ have: DeviceAddress?, _ want: DeviceAddress?) -> Bool {
    guard let want else { return true }
    guard let have, have.type == want.type else { return false }
    for a in want.attributes {
        let mine = have[a.name]
        if let x = parseInteger(a.value), let y = mine.flatMap(parseInteger) {
            if x != y { return false }
        } else if mine != a.value {
            // An attribute left out of the domain's address means 0 (domain, function) in libvirt.
            if mine == nil, parseInteger(a.value) == 0 { continue }
            return false
        }
    }
    return true
}

extension DomainFormatter {
    /// A `<watchdog>` on its own, as `devices()` writes it inline.
    func watchdogNode(_ x: Watchdog) -> XMLNode {
        var e = Builder("watchdog")
        e.attr("model", x.model)
        e.attr("action", x.action)
        deviceInfo(&e, alias: x.alias, address: x.address, x.extra)
        return device(e, x.extra)
    }
}
