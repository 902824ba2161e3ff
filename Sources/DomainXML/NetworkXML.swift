import Foundation
#if canImport(Glibc)
import Glibc
#endif

// libvirt's network XML (libvirt.org/formatnetwork.html): model, parse with validation, format in
// libvirt's order, and the defaults libvirt fills in on define. Unmodeled content is kept in
// `Extra` (as for domains) so a round trip loses nothing.

public struct NetworkDef: Sendable, Equatable {
    public var name: String = ""
    public var uuid: UUID?
    /// Absent means an isolated network.
    public var forward: NetworkForward?
    public var bridge: NetworkBridge?
    public var mac: String?
    public var domain: NetworkDomain?
    public var dns: NetworkDNS?
    public var ips: [NetworkIP] = []
    public var extra = Extra()
    public init() {}

    /// nat | route | open | bridge | ... ; "none" for an isolated network (no <forward>).
    public var forwardMode: String { forward.map { $0.mode ?? "nat" } ?? "none" }
    /// Modes where libvirt itself creates and owns a bridge with an address and dnsmasq.
    public var hasManagedBridge: Bool { ["nat", "route", "open", "none"].contains(forwardMode) }
    public var ipv4: NetworkIP? { ips.first { $0.isIPv4 } }
}

public struct NetworkForward: Sendable, Equatable {
    /// nil: `<forward/>` without mode, which libvirt reads as nat.
    public var mode: String?
    public var dev: String?
    public var natAddressStart: String?
    public var natAddressEnd: String?
    public var natPortStart: Int?
    public var natPortEnd: Int?
    public var extra = Extra()
    public init(mode: String? = nil) { self.mode = mode }
}

public struct NetworkBridge: Sendable, Equatable {
    public var name: String?
    public var stp: Bool?
    public var delay: Int?
    public var extra = Extra()
    public init(name: String? = nil) { self.name = name }
}

public struct NetworkDomain: Sendable, Equatable {
    public var name: String
    public var localOnly: Bool?
    public var extra = Extra()
    public init(name: String) { self.name = name }
}

public struct NetworkDNS: Sendable, Equatable {
    public var enable: Bool?
    public var forwarders: [Forwarder] = []
    public var hosts: [Host] = []
    public var extra = Extra()
    public init() {}

    public struct Forwarder: Sendable, Equatable {
        public var addr: String?
        public var domain: String?
        public var extra = Extra()
        public init(addr: String? = nil, domain: String? = nil) { self.addr = addr; self.domain = domain }
    }
    public struct Host: Sendable, Equatable {
        public var ip: String
        public var hostnames: [String]
        public var extra = Extra()
        public init(ip: String, hostnames: [String]) { self.ip = ip; self.hostnames = hostnames }
    }
}

public struct NetworkIP: Sendable, Equatable {
    public var address: String
    public var netmask: String?
    public var prefix: Int?
    public var family: String?                     // ipv4 | ipv6; absent = ipv4
    public var dhcp: NetworkDHCP?
    public var extra = Extra()
    public init(address: String) { self.address = address }

    public var isIPv4: Bool { (family ?? "ipv4") == "ipv4" }
    /// The prefix length from prefix= or netmask= (libvirt's default for IPv6 is 64, for IPv4 the class default).
    public var prefixLength: Int {
        if let prefix { return prefix }
        if let netmask, let mask = IPv4.parse(netmask) { return mask.nonzeroBitCount }
        if !isIPv4 { return 64 }
        // Classful default, as libvirt's virSocketAddrPrefixToNetmask for a missing netmask.
        guard let a = IPv4.parse(address) else { return 24 }
        let first = a >> 24
        return first < 128 ? 8 : first < 192 ? 16 : 24
    }
    public var subnet: IPSubnet? { IPSubnet(address: address, prefix: prefixLength) }
}

public struct NetworkDHCP: Sendable, Equatable {
    public var ranges: [Range] = []
    public var hosts: [Host] = []
    public var extra = Extra()
    public init() {}

