import Foundation
import Hypervisor
import Testing
import TestDriver
@testable import WebConsole

// GET /metrics: in-process over TestDriver connections (labels, failing hosts, stale series),
// then against a real corrald (virsh's calls counted, a defined domain's series come and go,
// the tiny guest's CPU time and disk reads).

/// The web console on a free port over a TestDriver ("local"), a second TestDriver ("c1") and a
/// saved connection whose host cannot be reached ("c2").
struct InProcessConsole {
    let local = TestDriver()
    let task: Task<Void, any Error>
    let base: String

    init() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("corral-metrics-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let saved = [ConnectionRegistry.Info(id: "c1", uri: "test:///default", readOnly: true, local: false),
                     ConnectionRegistry.Info(id: "c2", uri: "qemu+tcp://unreachable.invalid/system", readOnly: false, local: false)]
        try JSONEncoder().encode(saved).write(to: URL(fileURLWithPath: "\(dir)/connections.json"))
        let remote = TestDriver()
        let connections = ConnectionRegistry(localURI: "test:///local", local: local, opener: { uri, _ in
            guard uri == "test:///default" else { throw VirError(.noConnect, "unable to connect to server at 'unreachable.invalid:16509'") }
            return remote
        }, storeFile: "\(dir)/connections.json")
        let console = WebConsole(config: WebConsoleConfig(host: "127.0.0.1", port: 0, webDir: dir, stateDir: dir),
                                 connections: connections)
        let (stream, cont) = AsyncStream.makeStream(of: Int.self)
        task = Task { try await console.run { cont.yield($0) } }
        var port = 0
        for await p in stream { port = p; break }
        base = "http://127.0.0.1:\(port)"
    }
}

@Suite(.serialized) struct MetricsTests {
    @Test func domainSeriesPerConnectionAndNoStaleOnes() async throws {
        let c = try await InProcessConsole()
        defer { c.task.cancel() }
        let r = try await MetricsHTTP.get("\(c.base)/metrics")
        #expect(r.status == 200)
        #expect(r.contentType?.hasPrefix("text/plain; version=0.0.4") == true)
        let m = MetricsText(r.body)
        #expect(m.malformed.isEmpty, "\(m.malformed)")
        #expect(m.untyped.isEmpty, "samples without TYPE: \(m.untyped)")
        #expect(m.types["libvirt_domain_state_code"] == "gauge")
        #expect(m.types["libvirt_domain_info_cpu_time_seconds_total"] == "counter")
        #expect(m.helps["libvirt_domain_block_stats_read_bytes_total"] == "Number of bytes read from a block device, in bytes.")

        #expect(m.value("libvirt_up", ["connection": "local", "uri": "test:///local"]) == 1)
        #expect(m.value("libvirt_up", ["connection": "c1", "uri": "test:///default"]) == 1)
        #expect(m.value("libvirt_up", ["connection": "c2"]) == 0, "an unreachable host is down, the scrape still answers")
        let test = ["domain": "test", "uuid": "6695eb01-f6a4-8304-79aa-97f2502e193f"]
        for conn in ["local", "c1"] {
            let dom = test.merging(["connection": conn]) { a, _ in a }
            #expect(m.value("libvirt_domain_state_code", dom) == 1)
            #expect(m.value("libvirt_domain_info_virtual_cpus", dom) == 2)
            #expect(m.value("libvirt_domain_info_maximum_memory_bytes", dom) == Double(8_388_608 * 1024))
            #expect(m.value("libvirt_domain_info_memory_usage_bytes", dom) == Double(2_097_152 * 1024))
            #expect((m.value("libvirt_domain_info_cpu_time_seconds_total", dom) ?? 0) > 0)
            #expect(m.values("libvirt_domain_vcpu_time_seconds_total", dom).count == 2)
            #expect(m.value("libvirt_domain_block_stats_read_bytes_total",
                            dom.merging(["target_device": "vda", "source_file": "/guest/diskimage1"]) { a, _ in a }) == 512)
            #expect(m.value("libvirt_domain_interface_stats_receive_bytes_total", dom.merging(["target_device": "testnet0"]) { a, _ in a }) == 1000)
            #expect(m.value("libvirt_domain_interface_stats_transmit_packets_total", dom.merging(["target_device": "testnet0"]) { a, _ in a }) == 20)
            #expect(m.value("libvirt_domains_number", ["connection": conn]) == 1)
        }
        #expect(m.values("libvirt_domain_state_code", ["connection": "c2"]).isEmpty)
        #expect((m.value("process_resident_memory_bytes") ?? 0) > 1_000_000)
        #expect((m.value("process_open_fds") ?? 0) > 2)
        #expect((m.value("corral_uptime_seconds") ?? -1) >= 0)

        // One connection only.
        let only = try await MetricsHTTP.scrape(c.base, query: "?connection=c1")
        #expect(Set(only.samples.compactMap { $0.labels["connection"] }) == ["c1"])
        #expect(try await MetricsHTTP.get("\(c.base)/metrics?connection=nosuch").status == 404)

        // The local domain goes away: its series go with it, c1's stay.
        let dom = try await c.local.lookupDomain(name: "test")
        try await c.local.destroyDomain(dom, flags: 0)
        let off = try await MetricsHTTP.scrape(c.base)
        #expect(off.value("libvirt_domain_state_code", test.merging(["connection": "local"]) { a, _ in a }) == 5)
        #expect(off.values("libvirt_domain_info_cpu_time_seconds_total", ["connection": "local"]).isEmpty)
        try await c.local.undefineDomain(dom, flags: 0)
        let gone = try await MetricsHTTP.scrape(c.base)
        #expect(gone.samples.filter { $0.labels["connection"] == "local" && $0.labels["domain"] != nil }.isEmpty)
        #expect(gone.value("libvirt_domains_number", ["connection": "local"]) == 0)
        #expect(gone.value("libvirt_domain_state_code", test.merging(["connection": "c1"]) { a, _ in a }) == 1)
    }

    @Test func httpRequestsAreCountedByRoute() async throws {
        let c = try await InProcessConsole()
        defer { c.task.cancel() }
        let route = ["method": "GET", "route": "/metrics", "status": "200"]
        _ = try await MetricsHTTP.scrape(c.base)
        let before = try await MetricsHTTP.scrape(c.base).value("corral_http_requests_total", route) ?? 0
        #expect(before >= 1)
        #expect(try await MetricsHTTP.get("\(c.base)/metrics?connection=nosuch").status == 404)
        let after = try await MetricsHTTP.scrape(c.base)
        #expect(after.value("corral_http_requests_total", route) == before + 1)
        #expect(after.value("corral_http_requests_total", ["method": "GET", "route": "/metrics", "status": "404"]) == 1)
        #expect(after.types["corral_http_request_duration_seconds"] == "histogram")
        #expect(after.value("corral_http_request_duration_seconds_count", route) == before + 1)
        #expect(after.value("corral_http_request_duration_seconds_bucket", route.merging(["le": "+Inf"]) { a, _ in a }) == before + 1)
        // Raw paths never become label values.
        #expect(after.samples.allSatisfy { !($0.labels["route"] ?? "").contains("nosuch") })
    }

    @Test func labelValuesAreEscaped() {
        let m = MetricsText(#"a{domain="x\"y\\z\nw"} 1"#)
        #expect(m.value("a", ["domain": "x\"y\\z\nw"]) == 1)
    }
}

