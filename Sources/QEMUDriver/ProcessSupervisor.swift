import Foundation
import Hypervisor
#if canImport(Glibc)
import Glibc
#endif

/// Starts QEMU under a small shell supervisor that outlives the starting process.
///
/// QEMU runs in the foreground of `sh` (no -daemonize), so the shell learns how it ended and
/// records it in `exit-status`: 0 = guest powered off or QMP quit, 128+N = killed by signal N,
/// anything else = QEMU failed. `setsid -f` puts the shell in its own session (signals to the
/// CLI's process group do not reach it) and re-parents it to init, so nothing waits on us.
enum ProcessSupervisor {
    /// The shell script; paths arrive as positional parameters, so no quoting is needed.
    static let script = #"""
    log=$1; exitf=$2; supf=$3; shift 3
    echo $$ > "$supf"
    "$@" >>"$log" 2>&1 </dev/null
    echo $? > "$exitf.tmp" && mv "$exitf.tmp" "$exitf"
    """#

    static func spawn(argv: [String], logPath: String, exitStatusPath: String, supervisorPidPath: String) throws {
        let candidates: [String] = ["/usr/bin/setsid", "/bin/setsid"]
        let setsid = candidates.first { Glibc.access($0, X_OK) == 0 } ?? "/usr/bin/setsid"
        let args = [setsid, "-f", "/bin/sh", "-c", script, "sh", logPath, exitStatusPath, supervisorPidPath] + argv

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // The supervisor's own complaints (if any) go to the domain log too.
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        markAllDescriptorsCloseOnExec()

        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attr, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGCHLD] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let cArgs = args.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, setsid, &actions, &attr, cArgs, environ)
        guard rc == 0 else {
            throw VirError(.systemError, "cannot execute '\(setsid)': \(String(cString: strerror(rc)))", domain: .qemu)
        }
        // `setsid -f` forks the shell and exits at once; reap it so no zombie remains.
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    /// No inherited descriptors: a lock fd leaking into the supervisor would hold the lock forever.
    /// (glibc's posix_spawn_file_actions_addclosefrom_np is not visible to Swift.)
    private static func markAllDescriptorsCloseOnExec() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
        for name in names {
            guard let fd = Int32(name), fd > 2 else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 && flags & FD_CLOEXEC == 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// True when `pid` names a live (not zombie) process.
    static func isAlive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) != 0 && errno != EPERM { return false }
        guard let stat = ProcStat(pid: pid) else { return false }
        return stat.state != "Z" && stat.state != "X"
    }

    /// True when `pid` is alive and runs `executable` (guards against a recycled pid).
    static func isRunning(_ pid: Int32, executable: String) -> Bool {
        guard isAlive(pid) else { return false }
        guard let cmdline = FileIO.read("/proc/\(pid)/cmdline") else { return true }
        let argv0 = String(decoding: cmdline.prefix { $0 != 0 }, as: UTF8.self)
        return argv0 == executable
    }

    static var bootID: String? {
        FileIO.readString("/proc/sys/kernel/random/boot_id")?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func readPid(_ path: String) -> Int32? {
        guard let text = FileIO.readString(path) else { return nil }
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// The fields Corral needs from /proc/PID/stat or /proc/PID/task/TID/stat.
struct ProcStat {
    var state: Character
    var utimeTicks: UInt64
    var stimeTicks: UInt64
    var processor: Int32

    init?(pid: Int32, tid: Int32? = nil) {
        let path = tid.map { "/proc/\(pid)/task/\($0)/stat" } ?? "/proc/\(pid)/stat"
        guard let text = FileIO.readString(path) else { return nil }
        self.init(text: text)
    }

    /// Parses the stat line; the command name in parentheses may itself contain spaces and ')'.
    init?(text: String) {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let rest = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // rest[0] is field 3 (state); utime/stime are fields 14/15; processor is field 39.
        guard rest.count > 13, let st = rest[0].first,
              let u = UInt64(rest[11]), let s = UInt64(rest[12]) else { return nil }
        state = st
        utimeTicks = u
        stimeTicks = s
        processor = rest.count > 36 ? Int32(rest[36]) ?? -1 : -1
    }

    static let nsPerTick: UInt64 = {
        let hz = sysconf(Int32(_SC_CLK_TCK))
        return hz > 0 ? 1_000_000_000 / UInt64(hz) : 10_000_000
    }()

    var userNs: UInt64 { utimeTicks &* Self.nsPerTick }
    var systemNs: UInt64 { stimeTicks &* Self.nsPerTick }
    var totalNs: UInt64 { userNs &+ systemNs }
}
