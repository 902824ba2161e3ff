import Foundation
import Hummingbird
import HummingbirdWSClient
import Hypervisor
import Logging
import NIOCore
import NIOWebSocket
import Synchronization
import Testing
@testable import WebConsole
#if canImport(Glibc)
import Glibc
#endif

/// The web console served in-process on a free loopback port, over the given registry.
final class LiveServer: Sendable {
    let port: Int
    let registry: ConnectionRegistry
    private let task: Task<Void, any Error>
    let dir: String

    static func start(registry: ConnectionRegistry, statsInterval: Double = 0.5) async throws -> LiveServer {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("corral-live-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let config = WebConsoleConfig(host: "127.0.0.1", port: 0, webDir: dir, stateDir: dir, statsInterval: statsInterval)
        let console = WebConsole(config: config, connections: registry)
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "live-test")
        logger.logLevel = .critical
        let task = Task { [logger] in
            try await console.run(logger: logger, onRunning: { portSink.yield($0) })
        }
        var it = ports.makeAsyncIterator()
        guard let port = await it.next() else { throw CocoaError(.fileReadUnknown) }
        return LiveServer(port: port, registry: registry, task: task, dir: dir)
    }

    private init(port: Int, registry: ConnectionRegistry, task: Task<Void, any Error>, dir: String) {
        self.port = port; self.registry = registry; self.task = task; self.dir = dir
    }

    func stop() {
        task.cancel()
        try? FileManager.default.removeItem(atPath: dir)
    }

    func url(_ path: String) -> String { "ws://127.0.0.1:\(port)\(path)" }
}

/// One WebSocket client: collects text messages and binary bytes, sends what it is given, and
/// keeps the close frame the server sent.
final class WSClient: Sendable {
    private struct State {
        var texts: [String] = []
        var bytes: [UInt8] = []
        var close: WebSocketCloseFrame?
        var ended = false
        var failure: String?
    }
    private final class Shared: Sendable { let state = Mutex(State()) }
    private let shared = Shared()
    private let outgoing: AsyncStream<ByteBuffer>.Continuation
    private let task: Task<Void, Never>

    init(_ url: String, protocols: String? = nil) {
        let (stream, sink) = AsyncStream.makeStream(of: ByteBuffer.self)
        outgoing = sink
        var headers = HTTPFields()
        if let protocols { headers[.secWebSocketProtocol] = protocols }
        let config = WebSocketClientConfiguration(maxFrameSize: 1 << 20, additionalHeaders: headers)
        let shared = shared
        task = Task {
            do {
                let frame = try await WebSocketClient.connect(url: url, configuration: config, logger: Logger(label: "ws-test")) { inbound, outbound, _ in
                    await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await buffer in stream { try await outbound.write(.binary(buffer)) }
                        }
                        group.addTask {
                            for try await frame in inbound {
                                shared.state.withLock { s in
                                    if frame.opcode == .text {
                                        s.texts.append(String(buffer: frame.data))
                                    } else {
                                        s.bytes += Array(frame.data.readableBytesView)
                                    }
                                }
                            }
                        }
                        _ = try? await group.next()
                        group.cancelAll()
                    }
                }
                shared.state.withLock { $0.close = frame }
            } catch {
                shared.state.withLock { $0.failure = "\(error)" }
            }
            shared.state.withLock { $0.ended = true }
        }
    }

    func send(_ bytes: [UInt8]) { outgoing.yield(ByteBuffer(bytes: bytes)) }
    func send(_ text: String) { send(Array(text.utf8)) }

    var texts: [String] { shared.state.withLock { $0.texts } }
    var bytes: [UInt8] { shared.state.withLock { $0.bytes } }
    var text: String { String(decoding: bytes, as: UTF8.self) }
    var closeCode: Int? {
        shared.state.withLock { s in
            guard let code = s.close?.closeCode else { return nil }
            return Int(WebSocketErrorCodeNumber(code))
        }
    }
    var closeReason: String? { shared.state.withLock { $0.close?.reason } }
    var ended: Bool { shared.state.withLock { $0.ended } }

    /// The JSON messages received so far.
    var messages: [[String: Any]] {
        texts.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    func close() {
        outgoing.finish()
        task.cancel()
    }
}

/// The close code's number (NIO keeps it as an enum).
func WebSocketErrorCodeNumber(_ code: WebSocketErrorCode) -> UInt16 {
    var buffer = ByteBuffer()
    buffer.write(webSocketErrorCode: code)
    return buffer.readInteger(as: UInt16.self) ?? 0
}

/// Polls `cond` until it holds or `seconds` pass.
func eventually(_ seconds: Double, _ cond: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if cond() { return true }
        try? await Task.sleep(nanoseconds: 50_000_000)
    }
    return cond()
}

/// A plain HTTP exchange over a socket, for what the WebSocket client hides: the status and
/// headers of an upgrade, and the JSON body of a refused console. Reads until the server closes
/// or, for a 101, until the end of the headers.
func rawHTTP(port: Int, _ request: String) async throws -> String {
    try await Task.detached {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer { Glibc.close(fd) }
        var tv = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw POSIXError(.ECONNREFUSED) }
        let out = Array(request.utf8)
        guard write(fd, out, out.count) == out.count else { throw POSIXError(.EIO) }
        var response: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            response += buf[0..<n]
            let text = String(decoding: response, as: UTF8.self)
            if text.hasPrefix("HTTP/1.1 101"), text.contains("\r\n\r\n") { break }
            // A complete body of the announced length ends a keep-alive response.
            if let head = text.range(of: "\r\n\r\n"),
               let cl = text[..<head.lowerBound].split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") }),
               let length = Int(cl.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)),
               response.count - text[..<head.upperBound].utf8.count >= length { break }
        }
        return String(decoding: response, as: UTF8.self)
    }.value
}

/// The JSON body of an HTTP response.
func jsonBody(_ response: String) -> [String: Any]? {
    guard let head = response.range(of: "\r\n\r\n") else { return nil }
    return (try? JSONSerialization.jsonObject(with: Data(response[head.upperBound...].utf8))) as? [String: Any]
}

func get(_ path: String) -> String {
    "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
}

func upgrade(_ path: String, protocols: String? = nil) -> String {
    "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        + (protocols.map { "Sec-WebSocket-Protocol: \($0)\r\n" } ?? "") + "\r\n"
}
