import DomainXML
import Foundation
import Hypervisor
import QEMUDriver
import Testing
@testable import WebConsole
#if canImport(Glibc)
import Glibc
#endif

/// The tiny guest (scripts/tiny-guest.sh): $CORRAL_TINY_GUEST_DIR if it holds one, else built once
/// into .build/tiny-guest-web (its own directory: other test targets build theirs concurrently).
let webTinyGuestDir: String? = {
    let fm = FileManager.default
    if let dir = ProcessInfo.processInfo.environment["CORRAL_TINY_GUEST_DIR"], fm.fileExists(atPath: "\(dir)/tiny.xml") {
        return dir
    }
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    let script = "\(packageRoot)/scripts/tiny-guest.sh"
    guard fm.fileExists(atPath: script), fm.isExecutableFile(atPath: "/usr/bin/qemu-system-x86_64") else { return nil }
    let dir = "\(packageRoot)/.build/tiny-guest-web"
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/bash")
    p.arguments = [script, dir]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return nil }
    p.waitUntilExit()
    return p.terminationStatus == 0 ? dir : nil
}()

/// A real QEMU guest behind the web console: events, stats, and the three console proxies.
@Suite(.enabled(if: webTinyGuestDir != nil, "needs the tiny guest (scripts/tiny-guest.sh) and QEMU"), .serialized)
struct LiveGuestTests {
    /// The guest's own graphics: VNC and SPICE on ports chosen at start (autoport).
    static let graphics = """
        <graphics type='vnc' port='-1' autoport='yes'/>
        <graphics type='spice' autoport='yes'/>
        <video><model type='vga'/></video>
      </devices>
    """

