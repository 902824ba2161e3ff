import Foundation
import Testing
@testable import RemoteProtocol

// The built `corral` CLI against the built `corrald`, through the remote client, with the
// tiny guest under TCG: over the UNIX socket and over TCP on a loopback port.

enum ClientPaths {
    /// corral from the same products directory as the test bundle, else .build/debug.
    static var corral: String? {
        let candidates = [Bundle.main.bundleURL.appendingPathComponent("corral").path,
                          Paths.packageRoot.appendingPathComponent(".build/debug/corral").path]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// A TCP port nobody listens on right now (bound to port 0, then released).
    static func freeLoopbackPort() -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        return ok ? Int(UInt16(bigEndian: addr.sin_port)) : nil
    }
}

/// Runs blocking work on a dispatch thread, so that waiting for processes never takes one of
/// the few cooperative threads the in-process tests run on.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        DispatchQueue.global().async { c.resume(with: Result { try body() }) }
    }
}

/// Runs corral with `stdin` written to it, reading both pipes concurrently.
func runCorral(_ args: [String], stdin: String? = nil, timeout: TimeInterval = 120) async throws -> ProcResult {
    try await offPool { try runCorralBlocking(args, stdin: stdin, timeout: timeout) }
}

func runCorralBlocking(_ args: [String], stdin: String?, timeout: TimeInterval) throws -> ProcResult {
    guard let corral = ClientPaths.corral else { throw CocoaError(.fileNoSuchFile) }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: corral)
    p.arguments = args
    let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
    p.standardOutput = outPipe; p.standardError = errPipe; p.standardInput = inPipe
    try p.run()
    if let stdin { inPipe.fileHandleForWriting.write(Data(stdin.utf8)) }
    try inPipe.fileHandleForWriting.close()
    nonisolated(unsafe) var outData = Data(), errData = Data()
    let group = DispatchGroup()
    group.enter(); DispatchQueue.global().async { outData = outPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter(); DispatchQueue.global().async { errData = errPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    if group.wait(timeout: .now() + timeout) == .timedOut {
        kill(p.processIdentifier, SIGKILL)
        throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "corral \(args) timed out"])
    }
    p.waitUntilExit()
    return ProcResult(status: p.terminationStatus, out: String(decoding: outData, as: UTF8.self),
                      err: String(decoding: errData, as: UTF8.self))
}

@Suite(.enabled(if: ClientPaths.corral != nil && Paths.corrald != nil, "needs the built corral and corrald"), .serialized)
struct ClientEndToEndTests {
    /// corrald --root DIR --listen 127.0.0.1:PORT, stopped by its PID.
    final class TCPDaemon {
        let root: String
        let port: Int
        let process = Process()
        var unixURI: String { "qemu+unix:///system?socket=\(root)/run/libvirt-sock" }
        var tcpURI: String { "qemu+tcp://127.0.0.1:\(port)/system" }

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("client-e2e-\(UUID().uuidString.prefix(8))").path
            port = try #require(ClientPaths.freeLoopbackPort())
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            let logPath = "\(root)/corrald.txt"
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            process.executableURL = URL(fileURLWithPath: try #require(Paths.corrald))
            process.arguments = ["--root", root, "--listen", "127.0.0.1:\(port)"]
            process.standardOutput = log; process.standardError = log
            try process.run()
        }

        static func start() async throws -> TCPDaemon {
            let d = try TCPDaemon()
            try await waitUntilTrue(20, "corrald's sockets") { FileManager.default.fileExists(atPath: "\(d.root)/run/libvirt-sock-ro") }
            return d
        }

        var log: String { (try? String(contentsOfFile: "\(root)/corrald.txt", encoding: .utf8)) ?? "" }
        var serialLog: String { (try? String(contentsOfFile: "\(root)/log/qemu/tiny-serial0.log", encoding: .utf8)) ?? "" }

        func corral(_ args: String..., tcp: Bool = false, stdin: String? = nil) async throws -> ProcResult {
            try await runCorral(["-c", tcp ? tcpURI : unixURI] + args, stdin: stdin)
        }