    public struct Range: Sendable, Equatable {
        public var start: String
        public var end: String
        public var extra = Extra()
        public init(start: String, end: String) { self.start = start; self.end = end }
    }
    public struct Host: Sendable, Equatable {
        public var mac: String?
        public var id: String?
        public var name: String?
        public var ip: String?
        public var extra = Extra()
        public init(mac: String? = nil, name: String? = nil, ip: String? = nil) { self.mac = mac; self.name = name; self.ip = ip }
    }
}

// MARK: - Addresses

public enum IPv4 {
    /// Dotted quad only (inet_pton's rules: no short forms, no leading-zero octal).
    public static func parse(_ s: String) -> UInt32? {
        var a = in_addr()
        guard inet_pton(AF_INET, s, &a) == 1 else { return nil }
        return UInt32(bigEndian: a.s_addr)
    }
    public static func format(_ v: UInt32) -> String {
        "\(v >> 24).\((v >> 16) & 0xff).\((v >> 8) & 0xff).\(v & 0xff)"
    }
    public static func netmask(prefix: Int) -> UInt32 {
        prefix <= 0 ? 0 : prefix >= 32 ? .max : ~UInt32(0) << UInt32(32 - prefix)
    }
}

/// An IPv4 or IPv6 subnet, for containment and overlap checks.
public struct IPSubnet: Sendable, Equatable, CustomStringConvertible {
    public let bytes: [UInt8]                       // 4 or 16, the network address (host bits cleared)
    public let prefix: Int

    public init?(address: String, prefix: Int) {
        guard let raw = IPSubnet.bytes(of: address), prefix >= 0, prefix <= raw.count * 8 else { return nil }
        self.bytes = IPSubnet.mask(raw, prefix)
        self.prefix = prefix
    }

    public static func bytes(of address: String) -> [UInt8]? {
        if let v = IPv4.parse(address) { return [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }
        var a6 = in6_addr()
        guard inet_pton(AF_INET6, address, &a6) == 1 else { return nil }
        return withUnsafeBytes(of: &a6) { Array($0) }
    }

    static func mask(_ raw: [UInt8], _ prefix: Int) -> [UInt8] {
        raw.enumerated().map { i, b in
            let bits = max(0, min(8, prefix - i * 8))
            return bits == 8 ? b : b & UInt8(truncatingIfNeeded: 0xff << (8 - bits))
        }
    }

    public func contains(_ address: String) -> Bool {
        guard let raw = IPSubnet.bytes(of: address), raw.count == bytes.count else { return false }
        return IPSubnet.mask(raw, prefix) == bytes
    }

    public func overlaps(_ other: IPSubnet) -> Bool {
        guard other.bytes.count == bytes.count else { return false }
        let p = min(prefix, other.prefix)
        return IPSubnet.mask(bytes, p) == IPSubnet.mask(other.bytes, p)
    }

    public var description: String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") + "/\(prefix)" }
        var a6 = in6_addr()
        withUnsafeMutableBytes(of: &a6) { $0.copyBytes(from: bytes) }
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &a6, &buf, socklen_t(buf.count))
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/\(prefix)"
    }
}

private func compareAddresses(_ a: String, _ b: String) -> Int? {
    guard let x = IPSubnet.bytes(of: a), let y = IPSubnet.bytes(of: b), x.count == y.count else { return nil }
    for (p, q) in zip(x, y) where p != q { return p < q ? -1 : 1 }
    return 0
}

// MARK: - Parsing

extension NetworkDef {
    /// Parses and validates a libvirt network XML document.
    public init(xml: String) throws(DomainXMLError) {
        self = try NetworkParser.parse(try XMLReader.parse(xml))
    }

    /// Formats as libvirt does (2-space indentation, libvirt's element order), ending with a newline.
    public func formatXML(_ options: FormatOptions = []) -> String {
        XMLWriter.write(NetworkFormatter.format(self))
    }

