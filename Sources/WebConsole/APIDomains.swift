import DomainXML
import Foundation
import Hummingbird
import Hypervisor

/// /connections/{conn}/domains: list, define, lifecycle, XML, stats, devices, addresses, delete.
enum APIDomains {
    struct DeviceBody: Decodable {
        var xml: String
        var live: Bool?
        var config: Bool?
    }

    struct StatsJSON: Codable, Sendable {
        struct Disk: Codable, Sendable { var name: String; var rdBytes: UInt64; var wrBytes: UInt64; var rdReqs: UInt64; var wrReqs: UInt64 }
        struct Net: Codable, Sendable { var name: String; var rxBytes: UInt64; var txBytes: UInt64; var rxPackets: UInt64; var txPackets: UInt64 }
        var time: Int64
        var cpuTimeNs: UInt64
        var vcpus: Int
        var memoryKiB: UInt64
        var maxMemoryKiB: UInt64
        var balloonKiB: UInt64?
        var rssKiB: UInt64?
        var disks: [Disk]
        var nets: [Net]
    }

    struct InterfaceJSON: Codable, Sendable {
        struct Addr: Codable, Sendable { var type: String; var addr: String; var prefix: UInt32 }
        var name: String
        var hwaddr: String?
        var addrs: [Addr]
    }

    static let actions = ["start", "shutdown", "destroy", "reboot", "reset", "suspend", "resume"]

    static func register(on api: RouterGroup<WebContext>, state: WebState) {
        let base = "connections/{conn}/domains"

        api.get(RouterPath(base)) { _, context in
            let d = try await state.connections.driver(try context.requireParameter("conn"))
            let refs = try await d.listAllDomains(flags: [])
            var out: [DomainSummary] = []
            for ref in refs.sorted(by: { $0.name < $1.name }) {
                do {
                    out.append(try await DomainSummary.load(d, ref))
                } catch let e as VirError where e.code == .noDomain {
                    continue  // undefined while we were listing
                }
            }
            return try Reply.json(out)
        }

        api.post(RouterPath(base)) { request, context in
            let d = try await state.connections.driver(try context.requireParameter("conn"))
            let xml = try await request.bodyText()
            guard !xml.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw APIError(.badRequest, "request body must be a domain XML document", code: .xmlError)
            }
            var ref = try await d.defineDomain(xml: xml, validate: false)
            if request.flag("start") {
                do {
                    ref = try await d.startDomain(ref, flags: [])
                } catch {
                    var e = APIError.mapping(error)
                    e.message = "domain '\(ref.name)' was defined but did not start: \(e.message)"
                    throw e
                }
            }
            return try Reply.json(try await DomainSummary.load(d, ref), status: .created)
        }

        api.get(RouterPath("\(base)/{name}")) { _, context in
            let (d, ref) = try await lookup(state, context)
            return try Reply.json(try await DomainSummary.load(d, ref))
        }

        api.delete(RouterPath("\(base)/{name}")) { request, context in
            let conn = try context.requireParameter("conn")
            let (d, ref) = try await lookup(state, context)
            let local = (try? await state.connections.info(conn))?.local ?? false
            let warnings = try await DomainDeletion.delete(d, ref, storage: request.flag("storage"), localHost: local)
            return warnings.isEmpty ? Reply.noContent() : try Reply.json(Warnings(warnings: warnings))
        }

        api.post(RouterPath("\(base)/{name}/{action}")) { _, context in
            let action = try context.requireParameter("action")
            guard actions.contains(action) else {
                throw APIError(.notFound, "unknown domain action '\(action)'; expected one of \(actions.joined(separator: ", "))", code: .invalidArg)
            }
            let (d, ref) = try await lookup(state, context)
            switch action {
            case "start": _ = try await d.startDomain(ref, flags: [])
            case "shutdown": try await d.shutdownDomain(ref, flags: 0)
            case "destroy": try await d.destroyDomain(ref, flags: 0)
            case "reboot": try await d.rebootDomain(ref, flags: 0)
            case "reset": try await d.resetDomain(ref)
            case "suspend": try await d.suspendDomain(ref)
            default: try await d.resumeDomain(ref)
            }
            // A transient guest that was stopped no longer exists: nothing left to describe.
            guard let now = try? await d.lookupDomain(uuid: ref.uuid) else { return Reply.noContent() }
            return try Reply.json(try await DomainSummary.load(d, now))
        }

