import Foundation
import Synchronization
import Testing
import DomainXML
import Hypervisor
@testable import QEMUDriver
#if canImport(Glibc)
import Glibc
#endif

/// The tiny Linux guest (scripts/tiny-guest.sh): $CORRAL_TINY_GUEST if set, else built once into /tmp.
let tinyGuestDir: String? = {
    let fm = FileManager.default
    if let dir = ProcessInfo.processInfo.environment["CORRAL_TINY_GUEST"], fm.fileExists(atPath: "\(dir)/tiny.xml") {
        return dir
    }
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    let script = "\(packageRoot)/scripts/tiny-guest.sh"
    guard fm.fileExists(atPath: script), haveQEMU else { return nil }
    let dir = "/tmp/corral-tiny-guest"
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/bash")
    p.arguments = [script, dir]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return nil }
    p.waitUntilExit()
    return p.terminationStatus == 0 ? dir : nil
}()

/// Collects a console's output in the background so tests can wait for text with a timeout.
final class ConsoleCollector: Sendable {
    let stream: any ByteStream
    private let text = Mutex("")

    init(_ stream: any ByteStream) {
        self.stream = stream
        Task { [self] in
            while let chunk = try? await stream.read() {
                text.withLock { $0 += String(decoding: chunk, as: UTF8.self) }
            }
        }
    }

    /// Waits until `needle` appears after what was already consumed; consumes through it.
    func waitFor(_ needle: String, seconds: Double) async -> Bool {
        await waitUntil(seconds) {
            text.withLock { t in
                guard let r = t.range(of: needle) else { return false }
                t.removeSubrange(..<r.upperBound)
                return true
            }
        }
    }

    func send(_ s: String) async throws { try await stream.write(Array(s.utf8)) }
}

@Suite(.enabled(if: tinyGuestDir != nil && domainXMLWorks(), "needs the tiny guest (scripts/tiny-guest.sh)"), .serialized)
struct QEMUDriverGuestTests {
    /// tiny.xml with its data disk copied into the test root, so the guest writes to a private copy.
    func tinyXML(root: TempRoot) throws -> String {
        let dir = try #require(tinyGuestDir)
        let disk = "\(root.path)/data.qcow2"
        try FileManager.default.copyItem(atPath: "\(dir)/data.qcow2", toPath: disk)
        return try String(contentsOfFile: "\(dir)/tiny.xml", encoding: .utf8)
            .replacingOccurrences(of: "\(dir)/data.qcow2", with: disk)
    }

    @Test func bootConsoleStatsRebootAndShutdown() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let d = try root.driver()
        let dom = try await d.startDomain(try await d.defineDomain(xml: try tinyXML(root: root), validate: true), flags: [])
        let console = ConsoleCollector(try await d.openConsole(dom, devName: nil, force: false))
        await #expect(throws: VirError.self) { _ = try await d.openConsole(dom, devName: nil, force: false) }
        #expect(await console.waitFor("corral-tiny-guest: ready", seconds: 90))
        #expect(await console.waitFor("tiny# ", seconds: 10))
        try await console.send("cat /mnt/data/hello.txt\n")
        #expect(await console.waitFor("corral data disk", seconds: 10))
        // The serial log keeps the output too (chardev logfile).
        #expect(FileIO.readString("\(root.path)/log/qemu/tiny-serial0.log")?.contains("corral-tiny-guest: ready") == true)

        let stats = try await d.allDomainStats([dom], types: [.block, .interface])
        let params = Dictionary(stats.first?.params.map { ($0.field, $0.value) } ?? [], uniquingKeysWith: { a, _ in a })
        #expect(params["block.count"] == .uint(1))
        #expect(params["block.0.name"] == .string("vda"))
        if case .ullong(let reqs)? = params["block.0.rd.reqs"] { #expect(reqs > 0) } else { Issue.record("no block.0.rd.reqs") }
        #expect(params["net.count"] == .uint(1))

        // Reboot: Ctrl+Alt+Del makes busybox init reboot; same QEMU process, guest boots again.
        let pid = try #require(root.qemuPid("tiny"))
        try await d.rebootDomain(dom, flags: 0)
        #expect(await console.waitFor("corral-tiny-guest: ready", seconds: 90))
        #expect(root.qemuPid("tiny") == pid)
        #expect(try await d.domainState(dom).state == .running)

        // Shutdown returns at once; QEMU exits when the guest has powered off.
        try await d.shutdownDomain(dom, flags: 0)
        #expect(await waitUntil(60) { !ProcessSupervisor.isAlive(pid) })
        let d2 = try root.driver()
        #expect(await waitUntil(10) { FileIO.exists("\(root.runDir("tiny"))/exit-status") || !FileIO.exists(root.runDir("tiny")) })
        #expect(try await d2.domainState(dom) == DomainStateReason(.shutoff, DomainStateReason.shutoffShutdown))
        await console.stream.close()
    }
}
