import Foundation
import Testing

// The spine end to end, as a new user runs it: the real `corral` binary, a real
// QEMU guest (TCG), a temporary state root, and a second CLI process watching.

/// Runs `corral` (the binary built next to the tests) and captures its output.
struct CLI {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static var binary: URL {
        // The test bundle lives in the same products directory as the executable.
        let products = Bundle.main.bundleURL
        let candidates = [products.appendingPathComponent("corral"),
                          packageRoot.appendingPathComponent(".build/debug/corral")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[1]
    }

    struct Result { var status: Int32; var out: String; var err: String }

    @discardableResult
    static func run(_ args: [String], stdin: String? = nil, env: [String: String] = [:], timeout: TimeInterval = 120) throws -> Result {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        var environment = ProcessInfo.processInfo.environment
        environment.merge(env) { $1 }
        p.environment = environment
        let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
        p.standardOutput = outPipe; p.standardError = errPipe; p.standardInput = inPipe
        try p.run()
        if let stdin { inPipe.fileHandleForWriting.write(Data(stdin.utf8)) }
        try inPipe.fileHandleForWriting.close()
        // Read both pipes concurrently so a chatty child never blocks on a full pipe.
        nonisolated(unsafe) var outData = Data(), errData = Data()
        let group = DispatchGroup()
        group.enter(); DispatchQueue.global().async { outData = outPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter(); DispatchQueue.global().async { errData = errPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        if group.wait(timeout: .now() + timeout) == .timedOut {
            p.terminate()
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "corral \(args) timed out"])
        }
        p.waitUntilExit()
        return Result(status: p.terminationStatus, out: String(decoding: outData, as: UTF8.self),
                      err: String(decoding: errData, as: UTF8.self))
    }
}

/// The tiny guest, built once per test run into .build/tiny-guest (the script caches its download).
enum TinyGuest {
    static let dir: URL = {
        let env = ProcessInfo.processInfo.environment["CORRAL_TINY_GUEST_DIR"]
        return env.map { URL(fileURLWithPath: $0) } ?? CLI.packageRoot.appendingPathComponent(".build/tiny-guest")
    }()

    static let built: Result<URL, any Error> = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [CLI.packageRoot.appendingPathComponent("scripts/tiny-guest.sh").path, dir.path]
        do {
            try p.run(); p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "tiny-guest.sh failed"]) }
            return .success(dir.appendingPathComponent("tiny.xml"))
        } catch { return .failure(error) }
    }()

    /// tiny.xml rewritten to boot a private copy of the data disk under `root`,
    /// so tests (and anyone else booting the shared guest) never share a disk lock.
    static func xml(in root: URL) throws -> URL {
        let shared = try built.get()
        let disk = root.appendingPathComponent("data.qcow2")
        try FileManager.default.copyItem(at: dir.appendingPathComponent("data.qcow2"), to: disk)
        let text = try String(contentsOf: shared, encoding: .utf8)
            .replacingOccurrences(of: dir.appendingPathComponent("data.qcow2").path, with: disk.path)
        let xml = root.appendingPathComponent("tiny.xml")
        try text.write(to: xml, atomically: true, encoding: .utf8)
        return xml
    }
}

func waitUntil(_ timeout: TimeInterval, _ what: String, poll: TimeInterval = 0.5, _ cond: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try cond() { return }
        Thread.sleep(forTimeInterval: poll)
    }
    Issue.record("timed out after \(Int(timeout)) s waiting for \(what)")
    throw CocoaError(.userCancelled)
}