        api.get(RouterPath("\(base)/{name}/xml")) { request, context in
            let (d, ref) = try await lookup(state, context)
            return Reply.xml(try await d.domainXML(ref, flags: request.flag("inactive") ? [.inactive] : []))
        }

        api.put(RouterPath("\(base)/{name}/xml")) { request, context in
            let (d, ref) = try await lookup(state, context)
            let xml = try await request.bodyText()
            // Our parser names the problem (element, attribute); a definition it accepts must
            // still describe this guest, or the "edit" would define a second one.
            let def: Domain
            do { def = try Domain(xml: xml) } catch let error as DomainXMLError {
                throw APIError(.badRequest, error.message, code: .xmlError, domain: .domain)
            }
            if def.name != ref.name {
                throw APIError(.badRequest, "the XML describes domain '\(def.name)', not '\(ref.name)' (renaming is not supported here)", code: .invalidArg)
            }
            if let uuid = def.uuid, uuid != ref.uuid {
                throw APIError(.badRequest, "the XML's uuid \(uuid.lowercasedString) is not domain '\(ref.name)''s \(ref.uuid.lowercasedString)", code: .invalidArg)
            }
            // Without a uuid, define would take it for a second guest of the same name (virsh
            // edit keeps the uuid too).
            var text = xml
            if def.uuid == nil {
                var withUUID = def
                withUUID.uuid = ref.uuid
                text = withUUID.formatXML()
            }
            let new = try await d.defineDomain(xml: text, validate: false)
            return try Reply.json(try await DomainSummary.load(d, new))
        }

        api.put(RouterPath("\(base)/{name}/autostart")) { request, context in
            struct Body: Decodable { var autostart: Bool }
            let (d, ref) = try await lookup(state, context)
            let body = try await request.decodeJSON(Body.self)
            try await d.setAutostart(ref, body.autostart)
            return try Reply.json(try await DomainSummary.load(d, ref))
        }

        api.get(RouterPath("\(base)/{name}/stats")) { _, context in
            let (d, ref) = try await lookup(state, context)
            return try Reply.json(try await stats(d, ref))
        }

        api.get(RouterPath("\(base)/{name}/devices")) { request, context in
            let (d, ref) = try await lookup(state, context)
            let xml = try await d.domainXML(ref, flags: request.flag("inactive") ? [.inactive] : [])
            let def: Domain
            do { def = try Domain(xml: xml) } catch let error as DomainXMLError {
                throw APIError(.internalServerError, "the host's XML for '\(ref.name)' does not parse: \(error.message)", code: .xmlError)
            }
            return try Reply.json(DeviceList.list(def))
        }

        for (path, op) in [("devices", "attach"), ("devices/detach", "detach")] {
            api.post(RouterPath("\(base)/{name}/\(path)")) { request, context in
                try await changeDevice(op, request, context, state)
            }
        }
        api.put(RouterPath("\(base)/{name}/devices")) { request, context in
            try await changeDevice("update", request, context, state)
        }

