import DomainXML
import Foundation
import Hummingbird
import Hypervisor

/// /connections/{conn}/networks: virtual networks, created from XML or from virt-manager's
/// simple form (name, forward mode, IPv4 subnet, DHCP).
enum APINetworks {
    struct NetworkJSON: Codable, Sendable {
        var name: String
        var uuid: String
        var active: Bool
        var persistent: Bool
        var autostart: Bool
        var bridge: String?
        var forward: String
        var ip: String?
        var netmask: String?
        var dhcpStart: String?
        var dhcpEnd: String?
    }

    struct LeaseJSON: Codable, Sendable {
        var iface: String
        var mac: String?
        var ipaddr: String
        var prefix: UInt32
        var hostname: String?
        var expiry: Int64
        var type: String
    }

    struct CreateBody: Decodable {
        var xml: String?
        var name: String?
        var forward: String?
        var ipv4: String?
        var dhcp: Bool?
        var start: Bool?
        var autostart: Bool?
    }

    static let forwardModes = ["nat", "isolated", "route", "open"]

    static func register(on api: RouterGroup<WebContext>, state: WebState) {
        let base = "connections/{conn}/networks"

        api.get(RouterPath(base)) { _, context in
            let d = try await state.connections.driver(try context.requireParameter("conn"))
            var out: [NetworkJSON] = []
            for ref in try await d.listAllNetworks(flags: []).sorted(by: { $0.name < $1.name }) {
                do { out.append(try await json(d, ref)) } catch let e as VirError where e.code == .noNetwork { continue }
            }
            return try Reply.json(out)
        }

        api.post(RouterPath(base)) { request, context in
            let d = try await state.connections.driver(try context.requireParameter("conn"))
            let body = try await request.decodeJSON(CreateBody.self)
            let xml = try networkXML(body)
            // Creating is not editing: a name in use is refused instead of redefining that network.
            if let name = (try? NetworkDef(xml: xml))?.name, (try? await d.lookupNetwork(name: name)) != nil {
                throw APIError(.conflict, "network '\(name)' already exists", code: .networkExist, domain: .net)
            }
            let ref = try await d.defineNetwork(xml: xml, flags: 0)
            do {
                if body.start ?? false { try await d.startNetwork(ref) }
                if body.autostart ?? false { try await d.setNetworkAutostart(ref, true) }
            } catch {
                var e = APIError.mapping(error)
                e.message = "network '\(ref.name)' was defined, but: \(e.message)"
                throw e
            }
            return try Reply.json(try await json(d, ref), status: .created)
        }

        api.get(RouterPath("\(base)/{net}")) { _, context in
            let (d, ref) = try await lookup(state, context)
            return try Reply.json(try await json(d, ref))
        }

        api.post(RouterPath("\(base)/{net}/{action}")) { _, context in
            let action = try context.requireParameter("action")
            guard action == "start" || action == "destroy" else {
                throw APIError(.notFound, "unknown network action '\(action)'; expected start or destroy", code: .invalidArg)
            }
            let (d, ref) = try await lookup(state, context)
            if action == "start" { try await d.startNetwork(ref) } else { try await d.destroyNetwork(ref) }
            // A transient network is gone once destroyed.
            guard let now = try? await d.lookupNetwork(uuid: ref.uuid) else { return Reply.noContent() }
            return try Reply.json(try await json(d, now))
        }

        api.delete(RouterPath("\(base)/{net}")) { _, context in
            let (d, ref) = try await lookup(state, context)
            // As virt-manager: stop it first, otherwise undefine would leave it running transient.
            if try await d.networkIsActive(ref) { try await d.destroyNetwork(ref) }
            if let now = try? await d.lookupNetwork(uuid: ref.uuid), try await d.networkIsPersistent(now) {
                try await d.undefineNetwork(now)
            }
            return Reply.noContent()
        }

        api.get(RouterPath("\(base)/{net}/leases")) { _, context in
            let (d, ref) = try await lookup(state, context)
            let leases = try await d.networkDHCPLeases(ref, mac: nil)
            return try Reply.json(leases.map {
                LeaseJSON(iface: $0.iface, mac: $0.mac, ipaddr: $0.ipaddr, prefix: $0.prefix, hostname: $0.hostname,
                          expiry: $0.expiryTime, type: $0.type == .ipv4 ? "ipv4" : "ipv6")
            })
        }
    }