    /// What libvirt fills in on define: a UUID, a bridge name (the first virbrN for which
    /// `bridgeTaken` is false), stp on / delay 0, and a MAC for the bridge.
    public mutating func applyDefaults(bridgeTaken: (String) -> Bool) {
        if uuid == nil { uuid = UUID() }
        guard hasManagedBridge else { return }
        var b = bridge ?? NetworkBridge()
        if b.name == nil || b.name?.contains("%d") == true {
            let template = b.name ?? "virbr%d"
            for n in 0..<4096 {
                let candidate = template.replacingOccurrences(of: "%d", with: String(n))
                if !bridgeTaken(candidate) { b.name = candidate; break }
            }
        }
        if b.stp == nil { b.stp = true }
        if b.delay == nil { b.delay = 0 }
        bridge = b
        if mac == nil {
            var rng = SystemRandomNumberGenerator()
            mac = "52:54:00:" + (0..<3).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined(separator: ":")
        }
    }
}

private func err(_ message: String) -> DomainXMLError { DomainXMLError(message) }

enum NetworkParser {
    static let forwardModes = ["nat", "route", "open", "bridge", "private", "vepa", "passthrough", "hostdev"]

    static func parse(_ root: XMLNode) throws(DomainXMLError) -> NetworkDef {
        guard let r = ElementReader(root), r.name == "network" else {
            throw err("XML error: expected root element <network>, found <\(root.elementName ?? "?")>")
        }
        var n = NetworkDef()
        guard let nameEl = r.child("name") else { throw err("missing name information in network XML: <name> is required") }
        n.name = nameEl.text.trimmingCharacters(in: .whitespacesAndNewlines)
        r.keep(nameEl)
        guard !n.name.isEmpty else { throw err("missing name information in network XML: <name> is empty") }
        guard !n.name.contains("/") else { throw err("XML error: name '\(n.name)' cannot contain '/'") }
        guard n.name.utf8.count <= 255, n.name != ".", n.name != ".." else { throw err("XML error: invalid network name '\(n.name)'") }
        if let u = r.child("uuid") {
            let text = u.text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let uuid = parseUUID(text) else { throw err("XML error: malformed uuid element: '\(text)'") }
            n.uuid = uuid
            r.keep(u)
        }
        if let f = r.child("forward") { n.forward = try forward(f) }
        if let b = r.child("bridge") { n.bridge = try bridge(b) }
        if let m = r.child("mac", where: { $0.has("address") }) {
            let text = m.attr("address") ?? ""
            guard let mac = normalizeMAC(text) else { throw err("XML error: invalid mac address '\(text)' in network '\(n.name)'") }
            guard let first = UInt8(mac.prefix(2), radix: 16), first & 1 == 0 else {
                throw err("XML error: invalid multicast bridge mac address '\(text)' in network '\(n.name)'")
            }
            n.mac = mac
            r.keep(m)
        }
        if let d = r.child("domain", where: { $0.has("name") }) {
            var dom = NetworkDomain(name: d.attr("name") ?? "")
            guard isHostName(dom.name) else { throw err("XML error: invalid domain name '\(dom.name)' in network '\(n.name)'") }
            dom.localOnly = try d.yesNo("localOnly")
            dom.extra = d.leftover()
            n.domain = dom
        }
        if let d = r.child("dns") { n.dns = try dns(d) }
        for i in r.children("ip") { n.ips.append(try ip(i, network: n.name)) }
        n.extra = r.leftover()
        try validate(n)
        return n
    }