        /// Destroys the guest if it is still running (the daemon leaves guests running).
        func destroyGuest() {
            _ = try? runCorralBlocking(["-c", unixURI, "destroy", "tiny"], stdin: nil, timeout: 60)
        }

        deinit {
            if process.isRunning {
                kill(process.processIdentifier, SIGTERM)
                process.waitUntilExit()
            }
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    /// The tiny guest's XML with its data disk copied into `dir` (other tests boot the
    /// shared image, and QEMU locks it).
    static func privateTinyGuest(in dir: String) async throws -> String {
        let shared = try #require(try await offPool { Paths.tinyGuestXML }, "scripts/tiny-guest.sh failed")
        let sharedDisk = (shared as NSString).deletingLastPathComponent + "/data.qcow2"
        let disk = "\(dir)/data.qcow2"
        try FileManager.default.copyItem(atPath: sharedDisk, toPath: disk)
        let xml = try String(contentsOfFile: shared, encoding: .utf8)
        #expect(xml.contains("file='\(sharedDisk)'"))
        let path = "\(dir)/tiny.xml"
        try xml.replacingOccurrences(of: "file='\(sharedDisk)'", with: "file='\(disk)'")
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(.enabled(if: Paths.haveQEMU, "needs qemu-system-x86_64"))
    func spineFlowThroughTheDaemon() async throws {
        let d = try await TCPDaemon.start()
        defer { d.destroyGuest() }
        let xml = try await Self.privateTinyGuest(in: d.root)

        let def = try await d.corral("define", xml)
        #expect(def.status == 0, "\(def.err) \(d.log)")
        #expect(def.out == "Domain 'tiny' defined from \(xml)\n\n")
        #expect(try await d.corral("list", "--all").out.contains(" -    tiny   shut off"))

        let start = try await d.corral("start", "tiny")
        #expect(start.out == "Domain 'tiny' started\n\n", "\(start.err)")
        let list = try await d.corral("list")
        #expect(list.out.contains(" tiny ") && list.out.contains("running"), "\(list.out)")
        let info = try await d.corral("dominfo", "tiny").out
        for line in ["Name:           tiny", "State:          running", "CPU(s):         1", "Max memory:     262144 KiB",
                     "Persistent:     yes"] {
            #expect(info.contains(line + "\n"), "dominfo lacks '\(line)': \(info)")
        }

        // The same daemon over TCP.
        #expect(try await d.corral("domstate", "tiny", tcp: true).out == "running\n\n")
        #expect(try await d.corral("uri", tcp: true).out == "\(d.tcpURI)\n\n")

        try await waitUntilTrue(120, "the guest to be ready") { d.serialLog.contains("corral-tiny-guest: ready") }
        let console = try await d.corral("console", "tiny", stdin: "cat /mnt/data/hello.txt\n")
        #expect(console.status == 0, "\(console.err)")
        #expect(console.out.contains("corral data disk"), "console said: \(console.out)")

        let stats = try await d.corral("domstats", "tiny").out
        #expect(stats.hasPrefix("Domain: 'tiny'\n  state.state=1\n"), "\(stats)")
        #expect(stats.contains("balloon.maximum=262144"), "\(stats)")

        let shutdown = try await d.corral("shutdown", "tiny")
        #expect(shutdown.out == "Domain 'tiny' is being shutdown\n\n", "\(shutdown.err)")
        try await waitUntilTrue(90, "tiny to shut off") { try await d.corral("domstate", "tiny").out == "shut off\n\n" }

        let undefine = try await d.corral("undefine", "tiny")
        #expect(undefine.out == "Domain 'tiny' has been undefined\n\n", "\(undefine.err)")
        #expect(try await d.corral("list", "--all", tcp: true).out.contains("tiny") == false)
    }

    @Test func errorsAndReadOnlyThroughTheCLI() async throws {
        let d = try await TCPDaemon.start()
        let missing = try await d.corral("dominfo", "nope", tcp: true)
        #expect(missing.status == 1)
        #expect(missing.err == "error: failed to get domain 'nope'\nerror: Domain not found: no domain with matching name 'nope'\n")
        // -r picks the read-only socket; the daemon refuses changes there too.
        let ro = try await runCorral(["-r", "-c", "qemu+unix:///system?socket=\(d.root)/run/libvirt-sock-ro", "hostname"])
        #expect(ro.status == 0 && !ro.out.isEmpty, "\(ro.err)")
        let xml = "\(d.root)/x.xml"
        try "<domain type='qemu'><name>x</name><memory>1024</memory></domain>".write(toFile: xml, atomically: true, encoding: .utf8)
        let refused = try await runCorral(["-c", "qemu+unix:///system?socket=\(d.root)/run/libvirt-sock-ro", "define", xml])
        #expect(refused.status == 1)
        #expect(refused.err.contains("operation forbidden: read only access prevents virDomainDefineXML"), "\(refused.err)")
    }

    /// qemu:///session with no daemon running starts corrald (next to corral) in the
    /// background. As root corrald would take the system paths, so root runs the client as
    /// `nobody` (through runuser).
    @Test(.enabled(if: geteuid() != 0 || FileManager.default.isExecutableFile(atPath: "/usr/sbin/runuser"), "needs a non-root user"))
    func sessionDaemonIsStartedOnDemand() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("client-session-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        if geteuid() == 0 { #expect(chown(home, 65534, 65534) == 0) }
        let pidFile = "\(home)/run/corral/corrald.pid"
        defer {
            // Stop the daemon this test caused to start, by its pid.
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
               let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGTERM)
                let end = Date().addingTimeInterval(10)
                while kill(pid, 0) == 0 && Date() < end { usleep(100_000) }
            }
            try? FileManager.default.removeItem(atPath: home)
        }
        let corral = try #require(ClientPaths.corral)
        let env = ["HOME=\(home)", "XDG_RUNTIME_DIR=\(home)/run", "XDG_DATA_HOME=\(home)/data"]
        func session(_ args: String...) async throws -> ProcResult {
            let argv = env + [corral, "-c", "qemu:///session"] + args
            return try await offPool {
                geteuid() == 0 ? try run("/usr/sbin/runuser", ["-u", "nobody", "--", "/usr/bin/env"] + argv)
                               : try run("/usr/bin/env", argv)
            }
        }
        #expect(!FileManager.default.fileExists(atPath: "\(home)/run/corral/libvirt-sock"))
        let first = try await session("uri")
        #expect(first.status == 0, "\(first.err)")
        #expect(first.out == "qemu:///session\n\n")
        #expect(FileManager.default.fileExists(atPath: "\(home)/run/corral/libvirt-sock"))
        // The second client finds the running daemon.
        #expect(try await session("list", "--all").out == " Id   Name   State\n--------------------\n\n")
    }

