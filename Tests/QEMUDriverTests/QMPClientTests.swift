import Foundation
import Synchronization
import Testing
@testable import QEMUDriver
#if canImport(Glibc)
import Glibc
#endif

/// A one-connection QMP server on a UNIX socket, speaking canned lines from a thread.
/// `reply` maps each request to the raw lines to send; "$ID" is replaced by the request's id.
final class FakeQMPServer: Sendable {
    let path: String
    private let listenFD: Int32

    init(greeting: String = #"{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}"#,
         reply: @escaping @Sendable (QMPValue) -> [String]) throws {
        let path = NSTemporaryDirectory() + "fakeqmp-\(UUID().uuidString.prefix(8)).sock"
        self.path = path
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() where i < raw.count - 1 { raw[i] = b }
        }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok == 0, listen(fd, 1) == 0 else { throw POSIXError(.EADDRINUSE) }
        listenFD = fd
        let thread = Thread { [fd] in
            let conn = accept(fd, nil, nil)
            guard conn >= 0 else { return }
            defer { Glibc.close(conn) }
            func send(_ s: String) { let b = Array((s + "\r\n").utf8); _ = b.withUnsafeBytes { write(conn, $0.baseAddress, $0.count) } }
            send(greeting)
            var pending: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(conn, &buf, buf.count)
                if n <= 0 { return }
                pending += buf[0..<n]
                while let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = Array(pending[..<nl])
                    pending.removeSubrange(...nl)
                    guard let req = QMPValue.parse(line) else { continue }
                    let id = req["id"]?.int64.map(String.init) ?? "null"
                    let lines = reply(req)
                    if lines == ["CLOSE"] { return }
                    for l in lines { send(l.replacingOccurrences(of: "$ID", with: id)) }
                }
            }
        }
        thread.start()
    }

    func stop() {
        shutdown(listenFD, Int32(SHUT_RDWR))
        Glibc.close(listenFD)
        unlink(path)
    }
}

