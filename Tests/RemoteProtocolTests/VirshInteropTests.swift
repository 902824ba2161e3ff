import Foundation
import NIOCore
import NIOPosix
import Testing
@testable import RemoteProtocol

// Debian's real virsh (libvirt's own client library) against the built corrald, over the
// UNIX sockets, with the tiny guest under TCG.

enum Paths {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// corrald from the same products directory as the test bundle, else .build/debug.
    static var corrald: String? {
        let candidates = [Bundle.main.bundleURL.appendingPathComponent("corrald").path,
                          packageRoot.appendingPathComponent(".build/debug/corrald").path]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static let virsh = "/usr/bin/virsh"
    static var haveVirsh: Bool { FileManager.default.isExecutableFile(atPath: virsh) }
    static var haveQEMU: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-system-x86_64") }

    /// The tiny guest's XML, built once per run (the script caches its downloads).
    static let tinyGuestXML: String? = {
        let dir = ProcessInfo.processInfo.environment["CORRAL_TINY_GUEST_DIR"]
            ?? packageRoot.appendingPathComponent(".build/tiny-guest").path
        guard let r = try? run("/bin/bash", [packageRoot.appendingPathComponent("scripts/tiny-guest.sh").path, dir], timeout: 600),
              r.status == 0 else { return nil }
        return "\(dir)/tiny.xml"
    }()
}

/// `virsh console` on a pseudo-terminal (script(1)).
final class Console {
    let process = Process()
    let input = Pipe(), output = Pipe()
    let seen = Captured()

    init(_ d: Daemon, domain: String = "tiny") throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-qfec", "\(Paths.virsh) -c '\(d.uri)' console \(domain)", "/dev/null"]
        process.standardInput = input; process.standardOutput = output; process.standardError = output
        let seen = seen
        output.fileHandleForReading.readabilityHandler = { seen.append($0.availableData) }
        try process.run()
    }

    func type(_ text: String) { input.fileHandleForWriting.write(Data(text.utf8)) }

    func waitFor(_ text: String, _ seconds: TimeInterval) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end { if seen.text.contains(text) { return true }; Thread.sleep(forTimeInterval: 0.1) }
        return false
    }

    /// The exit status, or nil if it is still running after `seconds`.
    func waitForExit(_ seconds: TimeInterval) -> Int32? {
        let end = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < end { Thread.sleep(forTimeInterval: 0.1) }
        return process.isRunning ? nil : process.terminationStatus
    }

    deinit {
        if process.isRunning { process.terminate() }
        output.fileHandleForReading.readabilityHandler = nil
    }
}

/// Output collected from a readability handler.
final class Captured: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ d: Data) { lock.withLock { data.append(d) } }
    var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}

struct ProcResult { var status: Int32; var out: String; var err: String }

/// Runs a program to completion with a timeout, reading both pipes concurrently.
func run(_ path: String, _ args: [String], env: [String: String] = [:], timeout: TimeInterval = 60) throws -> ProcResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    var environment = ProcessInfo.processInfo.environment
    environment.merge(env) { $1 }
    p.environment = environment
    let outPipe = Pipe(), errPipe = Pipe()
    p.standardOutput = outPipe; p.standardError = errPipe; p.standardInput = FileHandle.nullDevice
    try p.run()
    nonisolated(unsafe) var outData = Data(), errData = Data()
    let group = DispatchGroup()
    group.enter(); DispatchQueue.global().async { outData = outPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter(); DispatchQueue.global().async { errData = errPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    if group.wait(timeout: .now() + timeout) == .timedOut {
        p.terminate()
        throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "\(path) \(args) timed out"])
    }
    p.waitUntilExit()
    return ProcResult(status: p.terminationStatus, out: String(decoding: outData, as: UTF8.self),
                      err: String(decoding: errData, as: UTF8.self))
}

/// A corrald process on a temporary root; stopped with SIGTERM.
final class Daemon {
    let root: String
    private(set) var process: Process?
    private let log: FileHandle

    var socket: String { "\(root)/run/libvirt-sock" }
    var roSocket: String { "\(root)/run/libvirt-sock-ro" }
    var uri: String { "qemu+unix:///system?socket=\(socket)" }
    var roURI: String { "qemu+unix:///system?socket=\(roSocket)" }