    static func forward(_ r: ElementReader) throws(DomainXMLError) -> NetworkForward {
        var f = NetworkForward()
        if let mode = r.attr("mode") {
            guard forwardModes.contains(mode) else { throw err("unsupported configuration: unknown forwarding type '\(mode)'") }
            f.mode = mode
        }
        f.dev = r.attr("dev")
        if let dev = f.dev, !isInterfaceName(dev) {
            throw err("XML error: invalid forward dev '\(dev)': interface names are 1-15 letters, digits, '-', '_' or '.', not starting with '-'")
        }
        if let nat = r.child("nat") {
            guard (f.mode ?? "nat") == "nat" else {
                throw err("XML error: the <nat> element can only be used when <forward> 'mode' is 'nat'")
            }
            if let a = nat.child("address") {
                f.natAddressStart = a.attr("start")
                f.natAddressEnd = a.attr("end")
                guard let s = f.natAddressStart, IPv4.parse(s) != nil else {
                    throw err("XML error: bad or missing nat address start '\(f.natAddressStart ?? "")'")
                }
                guard let e = f.natAddressEnd, let ev = IPv4.parse(e), let sv = IPv4.parse(s), ev >= sv else {
                    throw err("XML error: bad or missing nat address end '\(f.natAddressEnd ?? "")' (must be an IPv4 address not below start)")
                }
                nat.keep(a, as: "address")
            }
            if let p = nat.child("port") {
                f.natPortStart = try p.int("start")
                f.natPortEnd = try p.int("end")
                guard let s = f.natPortStart, let e = f.natPortEnd, (0...65535).contains(s), (s...65535).contains(e) else {
                    throw err("XML error: nat port range must have start and end with 0 <= start <= end <= 65535")
                }
                nat.keep(p, as: "port")
            }
            r.keep(nat, as: "nat")
        }
        f.extra = r.leftover()
        return f
    }

    static func bridge(_ r: ElementReader) throws(DomainXMLError) -> NetworkBridge {
        var b = NetworkBridge(name: r.attr("name"))
        if let name = b.name, !isInterfaceName(name.replacingOccurrences(of: "%d", with: "0")) {
            throw err("XML error: invalid bridge name '\(name)': interface names are 1-15 letters, digits, '-', '_' or '.', not starting with '-'")
        }
        if let stp = r.attr("stp") {
            guard stp == "on" || stp == "off" else { throw err("XML error: invalid value '\(stp)' for bridge stp: expected 'on' or 'off'") }
            b.stp = stp == "on"
        }
        if let d = try r.int("delay") {
            guard d >= 0 else { throw err("XML error: invalid delay '\(d)' in <bridge>") }
            b.delay = d
        }
        b.extra = r.leftover()
        return b
    }

    static func dns(_ r: ElementReader) throws(DomainXMLError) -> NetworkDNS {
        var d = NetworkDNS()
        d.enable = try r.yesNo("enable")
        for f in r.children("forwarder") {
            var fw = NetworkDNS.Forwarder(addr: f.attr("addr"), domain: f.attr("domain"))
            if let a = fw.addr, IPSubnet.bytes(of: a) == nil { throw err("XML error: invalid forwarder IP address '\(a)' in network") }
            guard fw.addr != nil || fw.domain != nil else { throw err("XML error: dns forwarder element must have at least one of addr or domain") }
            fw.extra = f.leftover()
            d.forwarders.append(fw)
        }
        for h in r.children("host") {
            guard let ip = h.attr("ip") else { throw err("XML error: missing IP address in network's DNS host definition") }
            guard IPSubnet.bytes(of: ip) != nil else { throw err("XML error: invalid IP address '\(ip)' in network's DNS host definition") }
            var names: [String] = []
            for n in h.children("hostname") {
                let t = n.text.trimmingCharacters(in: .whitespacesAndNewlines)
                guard !t.isEmpty else { throw err("XML error: missing hostname in network's DNS host definition") }
                guard isHostName(t) else { throw err("XML error: invalid hostname '\(t)' in network's DNS host definition") }
                names.append(t)
                h.keep(n, as: "hostname")
            }
            guard !names.isEmpty else { throw err("XML error: DNS host definition for '\(ip)' has no <hostname>") }
            var host = NetworkDNS.Host(ip: ip, hostnames: names)
            host.extra = h.leftover()
            d.hosts.append(host)
        }
        d.extra = r.leftover()
        return d
    }