    @Test func eventsStatsAndConsolesOfARealGuest() async throws {
        let guest = try #require(webTinyGuestDir)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("corral-live-qemu-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { Self.cleanup(root) }
        let disk = "\(root)/data.qcow2"
        try FileManager.default.copyItem(atPath: "\(guest)/data.qcow2", toPath: disk)
        let xml = try String(contentsOfFile: "\(guest)/tiny.xml", encoding: .utf8)
            .replacingOccurrences(of: "\(guest)/data.qcow2", with: disk)
            .replacingOccurrences(of: "</devices>", with: Self.graphics)

        let driver = try QEMUDriver.open(root: root)
        let registry = ConnectionRegistry(localURI: "qemu:///embed?root=\(root)", local: driver,
                                          opener: { _, ro in ro ? ReadOnlyDriver(driver) as any HypervisorDriver : driver }, storeFile: nil)
        let server = try await LiveServer.start(registry: registry, statsInterval: 0.5)
        defer { server.stop() }
        _ = try await registry.add(uri: "qemu:///embed?root=\(root)", readOnly: true)

        let events = WSClient(server.url("/api/v1/events"))
        defer { events.close() }
        // Stats of both connections: both feeds (and so their event streams) are up.
        #expect(await eventually(20) { Set(events.messages.filter { $0["type"] as? String == "stats" }.compactMap { $0["connection"] as? String }) == ["local", "c1"] })

        let dom = try await driver.startDomain(try await driver.defineDomain(xml: xml, validate: true), flags: [])
        // Open the serial console at once: the boot messages are still to come.
        let serial = WSClient(server.url("/api/v1/connections/local/domains/tiny/serial"), protocols: "binary")
        defer { serial.close() }

        func lifecycle(_ conn: String, _ event: String) -> [String: Any]? {
            events.messages.first { $0["type"] as? String == "lifecycle" && $0["connection"] as? String == conn
                && $0["domain"] as? String == "tiny" && $0["event"] as? String == event }
        }
        #expect(await eventually(20) { lifecycle("local", "started") != nil && lifecycle("c1", "started") != nil })
        #expect(lifecycle("local", "started")?["state"] as? String == "running")
        #expect(lifecycle("local", "started")?["detail"] as? String == "booted")

        // Autoport: the live XML has the ports QEMU and the driver picked.
        let live = try Domain(xml: try await driver.domainXML(dom, flags: []))
        let vncPort = try #require(live.devices.graphics.first { $0.type == "vnc" }?.port)
        #expect(vncPort >= 5900 && vncPort < 6000)
        #expect((live.devices.graphics.first { $0.type == "spice" }?.port ?? -1) > 0)

        // VNC: QEMU's RFB banner comes through, and our answer reaches it (it offers security types).
        let vnc = WSClient(server.url("/api/v1/connections/local/domains/tiny/vnc"), protocols: "binary")
        defer { vnc.close() }
        #expect(await eventually(20) { vnc.bytes.count >= 12 })
        #expect(String(decoding: vnc.bytes.prefix(12), as: UTF8.self) == "RFB 003.008\n")
        vnc.send("RFB 003.008\n")
        #expect(await eventually(20) { vnc.bytes.count >= 14 })
        #expect(vnc.bytes.count >= 14 && vnc.bytes[12] >= 1, "number of security types")

        // SPICE: a link message for the main channel gets the server's link reply ("REDQ").
        let spice = WSClient(server.url("/api/v1/connections/local/domains/tiny/spice"), protocols: "binary")
        defer { spice.close() }
        spice.send(Self.spiceLinkMessage())
        #expect(await eventually(20) { spice.bytes.count >= 4 })
        #expect(Array(spice.bytes.prefix(4)) == Array("REDQ".utf8))

        // Read-only connections get no console.
        let roVNC = WSClient(server.url("/api/v1/connections/c1/domains/tiny/vnc"))
        #expect(await eventually(20) { roVNC.ended })
        #expect(roVNC.closeCode == 4403)

        // Serial: the guest's boot line, then a command typed through the socket.
        #expect(await eventually(180) { serial.text.contains("corral-tiny-guest: ready") }, "serial: \(serial.text.suffix(300))")
        #expect(await eventually(30) { serial.text.contains("tiny# ") })
        serial.send("echo $((6*7))x\n")
        #expect(await eventually(30) { serial.text.contains("42x") }, "serial: \(serial.text.suffix(300))")

        // Stats: the guest's CPU time grows from one message to a later one.
        func tinyStats() -> [[String: Any]] {
            events.messages.filter { $0["type"] as? String == "stats" && $0["connection"] as? String == "local" }
                .compactMap { ($0["domains"] as? [[String: Any]])?.first { $0["name"] as? String == "tiny" } }
        }
        #expect(await eventually(20) { tinyStats().count >= 2 })
        let samples = tinyStats()
        let first = samples.first?["cpuTimeNs"] as? Int ?? 0, last = samples.last?["cpuTimeNs"] as? Int ?? 0
        #expect(first > 0 && last > first, "cpuTimeNs \(first) → \(last)")
        #expect(samples.last?["vcpus"] as? Int == 1)
        #expect((samples.last?["maxMemoryKiB"] as? Int) == 256 * 1024)
        #expect(samples.allSatisfy { ($0["cpuPercent"] as? Double).map { $0 >= 0 && $0 <= 100 } ?? false })
        #expect(samples.contains { ($0["cpuPercent"] as? Double ?? 0) > 0 }, "a booting guest uses CPU")

        try await driver.destroyDomain(dom, flags: 0)
        #expect(await eventually(20) { lifecycle("local", "stopped") != nil })
        #expect(lifecycle("local", "stopped")?["state"] as? String == "shut off")
        #expect(lifecycle("local", "stopped")?["detail"] as? String == "destroyed")
        // The proxies noticed: QEMU's side closed.
        #expect(await eventually(20) { vnc.ended && serial.ended })

        // A stopped guest's consoles: 409, before and after an upgrade.
        let stopped = try await rawHTTP(port: server.port, get("/api/v1/connections/local/domains/tiny/vnc"))
        #expect(stopped.hasPrefix("HTTP/1.1 409"), "\(stopped)")
        let stoppedWS = WSClient(server.url("/api/v1/connections/local/domains/tiny/vnc"))
        #expect(await eventually(20) { stoppedWS.ended })
        #expect(stoppedWS.closeCode == 4409)
    }

    /// SpiceLinkHeader + SpiceLinkMess for channel main (1), id 0, no capabilities.
    static func spiceLinkMessage() -> [UInt8] {
        func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        let body = le32(0) + [1, 0] + le32(0) + le32(0) + le32(18)
        return Array("REDQ".utf8) + le32(2) + le32(2) + le32(UInt32(body.count)) + body
    }

    /// Kills what the test's driver started (by the pids in its own root) and removes the root.
    static func cleanup(_ root: String) {
        let runRoot = "\(root)/run/qemu"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: runRoot)) ?? [] {
            for file in ["qemu.pid", "supervisor.pid"] {
                if let text = try? String(contentsOfFile: "\(runRoot)/\(name)/\(file)", encoding: .utf8),
                   let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1,
                   // Only a process of this root: a stale pid may belong to someone else by now.
                   let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                   String(decoding: cmdline, as: UTF8.self).contains(root) {
                    kill(pid, SIGKILL)
                }
            }
        }
        try? FileManager.default.removeItem(atPath: root)
    }
}
