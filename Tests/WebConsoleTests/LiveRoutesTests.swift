import Foundation
import Hypervisor
import Synchronization
import Testing
import TestDriver
@testable import WebConsole

/// The event stream and console proxies over the in-memory test driver: fast, no QEMU.
@Suite struct LiveRoutesTests {
    /// A registry whose added connections are read-only views of the same test driver.
    static func registry(_ driver: TestDriver, storeFile: String? = nil,
                         opener: ConnectionOpener? = nil) -> ConnectionRegistry {
        ConnectionRegistry(localURI: "test:///default", local: driver,
                           opener: opener ?? { _, readOnly in readOnly ? ReadOnlyDriver(driver) as any HypervisorDriver : driver }, storeFile: storeFile)
    }

    @Test func eventsCarryLifecycleAndStatsPerConnection() async throws {
        let driver = TestDriver()
        let server = try await LiveServer.start(registry: Self.registry(driver), statsInterval: 0.2)
        defer { server.stop() }
        let all = WSClient(server.url("/api/v1/events"))
        let onlyC1 = WSClient(server.url("/api/v1/events?connections=c1"))
        defer { all.close(); onlyC1.close() }
        // Stats prove the local feed runs before the events it must see.
        #expect(await eventually(10) { all.messages.contains { $0["type"] as? String == "stats" } })

        // A connection added while tabs listen is picked up without reconnecting.
        _ = try await server.registry.add(uri: "test:///default", readOnly: true)
        #expect(await eventually(10) { onlyC1.messages.contains { $0["type"] as? String == "stats" && $0["connection"] as? String == "c1" } })
        #expect(await eventually(10) { all.messages.contains { $0["type"] as? String == "stats" && $0["connection"] as? String == "c1" } })

        let dom = try await driver.lookupDomain(name: "test")
        try await driver.suspendDomain(dom)
        func lifecycle(_ c: WSClient, _ conn: String, _ event: String) -> [String: Any]? {
            c.messages.first { $0["type"] as? String == "lifecycle" && $0["connection"] as? String == conn && $0["event"] as? String == event }
        }
        #expect(await eventually(10) { lifecycle(all, "local", "suspended") != nil && lifecycle(all, "c1", "suspended") != nil })
        let suspended = try #require(lifecycle(all, "local", "suspended"))
        #expect(suspended["domain"] as? String == "test")
        #expect(suspended["uuid"] as? String == dom.uuid.lowercasedString)
        #expect(suspended["state"] as? String == "paused")
        #expect(suspended["detail"] as? String == "paused")
        try await driver.resumeDomain(dom)
        #expect(await eventually(10) { lifecycle(onlyC1, "c1", "resumed") != nil })
        // The filtered tab sees only what it asked for.
        #expect(!onlyC1.messages.contains { $0["connection"] as? String == "local" })

        let stats = try #require(all.messages.last { $0["type"] as? String == "stats" && $0["connection"] as? String == "local" })
        let domains = try #require(stats["domains"] as? [[String: Any]])
        let test = try #require(domains.first { $0["name"] as? String == "test" })
        #expect(test["vcpus"] as? Int == 2)
        #expect((test["cpuTimeNs"] as? Int ?? 0) > 0)
        #expect((test["maxMemoryKiB"] as? Int) == 8_388_608)
        let percent = try #require(test["cpuPercent"] as? Double)
        #expect(percent >= 0 && percent <= 100)
        #expect(test["diskRdBytes"] is Int && test["netRxBytes"] is Int)
        #expect((stats["time"] as? Int ?? 0) > 1_700_000_000_000)
    }