@Suite(.enabled(if: MetricsCorrald.binary != nil && MetricsCorrald.haveVirsh, "needs a built corrald and /usr/bin/virsh"), .serialized)
struct MetricsCorraldTests {
    static let smallXML = """
        <domain type='qemu'><name>metrics-m1</name><uuid>8f3a5e2c-6d41-4b8e-9a27-1c0d9e7f5b34</uuid>
        <memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os></domain>
        """

    @Test func definedDomainAndRemoteCalls() async throws {
        let d = try MetricsCorrald()
        let xml = "\(d.dir)/m1.xml"
        try Self.smallXML.write(toFile: xml, atomically: true, encoding: .utf8)
        #expect(try d.virsh("define", xml).status == 0)
        let dom = ["connection": "local", "domain": "metrics-m1", "uuid": "8f3a5e2c-6d41-4b8e-9a27-1c0d9e7f5b34"]
        let m = try await MetricsHTTP.scrape(d.base)
        #expect(m.malformed.isEmpty, "\(m.malformed)")
        #expect(m.untyped.isEmpty)
        #expect(m.value("libvirt_up", ["connection": "local", "uri": "qemu:///system"]) == 1, "\(d.logText)")
        #expect(m.value("libvirt_domain_state_code", dom) == 5)
        #expect(m.value("libvirt_domain_info_maximum_memory_bytes", dom) == Double(64 * 1024 * 1024))
        #expect(m.types["corral_rpc_calls_total"] == "counter")
        #expect(m.types["corral_rpc_call_duration_seconds"] == "histogram")

        let ok = ["procedure": "DOMAIN_LOOKUP_BY_NAME", "status": "ok"]
        let failed = ["procedure": "DOMAIN_LOOKUP_BY_NAME", "status": "error"]
        let okBefore = m.value("corral_rpc_calls_total", ok) ?? 0
        let failedBefore = m.value("corral_rpc_calls_total", failed) ?? 0
        let countBefore = m.value("corral_rpc_call_duration_seconds_count", ["procedure": "DOMAIN_LOOKUP_BY_NAME"]) ?? 0
        #expect(try d.virsh("dominfo", "metrics-m1").status == 0)
        #expect(try d.virsh("dominfo", "no-such-domain").status != 0)
        let after = try await MetricsHTTP.scrape(d.base)
        #expect(after.value("corral_rpc_calls_total", ok) == okBefore + 1)
        #expect(after.value("corral_rpc_calls_total", failed) == failedBefore + 1)
        #expect(after.value("corral_rpc_call_duration_seconds_count", ["procedure": "DOMAIN_LOOKUP_BY_NAME"]) == countBefore + 2)
        #expect((after.value("corral_rpc_calls_total", ["procedure": "CONNECT_OPEN", "status": "ok"]) ?? 0) >= 3)

        #expect(try d.virsh("undefine", "metrics-m1").status == 0)
        let gone = try await MetricsHTTP.scrape(d.base)
        #expect(gone.samples.filter { $0.labels["domain"] == "metrics-m1" }.isEmpty)
        #expect(gone.value("libvirt_domains_number", ["connection": "local"]) == 0)
    }