    @Test func daemonStoppedUnderAConnection() async throws {
        let d = try await TCPDaemon.start()
        // An interactive session: the second command runs after the daemon is gone.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try #require(ClientPaths.corral))
        p.arguments = ["-c", d.unixURI]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        p.standardInput = input; p.standardOutput = output; p.standardError = errors
        try p.run()
        input.fileHandleForWriting.write(Data("hostname\n".utf8))
        try await Task.sleep(for: .seconds(1))
        let daemon = d.process
        kill(daemon.processIdentifier, SIGTERM)
        try await offPool { daemon.waitUntilExit() }
        input.fileHandleForWriting.write(Data("hostname\n".utf8))
        try input.fileHandleForWriting.close()
        let errHandle = errors.fileHandleForReading
        let err = String(decoding: try await offPool { errHandle.readDataToEndOfFile() }, as: UTF8.self)
        try await offPool { p.waitUntilExit() }
        #expect(err.contains("End of file while reading data: Input/output error"), "\(err)")
    }
}

func waitUntilTrue(_ timeout: TimeInterval, _ what: String, _ cond: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await cond() { return }
        try await Task.sleep(for: .milliseconds(200))
    }
    Issue.record("timed out after \(Int(timeout)) s waiting for \(what)")
    throw CocoaError(.userCancelled)
}
