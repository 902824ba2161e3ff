import Foundation
import Hummingbird
import HummingbirdWebSocket
import NIOWebSocket

/// The WebSocket side of the console: the shared event stream and the console proxies.
///
/// A failure found after the upgrade (unknown domain, guest not running, no VNC graphics, read-only
/// connection) closes the socket with code 4000 + the HTTP status the JSON API would give (4404,
/// 4409, 4403, 4502 ...) and the message as the close reason: browsers show neither the status
/// nor the body of a refused upgrade, so this is the only way a page can say what went wrong.
/// The same paths without an upgrade answer the API's JSON errors (and 426 when all is well).
enum LiveRoutes {
    static let consolePath = "/api/v1/connections/:conn/domains/:name/"

    static func register(on router: Router<WebContext>, state: WebState) {
        let hub = EventHub(registry: state.connections, statsInterval: state.config.statsInterval)
        router.ws("/api/v1/events") { inbound, outbound, context in
            try await events(hub: hub, inbound: inbound, outbound: outbound, query: context.request.uri.queryParameters.get("connections"))
        }
        for kind in [ConsoleKind.vnc, .spice, .serial] {
            router.ws(RouterPath(consolePath + kind.rawValue), shouldUpgrade: { request, _ in
                .upgrade(subprotocolHeaders(request))
            }, onUpgrade: { inbound, outbound, context in
                let conn = parameter(context.requestContext.parameters.get("conn"))
                let name = parameter(context.requestContext.parameters.get("name"))
                let target: ConsoleTarget
                do {
                    target = try await ConsoleProxy.resolve(state, conn: conn, name: name, kind: kind)
                } catch {
                    let api = APIError(error)
                    try await outbound.close(.unknown(UInt16(clamping: 4000 + Int(api.status.code))), reason: closeReason(api.message))
                    return
                }
                do {
                    try await ConsoleProxy.run(target, inbound: inbound, outbound: outbound)
                } catch {
                    let api = APIError(error)
                    try? await outbound.close(.unknown(UInt16(clamping: 4000 + Int(api.status.code))), reason: closeReason(api.message))
                }
            })
        }
    }

    /// The console paths without an upgrade: the checks' JSON errors, or 426 when the console could
    /// be opened (curl, or a proxy that stripped the Upgrade header).
    static func registerHTTP(on router: Router<WebContext>, state: WebState) {
        for kind in [ConsoleKind.vnc, .spice, .serial] {
            router.get(RouterPath(consolePath + kind.rawValue)) { _, context -> Response in
                let conn = parameter(context.parameters.get("conn"))
                let name = parameter(context.parameters.get("name"))
                _ = try await ConsoleProxy.resolve(state, conn: conn, name: name, kind: kind)
                throw APIError(.upgradeRequired, "this is a WebSocket endpoint: open it with a WebSocket (Upgrade: websocket)")
            }
        }
        router.get("/api/v1/events") { _, _ -> Response in
            throw APIError(.upgradeRequired, "this is a WebSocket endpoint: open it with a WebSocket (Upgrade: websocket)")
        }
    }

    /// noVNC and spice-html5 ask for the "binary" subprotocol, and browsers drop a socket whose
    /// server does not echo the one they asked for.
    static func subprotocolHeaders(_ request: Request) -> HTTPFields {
        let asked = request.headers[values: .secWebSocketProtocol]
            .flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        var headers = HTTPFields()
        if asked.contains("binary") { headers[.secWebSocketProtocol] = "binary" }
        return headers
    }

    /// Path parameters arrive percent-encoded (a domain name may contain spaces).
    static func parameter(_ raw: String?) -> String {
        guard let raw else { return "" }
        return raw.removingPercentEncoding ?? raw
    }

    /// A close frame's reason holds at most 123 bytes of UTF-8.
    static func closeReason(_ message: String) -> String {
        var reason = message
        while reason.utf8.count > 123 { reason.removeLast() }
        return reason
    }

    /// One tab's event stream: its mailbox is filled by the hub and drained here; messages the tab
    /// sends are ignored (reading them notices when it leaves).
    static func events(hub: EventHub, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, query: String?) async throws {
        let filter: Set<String>? = query.flatMap { q in
            let ids = q.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            return ids.isEmpty ? nil : Set(ids)
        }
        let mailbox = Mailbox()
        let id = await hub.subscribe(filter, mailbox: mailbox)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    while let text = await mailbox.next() {
                        try await outbound.write(.text(text))
                    }
                }
                group.addTask {
                    for try await _ in inbound {}
                    mailbox.close()
                }
                try await group.next()
                mailbox.close()
                group.cancelAll()
            }
        } catch {
            await hub.unsubscribe(id)
            throw error
        }
        await hub.unsubscribe(id)
    }
}