    @Test func failingConnectionReportsErrorAndRetries() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("corral-live-store-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A saved connection to a host that is down.
        let store = "\(dir)/connections.json"
        try Data(#"[{"id":"c1","uri":"qemu+tcp://127.0.0.1:1/system","readOnly":false,"local":false}]"#.utf8).write(to: URL(fileURLWithPath: store))
        let attempts = Attempts()
        let registry = Self.registry(TestDriver(), storeFile: store, opener: { _, _ in
            attempts.add()
            throw VirError(.noConnect, "unable to connect to server at '127.0.0.1:1': Connection refused")
        })
        let server = try await LiveServer.start(registry: registry, statsInterval: 0.2)
        defer { server.stop() }
        let tab = WSClient(server.url("/api/v1/events"))
        defer { tab.close() }
        #expect(await eventually(10) {
            tab.messages.contains { $0["type"] as? String == "error" && $0["connection"] as? String == "c1"
                && ($0["message"] as? String ?? "").contains("Connection refused") }
        })
        // Retried after the first backoff (1 s), while the local connection keeps flowing.
        #expect(await eventually(10) { attempts.count >= 2 })
        #expect(tab.messages.contains { $0["type"] as? String == "stats" && $0["connection"] as? String == "local" })
        // A tab that arrives while the connection is down hears about it at once.
        let late = WSClient(server.url("/api/v1/events?connections=c1"))
        defer { late.close() }
        #expect(await eventually(5) { late.messages.contains { $0["type"] as? String == "error" } })
    }

    @Test func serialConsoleBothWaysAndErrors() async throws {
        let driver = TestDriver()
        let server = try await LiveServer.start(registry: Self.registry(driver))
        defer { server.stop() }
        _ = try await server.registry.add(uri: "test:///default", readOnly: true)

        // The test driver's console echoes: bytes go out and come back through the socket.
        let serial = WSClient(server.url("/api/v1/connections/local/domains/test/serial"), protocols: "binary")
        defer { serial.close() }
        serial.send("hello console\r\n")
        #expect(await eventually(10) { serial.text.contains("hello console") })

        // Errors after an upgrade: close code 4000 + the API's status, the message as reason.
        let unknown = WSClient(server.url("/api/v1/connections/local/domains/nope/vnc"))
        #expect(await eventually(10) { unknown.ended })
        #expect(unknown.closeCode == 4404)
        #expect(unknown.closeReason?.contains("nope") == true)
        let noVNC = WSClient(server.url("/api/v1/connections/local/domains/test/vnc"))
        #expect(await eventually(10) { noVNC.ended })
        #expect(noVNC.closeCode == 4409)
        #expect(noVNC.closeReason?.contains("no VNC graphics") == true)
        let readOnly = WSClient(server.url("/api/v1/connections/c1/domains/test/serial"))
        #expect(await eventually(10) { readOnly.ended })
        #expect(readOnly.closeCode == 4403)
        #expect(readOnly.closeReason?.contains("read only") == true)
        let noConn = WSClient(server.url("/api/v1/connections/zz/domains/test/serial"))
        #expect(await eventually(10) { noConn.ended })
        #expect(noConn.closeCode == 4404)

        // Without an upgrade: the API's JSON errors, 426 when the console could be opened.
        let r404 = try await rawHTTP(port: server.port, get("/api/v1/connections/local/domains/nope/serial"))
        #expect(r404.hasPrefix("HTTP/1.1 404"))
        #expect((jsonBody(r404)?["error"] as? [String: Any])?["message"] as? String != nil)
        let r409 = try await rawHTTP(port: server.port, get("/api/v1/connections/local/domains/test/spice"))
        #expect(r409.hasPrefix("HTTP/1.1 409"), "\(r409)")
        let r403 = try await rawHTTP(port: server.port, get("/api/v1/connections/c1/domains/test/vnc"))
        #expect(r403.hasPrefix("HTTP/1.1 403"), "\(r403)")
        let r426 = try await rawHTTP(port: server.port, get("/api/v1/connections/local/domains/test/serial"))
        #expect(r426.hasPrefix("HTTP/1.1 426"), "\(r426)")

        // A stopped guest: 409.
        try await driver.destroyDomain(try await driver.lookupDomain(name: "test"), flags: 0)
        let stopped = try await rawHTTP(port: server.port, get("/api/v1/connections/local/domains/test/serial"))
        #expect(stopped.hasPrefix("HTTP/1.1 409"), "\(stopped)")
        #expect(((jsonBody(stopped)?["error"] as? [String: Any])?["message"] as? String)?.contains("not running") == true)
    }

    @Test func upgradeEchoesTheBinarySubprotocol() async throws {
        let server = try await LiveServer.start(registry: Self.registry(TestDriver()))
        defer { server.stop() }
        let response = try await rawHTTP(port: server.port, upgrade("/api/v1/connections/local/domains/test/serial", protocols: "binary, base64"))
        #expect(response.hasPrefix("HTTP/1.1 101"), "\(response)")
        #expect(response.lowercased().contains("sec-websocket-protocol: binary\r\n"))
    }

    @Test func oneFeedPerConnectionWhileSomeoneListens() async throws {
        let registry = Self.registry(TestDriver())
        _ = try await registry.add(uri: "test:///default", readOnly: true)
        let hub = EventHub(registry: registry, statsInterval: 0.2)
        let a = Mailbox(), b = Mailbox(), c = Mailbox()
        let ida = await hub.subscribe(nil, mailbox: a)
        let idb = await hub.subscribe(nil, mailbox: b)
        let idc = await hub.subscribe(["c1"], mailbox: c)
        #expect(await hub.feedConnections == ["local", "c1"])
        await hub.unsubscribe(ida)
        await hub.unsubscribe(idb)
        // Only the tab that wants c1 is left.
        #expect(await hub.feedConnections == ["c1"])
        await hub.unsubscribe(idc)
        #expect(await hub.feedConnections.isEmpty)
        #expect(await c.next() == nil, "a tab's mailbox closes when it leaves")
    }

    @Test func mailboxKeepsLifecycleAndOnlyTheNewestStats() async {
        let box = Mailbox(capacity: 4)
        box.push("stats-local-1", statsOf: "local")
        box.push("event-1")
        box.push("stats-c1-1", statsOf: "c1")
        box.push("stats-local-2", statsOf: "local")
        #expect(box.queued == ["event-1", "stats-c1-1", "stats-local-2"])
        box.push("event-2")
        box.push("event-3")
        // Full: the oldest goes.
        #expect(box.queued == ["stats-c1-1", "stats-local-2", "event-2", "event-3"])
        #expect(await box.next() == "stats-c1-1")
        box.close()
        #expect(await box.next() == nil)
    }

    @Test func cpuPercentIsRelativeToTheGuestsVCPUs() async throws {
        // The test driver's guest uses one second of CPU per second of wall time and has two
        // vCPUs: half of its capacity.
        let driver = TestDriver()
        var sampler = StatsSampler()
        let first = try await sampler.sample(driver)
        #expect(first.domains.first?.cpuPercent == 0, "no rate without a previous sample")
        try await Task.sleep(nanoseconds: 500_000_000)
        let second = try await sampler.sample(driver)
        let d = try #require(second.domains.first { $0.name == "test" })
        #expect(d.cpuPercent > 40 && d.cpuPercent < 60, "\(d.cpuPercent)")
        #expect(d.cpuTimeNs > first.domains.first?.cpuTimeNs ?? .max)
    }

    @Test func graphicsHostFollowsTheConnection() throws {
        #expect(try ConsoleProxy.host(listen: nil, connectionURI: nil) == "127.0.0.1")
        #expect(try ConsoleProxy.host(listen: "0.0.0.0", connectionURI: "qemu+tcp://virthost.example/system") == "virthost.example")
        #expect(try ConsoleProxy.host(listen: "127.0.0.1", connectionURI: "qemu+unix:///system?socket=/run/x") == "127.0.0.1")
        #expect(try ConsoleProxy.host(listen: "192.0.2.7", connectionURI: "qemu+tcp://virthost.example/system") == "192.0.2.7")
        // A second daemon on this machine: its loopback is ours.
        #expect(try ConsoleProxy.host(listen: "127.0.0.1", connectionURI: "qemu+tcp://127.0.0.1:16510/system") == "127.0.0.1")
        // Another machine's loopback, or a URI that names no machine: refused, never a local port.
        #expect(throws: APIError.self) { try ConsoleProxy.host(listen: "127.0.0.1", connectionURI: "qemu+tcp://virthost.example/system") }
        #expect(throws: APIError.self) { try ConsoleProxy.host(listen: "0.0.0.0", connectionURI: "qemu+ext:///system?command=/bin/x") }
    }
}

final class Attempts: Sendable {
    private let n = Mutex(0)
    func add() { n.withLock { $0 += 1 } }
    var count: Int { n.withLock { $0 } }
}