@Suite(.serialized) struct EndToEndTests {
    let root: URL
    var uri: String { "qemu:///embed?root=\(root.path)" }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("corral-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    func corral(_ args: String...) throws -> CLI.Result { try CLI.run(["-c", uri] + args) }

    func serialLog() -> String {
        (try? String(contentsOf: root.appendingPathComponent("log/qemu/tiny-serial0.log"), encoding: .utf8)) ?? ""
    }

    /// Kills whatever guest this test started (by the pid in its own state root).
    func cleanup() {
        _ = try? corral("destroy", "tiny")
        try? FileManager.default.removeItem(at: root)
    }

    @Test func defineStartWatchShutdown() throws {
        let xml = try TinyGuest.xml(in: root)
        defer { cleanup() }

        let def = try corral("define", xml.path)
        #expect(def.status == 0, "\(def.err)")
        #expect(def.out.contains("Domain 'tiny' defined from \(xml.path)"))

        let listOff = try corral("list", "--all")
        #expect(listOff.out.contains("tiny") && listOff.out.contains("shut off"), "\(listOff.out)")

        let start = try corral("start", "tiny")
        #expect(start.status == 0, "\(start.err)")
        #expect(start.out.contains("Domain 'tiny' started"))

        // A second, separate CLI process sees it running.
        let state = try corral("domstate", "tiny")
        #expect(state.out.trimmingCharacters(in: .whitespacesAndNewlines) == "running")
        let list = try corral("list")
        #expect(list.out.contains(" tiny ") && list.out.contains("running"), "\(list.out)")

        try waitUntil(90, "corral-tiny-guest: ready in the serial log") { serialLog().contains("corral-tiny-guest: ready") }

        // Type a command through the console stream and read the answer.
        let console = try CLI.run(["-c", uri, "console", "tiny"],
                                  stdin: "cat /mnt/data/hello.txt\n", timeout: 60)
        #expect(console.status == 0, "\(console.err)")
        #expect(console.out.contains("corral data disk"), "console said: \(console.out)")

        let shutdown = try corral("shutdown", "tiny")
        #expect(shutdown.status == 0, "\(shutdown.err)")
        #expect(shutdown.out.contains("Domain 'tiny' is being shutdown"))
        try waitUntil(60, "tiny to shut off") {
            try corral("domstate", "tiny").out.contains("shut off")
        }
        let reason = try corral("domstate", "--reason", "tiny")
        #expect(reason.out.contains("shut off (shutdown)"), "\(reason.out)")
    }

    @Test func qemuKilledBehindOurBackIsReportedCrashed() throws {
        let xml = try TinyGuest.xml(in: root)
        defer { cleanup() }
        #expect(try corral("define", xml.path).status == 0)
        #expect(try corral("start", "tiny").status == 0)
        let pidText = try String(contentsOf: root.appendingPathComponent("run/qemu/tiny/qemu.pid"), encoding: .utf8)
        let pid = try #require(Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(pid, SIGKILL) == 0)
        try waitUntil(20, "the crash to be noticed") {
            try corral("domstate", "--reason", "tiny").out.contains("shut off (crashed)")
        }
        // No stale run state is left, and it starts again.
        let again = try corral("start", "tiny")
        #expect(again.status == 0, "\(again.err)")
    }

    @Test func startErrors() throws {
        let xml = try TinyGuest.xml(in: root)
        defer { cleanup() }
        #expect(try corral("define", xml.path).status == 0)
        #expect(try corral("start", "tiny").status == 0)
        let twice = try corral("start", "tiny")
        #expect(twice.status == 1)
        #expect(twice.err.contains("error: ") && twice.err.contains("Domain is already active"), "\(twice.err)")
        _ = try corral("destroy", "tiny")
        #expect(try corral("domstate", "--reason", "tiny").out.contains("shut off (destroyed)"))

        // A kernel that is not there: clear error, no run state left behind.
        var text = try String(contentsOf: xml, encoding: .utf8)
        text = text.replacingOccurrences(of: "<name>tiny</name>", with: "<name>nokernel</name>")
        text = text.replacingOccurrences(of: #"<uuid>[^<]*</uuid>"#, with: "", options: .regularExpression)
        text = text.replacingOccurrences(of: "/vmlinuz<", with: "/missing-vmlinuz<")
        let bad = root.appendingPathComponent("nokernel.xml")
        try text.write(to: bad, atomically: true, encoding: .utf8)
        #expect(try corral("define", bad.path).status == 0)
        let failed = try corral("start", "nokernel")
        #expect(failed.status == 1)
        #expect(failed.err.contains("missing-vmlinuz"), "\(failed.err)")
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("run/qemu/nokernel").path))
        #expect(try corral("domstate", "nokernel").out.contains("shut off"))
    }
}