    static func ip(_ r: ElementReader, network: String) throws(DomainXMLError) -> NetworkIP {
        guard let address = r.attr("address") else { throw err("XML error: missing IP address in network '\(network)'") }
        var ip = NetworkIP(address: address)
        if let family = r.attr("family") {
            guard family == "ipv4" || family == "ipv6" else { throw err("XML error: unsupported address family '\(family)' in network '\(network)'") }
            ip.family = family
        }
        let v4 = IPv4.parse(address) != nil
        guard let bytes = IPSubnet.bytes(of: address) else { throw err("XML error: invalid address '\(address)' in network '\(network)'") }
        guard (bytes.count == 4) == ip.isIPv4 else {
            throw err("XML error: family '\(ip.family ?? "ipv4")' specified for non-\(ip.isIPv4 ? "IPv4" : "IPv6") address '\(address)' in network '\(network)'")
        }
        ip.netmask = r.attr("netmask")
        ip.prefix = try r.int("prefix")
        if ip.netmask != nil && ip.prefix != nil {
            throw err("XML error: network '\(network)' IP address cannot have both a prefix and a netmask")
        }
        if let m = ip.netmask {
            guard v4, let mask = IPv4.parse(m), mask == IPv4.netmask(prefix: mask.nonzeroBitCount) else {
                throw err("XML error: invalid netmask '\(m)' in network '\(network)'")
            }
        }
        if let p = ip.prefix, !(0...(v4 ? 32 : 128)).contains(p) {
            throw err("XML error: invalid prefix '\(p)' in network '\(network)'")
        }
        if let d = r.child("dhcp") { ip.dhcp = try dhcp(d, ip: ip, network: network) }
        ip.extra = r.leftover()
        return ip
    }

    static func dhcp(_ r: ElementReader, ip: NetworkIP, network: String) throws(DomainXMLError) -> NetworkDHCP {
        var d = NetworkDHCP()
        let subnet = ip.subnet
        for x in r.children("range") {
            guard let s = x.attr("start"), let e = x.attr("end") else {
                throw err("XML error: missing start or end address in DHCP range of network '\(network)'")
            }
            guard let order = compareAddresses(s, e), let subnet, subnet.contains(s), subnet.contains(e) else {
                throw err("XML error: range \(s) - \(e) is not entirely within network \(ip.address)/\(ip.prefixLength) of network '\(network)'")
            }
            guard order <= 0 else { throw err("XML error: range \(s) - \(e) is reversed in network '\(network)'") }
            var range = NetworkDHCP.Range(start: s, end: e)
            range.extra = x.leftover()
            d.ranges.append(range)
        }
        for h in r.children("host") {
            var host = NetworkDHCP.Host(mac: nil, name: h.attr("name"), ip: h.attr("ip"))
            if let n = host.name, !isHostName(n) { throw err("XML error: invalid DHCP host name '\(n)' in network '\(network)'") }
            host.id = h.attr("id")
            if let m = h.attr("mac") {
                guard let mac = normalizeMAC(m) else { throw err("XML error: cannot parse MAC address '\(m)' in network '\(network)'") }
                host.mac = mac
            }
            if let a = host.ip {
                guard let subnet, subnet.contains(a) else {
                    throw err("XML error: static host address '\(a)' is not in network \(ip.address)/\(ip.prefixLength) of network '\(network)'")
                }
            }
            guard host.mac != nil || host.id != nil || host.name != nil else {
                throw err("XML error: static host definition in network '\(network)' must have mac, id or name")
            }
            host.extra = h.leftover()
            d.hosts.append(host)
        }
        d.extra = r.leftover()
        return d
    }

    static func validate(_ n: NetworkDef) throws(DomainXMLError) {
        let dhcpV4 = n.ips.filter { $0.isIPv4 && $0.dhcp != nil }
        if dhcpV4.count > 1 {
            throw err("unsupported configuration: multiple IPv4 dhcp sections found -- dhcp is supported only for a single IPv4 address on each network")
        }
        if !n.hasManagedBridge && !n.ips.isEmpty {
            throw err("unsupported configuration: <ip> element is not supported for <forward mode='\(n.forwardMode)'> in network '\(n.name)'")
        }
        if n.forwardMode == "bridge" && n.bridge?.name == nil && n.forward?.dev == nil && n.forward?.extra.children.isEmpty != false {
            throw err("XML error: network '\(n.name)' with forward mode 'bridge' needs a <bridge name='...'/> or a forward dev")
        }
        if n.forwardMode == "open" && n.ips.isEmpty {
            throw err("unsupported configuration: network '\(n.name)' with forward mode 'open' needs at least one <ip>")
        }
    }
}