    static func lookup(_ state: WebState, _ context: WebContext) async throws -> (any HypervisorDriver, NetworkRef) {
        let d = try await state.connections.driver(try context.requireParameter("conn"))
        return (d, try await d.lookupNetwork(name: try context.requireParameter("net")))
    }

    static func json(_ d: any HypervisorDriver, _ ref: NetworkRef) async throws -> NetworkJSON {
        let active = try await d.networkIsActive(ref)
        let def = try? NetworkDef(xml: try await d.networkXML(ref, flags: []))
        let ip = def?.ipv4
        var netmask = ip?.netmask
        if netmask == nil, let ip { netmask = IPv4.format(IPv4.netmask(prefix: ip.prefixLength)) }
        let range = ip?.dhcp?.ranges.first
        var bridge = def?.bridge?.name
        if bridge == nil, active { bridge = try? await d.networkBridgeName(ref) }
        return NetworkJSON(
            name: ref.name, uuid: ref.uuid.lowercasedString, active: active,
            persistent: try await d.networkIsPersistent(ref), autostart: (try? await d.networkAutostart(ref)) ?? false,
            bridge: bridge, forward: (def?.forwardMode).map { $0 == "none" ? "isolated" : $0 } ?? "isolated",
            ip: ip?.address, netmask: ip == nil ? nil : netmask, dhcpStart: range?.start, dhcpEnd: range?.end)
    }

    /// The caller's XML, or a network like virt-manager's "Create virtual network" makes: the
    /// given address as the host's, and a DHCP range over the rest of the subnet.
    static func networkXML(_ body: CreateBody) throws -> String {
        if let xml = body.xml, !xml.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return xml }
        guard let name = body.name?.trimmingCharacters(in: .whitespaces), !name.isEmpty else {
            throw APIError(.badRequest, "a new network needs a 'name' (or 'xml')", code: .invalidArg)
        }
        let forward = body.forward ?? "nat"
        guard forwardModes.contains(forward) else {
            throw APIError(.badRequest, "unknown forward mode '\(forward)'; expected one of \(forwardModes.joined(separator: ", "))", code: .invalidArg)
        }
        var lines = ["<network>", "  <name>\(xmlEscape(name))</name>"]
        if forward != "isolated" { lines.append("  <forward mode='\(forward)'/>") }
        if let cidr = body.ipv4?.trimmingCharacters(in: .whitespaces), !cidr.isEmpty {
            let parts = cidr.split(separator: "/", maxSplits: 1).map(String.init)
            guard let first = parts.first, let addr = IPv4.parse(first), let prefix = parts.count == 2 ? Int(parts[1]) : 24,
                  (8...30).contains(prefix) else {
                throw APIError(.badRequest, "invalid IPv4 network '\(cidr)': expected ADDRESS/PREFIX such as 192.168.150.1/24 (prefix 8-30)", code: .invalidArg)
            }
            let mask = IPv4.netmask(prefix: prefix)
            let network = addr & mask, broadcast = network | ~mask
            guard addr != network, addr != broadcast else {
                throw APIError(.badRequest, "invalid IPv4 network '\(cidr)': \(parts[0]) is the subnet's network or broadcast address, not a host address", code: .invalidArg)
            }
            lines.append("  <ip address='\(IPv4.format(addr))' netmask='\(IPv4.format(mask))'>")
            if body.dhcp ?? true {
                // The longer side of the subnet around the host's own address.
                let (start, end) = broadcast - 1 - addr >= addr - network - 1 ? (addr + 1, broadcast - 1) : (network + 1, addr - 1)
                if start <= end {
                    lines += ["    <dhcp>", "      <range start='\(IPv4.format(start))' end='\(IPv4.format(end))'/>", "    </dhcp>"]
                }
            }
            lines.append("  </ip>")
        } else if body.dhcp == true {
            throw APIError(.badRequest, "DHCP needs an 'ipv4' network such as 192.168.150.1/24", code: .invalidArg)
        }
        lines.append("</network>")
        return lines.joined(separator: "\n") + "\n"
    }
}