    init(root: String? = nil) throws {
        self.root = root ?? FileManager.default.temporaryDirectory.appendingPathComponent("corrald-test-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: self.root, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: "\(self.root)/corrald.log", contents: nil)
        log = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(self.root)/corrald.log"))
        try start()
    }

    func start() throws {
        let p = Process()
        guard let binary = Paths.corrald else { throw CocoaError(.fileNoSuchFile) }
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["--root", root]
        p.standardOutput = log; p.standardError = log
        try p.run()
        process = p
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if FileManager.default.fileExists(atPath: roSocket) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "corrald did not create its sockets"])
    }

    /// SIGTERM and wait: the daemon removes its sockets; guests keep running.
    func stop() {
        guard let p = process, p.isRunning else { return }
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        process = nil
    }

    func virsh(_ args: String..., readOnly: Bool = false) throws -> ProcResult {
        try run(Paths.virsh, ["-c", readOnly ? roURI : uri] + args, timeout: 120)
    }

    var logText: String { (try? String(contentsOfFile: "\(root)/corrald.log", encoding: .utf8)) ?? "" }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: root)
    }
}

@Suite(.enabled(if: Paths.haveVirsh && Paths.corrald != nil, "needs /usr/bin/virsh and a built corrald"), .serialized)
struct VirshInteropTests {
    @Test func connectionLevelCommands() throws {
        let d = try Daemon()
        defer { d.stop() }
        let list = try d.virsh("list", "--all")
        #expect(list.status == 0, "\(list.err)")
        #expect(list.out == " Id   Name   State\n--------------------\n\n")
        #expect(try d.virsh("uri").out == "\(d.uri)\n\n")
        let version = try d.virsh("version", "--daemon")
        #expect(version.out.contains("Running against daemon: 9.0.0"))
        #expect(version.out.contains("Running hypervisor: QEMU"))
        let node = try d.virsh("nodeinfo")
        #expect(node.status == 0)
        #expect(node.out.contains("CPU model:           x86_64"))
        let hostname = try run("/bin/hostname", []).out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try d.virsh("hostname").out == "\(hostname)\n\n")
        #expect(try d.virsh("capabilities").out.contains("<capabilities>"))
        // Something corrald does not serve: libvirt's own wording, connection still fine.
        let unsupported = try d.virsh("freecell")
        #expect(unsupported.status != 0)
        #expect(unsupported.err.contains("this function is not supported by the connection driver"))
        // Read-only socket: queries pass, changes are refused as libvirtd refuses them.
        #expect(try d.virsh("list", "--all", readOnly: true).status == 0)
        let refused = try d.virsh("define", "/dev/null", readOnly: true)
        #expect(refused.err.contains("operation forbidden: read only access prevents virDomainDefineXML"))
    }

    @Test(.enabled(if: Paths.haveQEMU, "needs qemu-system-x86_64"))
    func guestLifecycle() throws {
        let xml = try #require(Paths.tinyGuestXML, "scripts/tiny-guest.sh failed")
        let d = try Daemon()
        defer {
            _ = try? d.virsh("destroy", "tiny")
            d.stop()
        }
        #expect(try d.virsh("define", xml).out == "Domain 'tiny' defined from \(xml)\n\n")
        #expect(try d.virsh("list", "--all").out == " Id   Name   State\n-----------------------\n -    tiny   shut off\n\n")
        let start = try d.virsh("start", "tiny")
        #expect(start.out == "Domain 'tiny' started\n\n", "\(start.err)")
        #expect(try d.virsh("domstate", "tiny").out == "running\n\n")

        let info = try d.virsh("dominfo", "tiny").out
        for line in ["Name:           tiny", "OS Type:        hvm", "State:          running", "CPU(s):         1",
                     "Max memory:     262144 KiB", "Persistent:     yes", "Autostart:      disable", "Managed save:   no"] {
            #expect(info.contains(line + "\n"), "dominfo lacks '\(line)': \(info)")
        }
        #expect(try d.virsh("dumpxml", "tiny").out.contains("<name>tiny</name>"))
        #expect(try d.virsh("vcpuinfo", "tiny").out.contains("State:          running"))

        #expect(try d.virsh("suspend", "tiny").out == "Domain 'tiny' suspended\n\n")
        #expect(try d.virsh("domstate", "--reason", "tiny").out == "paused (user)\n\n")
        #expect(try d.virsh("resume", "tiny").out == "Domain 'tiny' resumed\n\n")

        try consoleRoundTrip(d)

        let stats = try d.virsh("domstats", "tiny").out
        #expect(stats.hasPrefix("Domain: 'tiny'\n  state.state=1\n  state.reason="))
        #expect(stats.contains("balloon.maximum=262144"))
        #expect(try d.virsh("dommemstat", "tiny").out.contains("actual 262144"))

        // A read-only client sees the guest but cannot stop it.
        let refused = try d.virsh("destroy", "tiny", readOnly: true)
        #expect(refused.err.contains("operation forbidden: read only access prevents virDomainDestroy"))

        // Restart safety: the daemon goes, the guest stays, a new daemon controls it.
        d.stop()
        #expect(!FileManager.default.fileExists(atPath: d.socket))
        try d.start()
        #expect(try d.virsh("domstate", "tiny").out == "running\n\n")
        // Destroyed while a console is attached: the console sees EOF and virsh exits cleanly.
        let console = try Console(d)
        #expect(console.waitFor("Escape character is ^]", 20), "\(console.seen.text)")
        #expect(try d.virsh("destroy", "tiny").out == "Domain 'tiny' destroyed\n\n")
        #expect(console.waitForExit(20) == 0, "\(console.seen.text)")
        #expect(try d.virsh("domstate", "--reason", "tiny").out == "shut off (destroyed)\n\n")
        // Autostart: a restarted daemon starts the marked domain that is not running.
        #expect(try d.virsh("autostart", "tiny").out == "Domain 'tiny' marked as autostarted\n\n")
        d.stop()
        try d.start()
        let end = Date().addingTimeInterval(30)
        while Date() < end, try d.virsh("domstate", "tiny").out != "running\n\n" { Thread.sleep(forTimeInterval: 0.2) }
        #expect(try d.virsh("domstate", "tiny").out == "running\n\n", "\(d.logText)")
        #expect(d.logText.contains("autostart: started domain 'tiny'"))
        #expect(try d.virsh("autostart", "--disable", "tiny").status == 0)
        #expect(try d.virsh("destroy", "tiny").status == 0)
        #expect(try d.virsh("undefine", "tiny").out == "Domain 'tiny' has been undefined\n\n")
        #expect(try d.virsh("list", "--all").out == " Id   Name   State\n--------------------\n\n")
    }

    /// `virsh console` through a pseudo-terminal (script(1)): a command typed in reaches the
    /// guest's shell and its output comes back; Ctrl+] ends the session cleanly.
    func consoleRoundTrip(_ d: Daemon) throws {
        let serialLog = "\(d.root)/log/qemu/tiny-serial0.log"
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, !((try? String(contentsOfFile: serialLog, encoding: .utf8))?.contains("corral-tiny-guest: ready") ?? false) {
            Thread.sleep(forTimeInterval: 0.5)
        }
        let console = try Console(d)
        #expect(console.waitFor("Escape character is ^]", 20), "\(console.seen.text)")
        // The quotes keep the echoed command line from matching the output we wait for.
        for _ in 0..<10 where !console.seen.text.contains("console-ok") {
            console.type("echo con''sole-ok\r")
            _ = console.waitFor("console-ok", 3)
        }
        #expect(console.seen.text.contains("console-ok"), "\(console.seen.text)")
        console.type("\u{1d}")
        #expect(console.waitForExit(20) == 0)
    }

    /// Mutated and random packets on real connections: the daemon survives and keeps serving.
    @Test func hostileClientsDoNotHurtTheDaemon() async throws {
        let d = try Daemon()
        defer { d.stop() }
        var rng = SeededRandom(state: 2026)
        let seeds = FuzzTests.seeds()
        for i in 0..<300 {
            var wire = RPCMessage(header: RPCHeader(program: RPCProgram.remote, version: 1, procedure: 66, type: .call,
                                                    serial: 1, status: .ok)).wireBytes
            wire += Procedures.connectOpen.call(ConnectOpenArgs(name: nil), serial: 2).wireBytes
            for _ in 0..<(1 + rng.next() % 4) {
                let seed = seeds[Int(rng.next() % UInt64(seeds.count))]
                wire += FuzzTests.mutate(seed.wireBytes, &rng)
            }
            // A full accept backlog answers EAGAIN: wait and try again, as a client would.
            var connected: (any Channel)?
            for _ in 0..<200 where connected == nil {
                do {
                    connected = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                        .connect(unixDomainSocketPath: i % 5 == 0 ? d.roSocket : d.socket).get()
                } catch let error as IOError where error.errnoCode == EAGAIN {
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            let channel = try #require(connected)
            // The daemon may hang up first (on a framing error): that is the point.
            try? await channel.writeAndFlush(ByteBuffer(bytes: wire)).get()
            try? await channel.close()
        }
        #expect(d.process?.isRunning == true)
        let list = try d.virsh("list", "--all")
        #expect(list.status == 0, "\(list.err)\n\(d.logText)")
    }

    @Test func secondDaemonOnTheSameRootIsRefused() throws {
        let d = try Daemon()
        defer { d.stop() }
        let second = try run(try #require(Paths.corrald), ["--root", d.root], timeout: 20)
        #expect(second.status != 0)
        #expect(second.err.contains("corrald is already running for this root"))
        #expect(try d.virsh("list").status == 0)
    }
}