    /// The tiny guest under TCG: CPU time and reads from its data disk show up.
    @Test(.enabled(if: MetricsCorrald.haveQEMU, "needs qemu-system-x86_64"))
    func runningGuestCounters() async throws {
        let tinyDir = ProcessInfo.processInfo.environment["CORRAL_TINY_GUEST_DIR"]
            ?? MetricsCorrald.packageRoot.appendingPathComponent(".build/tiny-guest").path
        let build = Process()
        build.executableURL = URL(fileURLWithPath: "/bin/bash")
        build.arguments = [MetricsCorrald.packageRoot.appendingPathComponent("scripts/tiny-guest.sh").path, tinyDir]
        build.standardOutput = FileHandle.nullDevice; build.standardError = FileHandle.nullDevice
        try build.run()
        build.waitUntilExit()
        try #require(build.terminationStatus == 0, "scripts/tiny-guest.sh failed")

        let d = try MetricsCorrald()
        // Our own overlay: other tests may run the same data disk, and QEMU locks images.
        let overlay = "\(d.dir)/data.qcow2"
        let img = Process()
        img.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-img")
        img.arguments = ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", "\(tinyDir)/data.qcow2", overlay]
        try img.run()
        img.waitUntilExit()
        try #require(img.terminationStatus == 0)
        var xml = try String(contentsOfFile: "\(tinyDir)/tiny.xml", encoding: .utf8)
        xml = xml.replacing(/<source file='[^']*data\.qcow2'\/>/, with: "<source file='\(overlay)'/>")
            .replacing("<name>tiny</name>", with: "<name>metrics-tiny</name>")
        try xml.write(toFile: "\(d.dir)/tiny.xml", atomically: true, encoding: .utf8)
        #expect(try d.virsh("define", "\(d.dir)/tiny.xml").status == 0)
        let started = try d.virsh("start", "metrics-tiny")
        try #require(started.status == 0, "\(started.err)")
        defer { _ = try? d.virsh("destroy", "metrics-tiny") }

        let serial = "\(d.root)/log/qemu/metrics-tiny-serial0.log"
        let deadline = Date().addingTimeInterval(180)
        while Date() < deadline, !((try? String(contentsOfFile: serial, encoding: .utf8))?.contains("corral-tiny-guest: ready") ?? false) {
            try await Task.sleep(for: .milliseconds(250))
        }
        let m = try await MetricsHTTP.scrape(d.base)
        let dom = ["connection": "local", "domain": "metrics-tiny"]
        #expect(m.value("libvirt_domain_state_code", dom) == 1)
        #expect((m.value("libvirt_domain_info_cpu_time_seconds_total", dom) ?? 0) > 0)
        #expect((m.value("libvirt_domain_vcpu_time_seconds_total", dom.merging(["vcpu": "0"]) { a, _ in a }) ?? 0) > 0)
        // The guest mounted its data disk at boot.
        #expect((m.value("libvirt_domain_block_stats_read_bytes_total", dom.merging(["target_device": "vda", "source_file": overlay]) { a, _ in a }) ?? 0) > 0,
                "\(m.samples.filter { $0.name.hasPrefix("libvirt_domain_block") })")
        #expect(m.value("libvirt_domain_info_maximum_memory_bytes", dom) == Double(256 * 1024 * 1024))
    }
}
