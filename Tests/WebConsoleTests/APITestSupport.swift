import Foundation
import Hummingbird
import HummingbirdTesting
import Hypervisor
import NIOCore
import TestDriver
import Testing
@testable import WebConsole

/// A WebConsole served on a free port by `WebConsole.run`, as corrald runs it, and a client for it.
final class ConsoleHarness: Sendable {
    let port: Int
    let host: String
    let task: Task<Void, any Error>
    let root: String

    /// `local`: the "local" connection's driver. Added connections open through `opener`
    /// (default: a fresh TestDriver, wrapped read-only when asked).
    static func start(local: any HypervisorDriver = TestDriver(), token: String? = nil, host: String = "127.0.0.1",
                      webDir: String? = nil, vendorDirs: [String: String] = [:],
                      opener: ConnectionOpener? = nil) async throws -> ConsoleHarness {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("webconsole-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let web = webDir ?? root + "/web"
        if webDir == nil {
            try FileManager.default.createDirectory(atPath: web + "/js", withIntermediateDirectories: true)
            try "<!doctype html><title>Corral</title>".write(toFile: web + "/index.html", atomically: true, encoding: .utf8)
            try "export const x = 1;".write(toFile: web + "/js/app.js", atomically: true, encoding: .utf8)
        }
        let config = WebConsoleConfig(host: host, port: 0, token: token, webDir: web, vendorDirs: vendorDirs, stateDir: root + "/state")
        let registry = ConnectionRegistry(localURI: "test:///default", local: local, opener: opener ?? { uri, readOnly in
            guard uri.hasPrefix("test:///") else { throw VirError(.noConnect, "no connection driver available for \(uri)") }
            let d = TestDriver()
            return readOnly ? ReadOnlyDriver(d) : d
        }, storeFile: nil)
        let console = WebConsole(config: config, connections: registry)
        let (ports, cont) = AsyncStream.makeStream(of: Int.self)
        let task = Task { try await console.run { cont.yield($0) } }
        var it = ports.makeAsyncIterator()
        guard let port = await it.next() else { throw APIError(.internalServerError, "console did not start") }
        return ConsoleHarness(port: port, host: host == "0.0.0.0" ? "127.0.0.1" : host, task: task, root: root)
    }

    private init(port: Int, host: String, task: Task<Void, any Error>, root: String) {
        self.port = port; self.host = host; self.task = task; self.root = root
    }

    func stop() async {
        task.cancel()
        _ = await task.result
        try? FileManager.default.removeItem(atPath: root)
    }

    struct Reply: Sendable {
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var body: ByteBuffer
        var text: String { String(buffer: body) }
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) }
        var object: [String: Any] { json as? [String: Any] ?? [:] }
        var array: [[String: Any]] { json as? [[String: Any]] ?? [] }
        /// The API error's message.
        var message: String { (object["error"] as? [String: Any])?["message"] as? String ?? "" }
    }

    /// One request on its own connection. `connectTo` overrides the address connected to.
    func request(_ method: HTTPRequest.Method, _ path: String, json: Any? = nil, text: String? = nil, bytes: [UInt8]? = nil,
                 headers: HTTPFields = [:], connectTo: String? = nil) async throws -> Reply {
        var headers = headers
        var body: ByteBuffer?
        if let json {
            body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json))
            headers[.contentType] = "application/json"
        } else if let text {
            body = ByteBuffer(string: text)
            if headers[.contentType] == nil { headers[.contentType] = "application/xml" }
        } else if let bytes {
            body = ByteBuffer(bytes: bytes)
            headers[.contentType] = "application/octet-stream"
        }
        let req = TestClient.Request(path, method: method, authority: "localhost", headers: headers, body: body)
        let r = try await TestClient.withClient(host: connectTo ?? host, port: port, configuration: .init(timeout: .seconds(60))) {
            try await $0.execute(req)
        }
        return Reply(status: r.status, headers: r.headers, body: r.body ?? ByteBuffer())
    }

    func get(_ path: String, headers: HTTPFields = [:]) async throws -> Reply { try await request(.get, path, headers: headers) }
}

/// Runs `body` with a started console and always stops it.
func withConsole(local: any HypervisorDriver = TestDriver(), token: String? = nil, host: String = "127.0.0.1",
                 webDir: String? = nil, vendorDirs: [String: String] = [:],
                 _ body: (ConsoleHarness) async throws -> Void) async throws {
    let h = try await ConsoleHarness.start(local: local, token: token, host: host, webDir: webDir, vendorDirs: vendorDirs)
    do { try await body(h) } catch { await h.stop(); throw error }
    await h.stop()
}

enum TestPaths {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static var corrald: String? {
        let candidates = [Bundle.main.bundleURL.appendingPathComponent("corrald").path,
                          packageRoot.appendingPathComponent(".build/debug/corrald").path]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