        api.get(RouterPath("\(base)/{name}/interfaces")) { request, context in
            let (d, ref) = try await lookup(state, context)
            let sources: [InterfaceAddressSource]
            switch request.uri.queryParameters["source"].map(String.init) {
            case nil: sources = [.lease, .agent, .arp]
            case "lease": sources = [.lease]
            case "agent": sources = [.agent]
            case "arp": sources = [.arp]
            case let other?: throw APIError(.badRequest, "unknown address source '\(other)'; expected lease, agent or arp", code: .invalidArg)
            }
            // virt-manager's order: the DHCP leases, then the guest agent, then the host's ARP table.
            var firstError: (any Error)?
            var answered = false
            for source in sources {
                do {
                    let ifaces = try await d.interfaceAddresses(ref, source: source, flags: 0)
                    answered = true
                    if ifaces.contains(where: { !$0.addrs.isEmpty }) || source == sources.last {
                        return try Reply.json(ifaces.map(json))
                    }
                } catch {
                    if firstError == nil { firstError = error }
                }
            }
            if !answered, let firstError { throw firstError }
            return try Reply.json([InterfaceJSON]())
        }
    }

    static func lookup(_ state: WebState, _ context: WebContext) async throws -> (any HypervisorDriver, DomainRef) {
        let d = try await state.connections.driver(try context.requireParameter("conn"))
        return (d, try await d.lookupDomain(name: try context.requireParameter("name")))
    }

    /// attach/detach/update with virsh's --current semantics made explicit: the live guest when
    /// it runs and the persistent config when there is one, unless the body says otherwise.
    static func changeDevice(_ op: String, _ request: Request, _ context: WebContext, _ state: WebState) async throws -> Response {
        let (d, ref) = try await lookup(state, context)
        let body = try await request.decodeJSON(DeviceBody.self)
        guard !body.xml.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw APIError(.badRequest, "'xml' must hold one device element", code: .xmlError)
        }
        let st = try await d.domainState(ref).state
        let running = st != .shutoff && st != .noState
        var flags: DeviceModifyFlags = []
        if body.live ?? running { flags.insert(.live) }
        let persistent = try await d.isPersistent(ref)
        if body.config ?? persistent { flags.insert(.config) }
        switch op {
        case "attach": try await d.attachDevice(ref, xml: body.xml, flags: flags)
        case "detach": try await d.detachDevice(ref, xml: body.xml, flags: flags)
        default: try await d.updateDevice(ref, xml: body.xml, flags: flags)
        }
        let now = try await d.lookupDomain(uuid: ref.uuid)
        return try Reply.json(try await DomainSummary.load(d, now))
    }

    static func json(_ i: DomainInterfaceAddresses) -> InterfaceJSON {
        InterfaceJSON(name: i.name, hwaddr: i.hwaddr,
                      addrs: i.addrs.map { .init(type: $0.type == .ipv4 ? "ipv4" : "ipv6", addr: $0.addr, prefix: $0.prefix) })
    }

    /// virsh domstats' counters for one guest, in the shape the graphs want.
    static func stats(_ d: any HypervisorDriver, _ ref: DomainRef) async throws -> StatsJSON {
        let info = try await d.domainInfo(ref)
        let records = try await d.allDomainStats([ref], types: .all)
        var p: [String: TypedValue] = [:]
        for param in records.first(where: { $0.domain.uuid == ref.uuid })?.params ?? [] { p[param.field] = param.value }
        func num(_ key: String) -> UInt64? {
            switch p[key] {
            case .int(let v)?: return UInt64(clamping: v)
            case .uint(let v)?: return UInt64(v)
            case .llong(let v)?: return UInt64(clamping: v)
            case .ullong(let v)?: return v
            case .double(let v)?: return v.isFinite && v >= 0 && v < 1.8e19 ? UInt64(v) : nil
            default: return nil
            }
        }
        func str(_ key: String) -> String? { if case .string(let s)? = p[key] { return s } else { return nil } }
        // Counts come from the host: bound them so a wrong one cannot make us loop for long.
        let blocks = min(Int(clamping: num("block.count") ?? 0), 256)
        let nets = min(Int(clamping: num("net.count") ?? 0), 256)
        return StatsJSON(
            time: Int64(Date().timeIntervalSince1970 * 1000),
            cpuTimeNs: num("cpu.time") ?? info.cpuTimeNs,
            vcpus: Int(clamping: num("vcpu.current") ?? UInt64(info.nrVirtCPU)),
            memoryKiB: info.memoryKiB, maxMemoryKiB: info.maxMemKiB,
            balloonKiB: num("balloon.current"), rssKiB: num("balloon.rss"),
            disks: (0..<blocks).map { i in
                .init(name: str("block.\(i).name") ?? "block\(i)", rdBytes: num("block.\(i).rd.bytes") ?? 0,
                      wrBytes: num("block.\(i).wr.bytes") ?? 0, rdReqs: num("block.\(i).rd.reqs") ?? 0,
                      wrReqs: num("block.\(i).wr.reqs") ?? 0)
            },
            nets: (0..<nets).map { i in
                .init(name: str("net.\(i).name") ?? "net\(i)", rxBytes: num("net.\(i).rx.bytes") ?? 0,
                      txBytes: num("net.\(i).tx.bytes") ?? 0, rxPackets: num("net.\(i).rx.pkts") ?? 0,
                      txPackets: num("net.\(i).tx.pkts") ?? 0)
            })
    }
}