/// What Linux accepts and what is safe to hand to ip, nft and dnsmasq verbatim.
func isInterfaceName(_ s: String) -> Bool {
    !s.isEmpty && s.utf8.count <= 15 && !s.hasPrefix("-") && s != "." && s != ".."
        && s.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "-_.".unicodeScalars.contains($0) }
}

/// DNS names (and DHCP host names): letters, digits, '-', '_' and '.', as dnsmasq takes them in its configuration.
func isHostName(_ s: String) -> Bool {
    !s.isEmpty && s.utf8.count <= 253 && !s.hasPrefix("-")
        && s.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "-_.".unicodeScalars.contains($0) }
}

// MARK: - Formatting

enum NetworkFormatter {
    static let order = ["name", "uuid", "title", "description", "metadata", "mtu", "forward", "bridge", "mac",
                        "domain", "dns", "ip", "route", "portgroup", "virtualport", "vlan", "bandwidth", "port"]

    static func format(_ n: NetworkDef) -> XMLNode {
        var b = Builder("network")
        let sub = n.extra.childExtras
        var name = Builder("name")
        name.text(n.name)
        b.add(name.node(sub["name"]))
        if let uuid = n.uuid {
            var u = Builder("uuid")
            u.text(uuid.uuidString.lowercased())
            b.add(u.node(sub["uuid"]))
        }
        if let f = n.forward { b.add(forward(f)) }
        if let br = n.bridge {
            var e = Builder("bridge")
            e.attr("name", br.name)
            e.attr("stp", br.stp.map { $0 ? "on" : "off" })
            e.attr("delay", br.delay)
            b.add(e.node(br.extra, attributeOrder: ["name", "zone", "stp", "delay", "macTableManager"]))
        }
        if let mac = n.mac {
            var e = Builder("mac")
            e.attr("address", mac)
            b.add(e.node(sub["mac"]))
        }
        if let d = n.domain {
            var e = Builder("domain")
            e.attr("name", d.name)
            e.attr("localOnly", yesNo: d.localOnly)
            b.add(e.node(d.extra))
        }
        if let d = n.dns { b.add(dns(d)) }
        for x in n.ips { b.add(ip(x)) }
        return b.node(n.extra, attributeOrder: ["connections", "ipv6", "trustGuestRxFilters"], childOrder: order)
    }

    static func forward(_ f: NetworkForward) -> XMLNode {
        var b = Builder("forward")
        b.attr("dev", f.dev)
        b.attr("mode", f.mode)
        let sub = f.extra.childExtras
        if f.natAddressStart != nil || f.natPortStart != nil || sub["nat"] != nil {
            var nat = Builder("nat")
            if let s = f.natAddressStart {
                var a = Builder("address")
                a.attr("start", s)
                a.attr("end", f.natAddressEnd)
                nat.add(a.node(sub["nat"]?.childExtras["address"]))
            }
            if let s = f.natPortStart {
                var p = Builder("port")
                p.attr("start", s)
                p.attr("end", f.natPortEnd)
                nat.add(p.node(sub["nat"]?.childExtras["port"]))
            }
            b.add(nat.node(sub["nat"], childOrder: ["address", "port", "ipv6"]))
        }
        return b.node(f.extra, attributeOrder: ["dev", "mode", "managed"], childOrder: ["nat", "pf", "interface", "address", "driver"])
    }

