import Foundation
import Testing
@testable import QEMUDriver
#if canImport(Glibc)
import Glibc
#endif

let qemuBinary = "/usr/bin/qemu-system-x86_64"
let haveQEMU = access(qemuBinary, X_OK) == 0

/// Polls `cond` every 20 ms for up to `seconds`.
func waitUntil(_ seconds: Double, _ cond: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if cond() { return true }
        try? await Task.sleep(nanoseconds: 20_000_000)
    }
    return cond()
}

func makeTempDir(_ tag: String) throws -> String {
    let dir = NSTemporaryDirectory() + "corral-\(tag)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// The supervisor and QMP client against a real QEMU sitting in its BIOS (no guest needed).
@Suite(.enabled(if: haveQEMU, "needs \(qemuBinary)"), .serialized)
struct QMPRealQEMUTests {
    struct Run {
        var dir: String
        var sock: String { "\(dir)/monitor.sock" }
        var exit: String { "\(dir)/exit-status" }
        var pidFile: String { "\(dir)/qemu.pid" }
        var log: String { "\(dir)/qemu.log" }
    }

    func spawn() async throws -> (Run, Int32) {
        let run = Run(dir: try makeTempDir("qmp"))
        try ProcessSupervisor.spawn(
            argv: [qemuBinary, "-S", "-machine", "pc,accel=tcg", "-nodefaults", "-display", "none", "-m", "32",
                   "-pidfile", run.pidFile,
                   "-chardev", "socket,id=charmonitor,path=\(run.sock),server=on,wait=off",
                   "-mon", "chardev=charmonitor,id=monitor,mode=control",
                   "-chardev", "pty,id=charserial0", "-device", "isa-serial,chardev=charserial0,id=serial0"],
            logPath: run.log, exitStatusPath: run.exit, supervisorPidPath: "\(run.dir)/supervisor.pid")
        #expect(await waitUntil(20) { ProcessSupervisor.readPid(run.pidFile) != nil && FileIO.exists(run.sock) })
        let pid = try #require(ProcessSupervisor.readPid(run.pidFile))
        return (run, pid)
    }

    @Test func quitRecordsExitZero() async throws {
        let (run, pid) = try await spawn()
        defer { if ProcessSupervisor.isAlive(pid) { kill(pid, SIGKILL) }; FileIO.remove(run.dir) }
        let qmp = try await QMPClient.connect(path: run.sock)
        #expect(qmp.greeting["QMP"]?["version"]?["qemu"]?["major"]?.int64 ?? 0 >= 7)
        #expect(try await qmp.execute("query-status")["status"] == "prelaunch")
        try await qmp.execute("cont")
        #expect(try await qmp.execute("query-status")["status"] == "running")
        let chardevs = try await qmp.execute("query-chardev").array ?? []
        let pty = chardevs.first { $0["label"] == "charserial0" }?["filename"]?.string
        #expect(pty?.hasPrefix("pty:/dev/pts/") == true)
        await #expect(throws: QMPError.self) { try await qmp.execute("no-such-command") }
        try await qmp.execute("quit")
        await qmp.close()
        #expect(await waitUntil(10) { FileIO.exists(run.exit) })
        #expect(FileIO.readString(run.exit)?.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }

    @Test func killRecordsSignalAndSupervisorSurvivesInOwnSession() async throws {
        let (run, pid) = try await spawn()
        defer { if ProcessSupervisor.isAlive(pid) { kill(pid, SIGKILL) }; FileIO.remove(run.dir) }
        let supervisor = try #require(ProcessSupervisor.readPid("\(run.dir)/supervisor.pid"))
        #expect(getsid(supervisor) == supervisor)
        #expect(getsid(supervisor) != getsid(0))
        // Re-parented away from us, so it outlives this process and needs no reaping by it.
        #expect(ProcStat(pid: supervisor)?.ppid != getpid())
        kill(pid, SIGKILL)
        #expect(await waitUntil(10) { FileIO.exists(run.exit) })
        #expect(FileIO.readString(run.exit)?.trimmingCharacters(in: .whitespacesAndNewlines) == "137")
        #expect(await waitUntil(5) { !ProcessSupervisor.isAlive(supervisor) })
    }
}
