import Foundation
import Hummingbird
import Hypervisor

/// /connections: virt-manager's connection list (the daemon's own hypervisor plus added URIs).
enum APIConnections {
    struct ConnectionJSON: Codable, Sendable {
        var id: String
        var uri: String
        var readOnly: Bool
        var local: Bool
        var hostname: String?
        var hypervisor: String?
        var connected: Bool
        var error: String?
    }

    struct HostJSON: Codable, Sendable {
        struct Node: Codable, Sendable {
            var model: String
            var memoryKiB: UInt64
            var cpus: Int32
            var mhz: Int32
            var nodes: Int32
            var sockets: Int32
            var cores: Int32
            var threads: Int32
        }
        var id: String
        var uri: String
        var hostname: String
        var hypervisor: String
        var version: String
        var readOnly: Bool
        var node: Node
    }

    struct AddBody: Decodable {
        var uri: String
        var readOnly: Bool?
    }

    /// How long the list waits for one host: a dead remote shows as disconnected, not as a hung page.
    static let listDeadline = 10.0

    static func register(on api: RouterGroup<WebContext>, state: WebState) {
        api.get("connections") { _, _ in
            let infos = await state.connections.list()
            let rows = await withTaskGroup(of: (Int, ConnectionJSON).self) { group in
                for (i, info) in infos.enumerated() {
                    group.addTask { (i, await describe(info, state: state)) }
                }
                var out = [ConnectionJSON?](repeating: nil, count: infos.count)
                for await (i, row) in group { out[i] = row }
                return out.compactMap { $0 }
            }
            return try Reply.json(rows)
        }

        api.post("connections") { request, _ in
            let body = try await request.decodeJSON(AddBody.self)
            let info = try await state.connections.add(uri: body.uri, readOnly: body.readOnly ?? false)
            return try Reply.json(await describe(info, state: state), status: .created)
        }

        api.delete("connections/{conn}") { _, context in
            try await state.connections.remove(try context.requireParameter("conn"))
            return Reply.noContent()
        }

        api.get("connections/{conn}/host") { _, context in
            let id = try context.requireParameter("conn")
            let info = try await state.connections.info(id)
            let d = try await state.connections.driver(id)
            let n = try await d.nodeInfo()
            let v = try await d.hypervisorVersion()
            let host = HostJSON(
                id: id, uri: info.uri, hostname: try await d.hostname(), hypervisor: try await d.hypervisorType(),
                version: "\(v / 1_000_000).\(v / 1_000 % 1_000).\(v % 1_000)", readOnly: info.readOnly,
                node: .init(model: n.model, memoryKiB: n.memoryKiB, cpus: n.cpus, mhz: n.mhz, nodes: n.nodes,
                            sockets: n.sockets, cores: n.cores, threads: n.threads))
            return try Reply.json(host)
        }
    }

    /// One row of the list: opens the connection if needed and asks for its host name; a failure
    /// is reported in the row (and a broken remote connection is dropped to be reopened later).
    static func describe(_ info: ConnectionRegistry.Info, state: WebState) async -> ConnectionJSON {
        var row = ConnectionJSON(id: info.id, uri: info.uri, readOnly: info.readOnly, local: info.local, connected: false)
        do {
            let (hostname, hypervisor) = try await withDeadline(listDeadline, "connection '\(info.uri)'") {
                let d = try await state.connections.driver(info.id)
                return (try await d.hostname(), try await d.hypervisorType())
            }
            row.hostname = hostname
            row.hypervisor = hypervisor
            row.connected = true
        } catch {
            let api = APIError.mapping(error)
            row.error = api.message
            if api.brokenConnection || api.status == .gatewayTimeout { await state.connections.invalidate(info.id) }
        }
        return row
    }
}
