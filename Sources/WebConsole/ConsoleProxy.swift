import DomainXML
import Foundation
import Hypervisor
import NIOCore
import NIOPosix
import HummingbirdWebSocket

/// What a console WebSocket connects to.
enum ConsoleKind: String, Sendable {
    case vnc, spice, serial
}

/// Where a console's bytes come from, found before the proxy starts.
enum ConsoleTarget: Sendable {
    /// The guest's VNC or SPICE server.
    case tcp(host: String, port: Int)
    /// The guest's serial console through the driver (works over the remote protocol too).
    case serial(driver: any HypervisorDriver, domain: DomainRef)
}

enum ConsoleProxy {
    /// Largest binary frame we send: the default frame limit of Hummingbird's and most clients.
    static let maxFrame = 1 << 14

    /// Checks the connection, the domain and its graphics, in the order a user would fix them:
    /// unknown connection or domain (404), read-only connection (403), domain not running or
    /// without that kind of graphics (409).
    static func resolve(_ state: WebState, conn: String, name: String, kind: ConsoleKind) async throws -> ConsoleTarget {
        do {
            let info = try await state.connections.info(conn)
            let driver = try await state.connections.driver(conn)
            let dom = try await driver.lookupDomain(name: name)
            if info.readOnly {
                // libvirt refuses virDomainOpenConsole on a read-only connection; a graphical
                // console would take keyboard and mouse input the same way.
                throw VirError.readOnly(kind == .serial ? "virDomainOpenConsole" : "opening the \(kind.rawValue.uppercased()) console")
            }
            let st = try await driver.domainState(dom).state
            guard [.running, .paused, .blocked, .shutdown, .pmSuspended].contains(st) else {
                throw VirError(.operationInvalid, "Requested operation is not valid: domain '\(dom.name)' is not running")
            }
            if kind == .serial { return .serial(driver: driver, domain: dom) }
            let xml = try await driver.domainXML(dom, flags: [])
            let domain = try Domain(xml: xml)
            guard let g = domain.devices.graphics.first(where: { $0.type == kind.rawValue }) else {
                throw VirError(.operationInvalid, "Requested operation is not valid: domain '\(dom.name)' has no \(kind.rawValue.uppercased()) graphics")
            }
            guard let port = g.port, port > 0, port < 65536 else {
                throw VirError(.operationInvalid, "Requested operation is not valid: the \(kind.rawValue.uppercased()) server of domain '\(dom.name)' has no port")
            }
            return .tcp(host: try host(listen: g.listen, connectionURI: info.local ? nil : info.uri), port: port)
        } catch let e as APIError {
            throw e
        } catch let e as DomainXMLError {
            throw APIError(.internalServerError, "cannot read the live XML: \(e)")
        } catch {
            throw APIError(error)
        }
    }

    /// Where to reach a graphics server: a wildcard or loopback listen address means "the host the
    /// guest runs on" — this machine for a local or qemu+unix connection, the URI's host for a
    /// remote one. A display on another machine's loopback is out of reach without a tunnel.
    static func host(listen: String?, connectionURI: String?) throws -> String {
        let wildcard: Set<String> = ["", "0.0.0.0", "::"]
        let loopback: Set<String> = ["127.0.0.1", "::1", "localhost"]
        let listen = listen ?? ""
        if !wildcard.contains(listen) && !loopback.contains(listen) { return listen }
        let here = listen == "::1" || listen == "::" ? "::1" : "127.0.0.1"
        guard let connectionURI else { return here }
        let uri = try? ConnectionURI(parsing: connectionURI)
        if let host = uri?.host, !host.isEmpty {
            let hostIsHere = loopback.contains(host) || host.hasPrefix("127.") || host == "[::1]"
            if loopback.contains(listen) && !hostIsHere {
                throw APIError(.conflict, "the display listens on \(listen) of \(host), which this console cannot reach without an SSH tunnel (not built); make it listen on an address this machine reaches", code: .operationInvalid)
            }
            return host
        }
        // Host-less remote URIs: qemu+unix reaches a daemon on this machine; others (ext) may not.
        guard uri?.transport == "unix" else {
            throw APIError(.conflict, "cannot tell which machine '\(connectionURI)' runs its guests on, so its display cannot be reached", code: .operationInvalid)
        }
        return here
    }

    /// Pipes raw bytes between the WebSocket and the target until either side closes.
    static func run(_ target: ConsoleTarget, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        switch target {
        case .tcp(let host, let port):
            try await pipeTCP(host: host, port: port, inbound: inbound, outbound: outbound)
        case .serial(let driver, let dom):
            let stream = try await driver.openConsole(dom, devName: nil, force: true)
            try await pipeStream(stream, inbound: inbound, outbound: outbound)
        }
    }

    private static func pipeTCP(host: String, port: Int, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .connectTimeout(.seconds(10))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await channel.executeThenClose { tcpIn, tcpOut in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await var buffer in tcpIn {
                        while buffer.readableBytes > 0, let slice = buffer.readSlice(length: min(buffer.readableBytes, maxFrame)) {
                            try await outbound.write(.binary(slice))
                        }
                    }
                    // The guest's server hung up: say so, which also ends the browser's side.
                    try? await outbound.close(.normalClosure, reason: "the guest's display server closed the connection")
                }
                group.addTask {
                    for try await frame in inbound {
                        try await tcpOut.write(frame.data)
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    private static func pipeStream(_ stream: any ByteStream, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while let chunk = try await stream.read() {
                    var rest = chunk[...]
                    while !rest.isEmpty {
                        let part = rest.prefix(maxFrame)
                        rest = rest.dropFirst(part.count)
                        try await outbound.write(.binary(ByteBuffer(bytes: part)))
                    }
                }
                try? await outbound.close(.normalClosure, reason: "the console closed")
            }
            group.addTask {
                for try await frame in inbound {
                    try await stream.write(Array(frame.data.readableBytesView))
                }
            }
            do {
                try await group.next()
            } catch {
                await stream.close()
                group.cancelAll()
                throw error
            }
            // Either side ended: closing the stream wakes a pending read, so the group can finish.
            await stream.close()
            group.cancelAll()
        }
    }
}