    static func dns(_ d: NetworkDNS) -> XMLNode {
        var b = Builder("dns")
        b.attr("enable", yesNo: d.enable)
        for f in d.forwarders {
            var e = Builder("forwarder")
            e.attr("domain", f.domain)
            e.attr("addr", f.addr)
            b.add(e.node(f.extra))
        }
        for h in d.hosts {
            var e = Builder("host")
            e.attr("ip", h.ip)
            for name in h.hostnames {
                var hn = Builder("hostname")
                hn.text(name)
                e.add(hn.node(h.extra.childExtras["hostname"]))
            }
            b.add(e.node(h.extra, childOrder: ["hostname"]))
        }
        return b.node(d.extra, attributeOrder: ["enable", "forwardPlainNames"], childOrder: ["forwarder", "txt", "host", "srv"])
    }

    static func ip(_ ip: NetworkIP) -> XMLNode {
        var b = Builder("ip")
        b.attr("family", ip.family)
        b.attr("address", ip.address)
        b.attr("netmask", ip.netmask)
        b.attr("prefix", ip.prefix)
        if let d = ip.dhcp {
            var e = Builder("dhcp")
            for r in d.ranges {
                var x = Builder("range")
                x.attr("start", r.start)
                x.attr("end", r.end)
                e.add(x.node(r.extra))
            }
            for h in d.hosts {
                var x = Builder("host")
                x.attr("mac", h.mac)
                x.attr("id", h.id)
                x.attr("name", h.name)
                x.attr("ip", h.ip)
                e.add(x.node(h.extra))
            }
            b.add(e.node(d.extra, childOrder: ["range", "host", "bootp"]))
        }
        return b.node(ip.extra, attributeOrder: ["family", "address", "netmask", "prefix", "localPtr"], childOrder: ["tftp", "dhcp"])
    }
}

// MARK: - Port forwards of a user-mode <interface>

/// One `<portForward>` of a domain `<interface type='user'>` (libvirt's passt syntax), flattened into
/// host port -> guest port pairs.
public struct PortForward: Sendable, Equatable {
    public var proto: String                         // tcp | udp
    public var address: String?                      // host address to listen on
    public var hostPort: Int
    public var guestPort: Int
}

extension Interface {
    /// Upper bound on forwarded ports per interface, so a huge range cannot blow up the argv.
    public static let maxPortForwards = 1024

    /// The `<portForward>` elements (kept verbatim in `extra`), validated and expanded.
    public func portForwards() throws(DomainXMLError) -> [PortForward] {
        var out: [PortForward] = []
        for node in extra.children {
            guard let r = ElementReader(node), r.name == "portForward" else { continue }
            let proto = r.attr("proto") ?? "tcp"
            guard proto == "tcp" || proto == "udp" else { throw err("XML error: invalid portForward proto '\(proto)': expected tcp or udp") }
            let address = r.attr("address")
            if let a = address, IPSubnet.bytes(of: a) == nil { throw err("XML error: invalid portForward address '\(a)'") }
            var included: [(Int, Int)] = []
            var excluded = Set<Int>()
            for x in r.children("range") {
                guard let start = try x.int("start"), (1...65535).contains(start) else {
                    throw err("XML error: portForward range needs a start port between 1 and 65535")
                }
                let end = try x.int("end") ?? start
                guard (start...65535).contains(end) else { throw err("XML error: portForward range end \(end) is below start \(start) or above 65535") }
                if try x.yesNo("exclude") == true {
                    excluded.formUnion(start...end)
                    continue
                }
                let to = try x.int("to") ?? start
                guard to >= 1, to + (end - start) <= 65535 else { throw err("XML error: portForward range 'to' port \(to) is out of range") }
                for p in start...end {
                    included.append((p, to + p - start))
                    guard included.count <= Interface.maxPortForwards else {
                        throw err("XML error: more than \(Interface.maxPortForwards) forwarded ports on one interface")
                    }
                }
            }
            for (h, g) in included where !excluded.contains(h) {
                out.append(PortForward(proto: proto, address: address, hostPort: h, guestPort: g))
            }
        }
        return out
    }
}