@Suite struct QMPClientTests {
    @Test func negotiatesAndExecutesWithIDsEventsAndGarbage() async throws {
        let server = try FakeQMPServer { req in
            switch req["execute"]?.string {
            case "qmp_capabilities": return [#"{"return": {}, "id": $ID}"#]
            case "query-status":
                return ["this is not json",
                        #"{"timestamp": {"seconds": 1700000000, "microseconds": 500000}, "event": "STOP"}"#,
                        #"{"return": {"status": "paused", "running": false, "singlestep": false}, "id": $ID}"#]
            case "echo":
                return [#"{"return": \#(String(decoding: try! req["arguments"]!.jsonData(), as: UTF8.self)), "id": $ID}"#]
            default:
                return [#"{"id": $ID, "error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}}"#]
            }
        }
        defer { server.stop() }
        let qmp = try await QMPClient.connect(path: server.path)
        #expect(qmp.greeting["QMP"]?["version"]?["qemu"]?["major"]?.int64 == 7)
        let status = try await qmp.execute("query-status")
        #expect(status["status"]?.string == "paused")
        #expect(status["running"]?.bool == false)
        let args: [String: QMPValue] = ["text": "line\nbreak \"quoted\"", "n": 18446744073709551, "list": [true, .null]]
        let echoed = try await qmp.execute("echo", arguments: args)
        #expect(echoed == .object(args))
        await #expect(throws: QMPError.command(errorClass: "CommandNotFound", desc: "The command nope has not been found")) {
            try await qmp.execute("nope")
        }
        var it = qmp.events.makeAsyncIterator()
        let event = await it.next()
        #expect(event?.name == "STOP")
        #expect(event?.timestamp == 1_700_000_000.5)
        await qmp.close()
    }

    @Test func concurrentCommandsAreMatchedByID() async throws {
        // Replies to "slow" are held back and sent after the reply to the next command.
        let held = Mutex<String?>(nil)
        let server = try FakeQMPServer { req in
            let cmd = req["execute"]?.string ?? ""
            let id = req["id"]?.int64 ?? -1
            switch cmd {
            case "qmp_capabilities": return [#"{"return": {}, "id": $ID}"#]
            case "slow":
                held.withLock { $0 = #"{"return": "slow", "id": \#(id)}"# }
                return []
            default:
                return [#"{"return": "fast", "id": $ID}"#] + (held.withLock { $0 }.map { [$0] } ?? [])
            }
        }
        defer { server.stop() }
        let qmp = try await QMPClient.connect(path: server.path)
        async let slow = qmp.execute("slow")
        try await Task.sleep(nanoseconds: 100_000_000)
        let fast = try await qmp.execute("fast")
        #expect(fast == "fast")
        #expect(try await slow == "slow")
        await qmp.close()
    }

    @Test func overlongLineFailsTheConnection() async throws {
        let server = try FakeQMPServer { req in
            if req["execute"]?.string == "qmp_capabilities" { return [#"{"return": {}, "id": $ID}"#] }
            return [#"{"return": ""# + String(repeating: "x", count: 5000) + #"", "id": $ID}"#]
        }
        defer { server.stop() }
        let qmp = try await QMPClient.connect(path: server.path, maxLineLength: 1024)
        await #expect(throws: QMPError.lineTooLong(1024)) { try await qmp.execute("big") }
        await qmp.close()
    }

    @Test func serverClosingFailsPendingCommand() async throws {
        let server = try FakeQMPServer { req in
            req["execute"]?.string == "qmp_capabilities" ? [#"{"return": {}, "id": $ID}"#] : ["CLOSE"]
        }
        defer { server.stop() }
        let qmp = try await QMPClient.connect(path: server.path)
        await #expect(throws: QMPError.connectionClosed) { try await qmp.execute("quit") }
        await qmp.close()
        await #expect(throws: QMPError.connectionClosed) { try await qmp.execute("query-status") }
    }

    @Test func commandTimesOutWhenNoReplyComes() async throws {
        let server = try FakeQMPServer { req in
            req["execute"]?.string == "qmp_capabilities" ? [#"{"return": {}, "id": $ID}"#] : []
        }
        defer { server.stop() }
        let qmp = try await QMPClient.connect(path: server.path, timeout: .milliseconds(300))
        await #expect(throws: QMPError.timeout("reply to query-status")) { try await qmp.execute("query-status") }
        await qmp.close()
    }

    @Test func connectToMissingSocketFails() async {
        await #expect(throws: (any Error).self) {
            _ = try await QMPClient.connect(path: "/nonexistent/dir/monitor.sock")
        }
    }

    @Test func randomGarbageFromTheServerIsSkipped() async throws {
        var rng = SystemRandomNumberGenerator()
        var garbage: [String] = []
        for _ in 0..<200 {
            let bytes = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                .filter { $0 != UInt8(ascii: "\n") }
            garbage.append(String(decoding: bytes, as: UTF8.self))
        }
        garbage += [#"{"return": 1}"#.replacingOccurrences(of: "1", with: "[[[[[[[["), "[]", "null", #"{"event": 5}"#,
                    #"{"QMP": 1}"#, #"{"id": "x", "return": {}}"#, String(repeating: "{\"a\":", count: 10_000)]
        let lines = garbage
        let server = try FakeQMPServer { req in
            req["execute"]?.string == "qmp_capabilities"
                ? [#"{"return": {}, "id": $ID}"#]
                : lines + [#"{"return": {"ok": true}, "id": $ID}"#]
        }
        defer { server.stop() }
        let qmp = try await QMPClient.connect(path: server.path)
        #expect(try await qmp.execute("query-status") == ["ok": true])
        await qmp.close()
    }

    @Test func valueDecodingNeverCrashesOnGarbage() {
        for text in ["", "{", "[1,", "\u{0}", "{\"a\":}", "nul", String(repeating: "[", count: 100_000), "1e999999"] {
            _ = QMPValue.parse(Array(text.utf8))
        }
        #expect(QMPValue.parse(Array("{\"a\": [1, 2.5, true, null, \"x\"]}".utf8))
                == ["a": [1, .double(2.5), true, .null, "x"]])
        #expect(QMPValue.parse(Array("true".utf8)) == .bool(true))
        #expect(QMPValue.parse(Array("1".utf8)) == .int(1))
    }
}
