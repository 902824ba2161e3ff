import Foundation
import Hypervisor
#if canImport(Glibc)
import Glibc
#endif

/// The layout of an embedded driver's state root, after libvirt's directories:
///
///     etc/qemu/NAME.xml            persistent config (inactive XML)
///     etc/qemu/autostart/NAME      autostart marker
///     run/qemu/NAME/               per running domain: status.xml, status.json, monitor.sock, qemu.pid, exit-status
///     run/qemu/NAME.lock           per-domain lock for start/stop/define/undefine
///     run/qemu/next-id             domain id counter
///     log/qemu/NAME.log            QEMU's stdout/stderr; NAME-serial0.log serial output
///     cache/qemu/                  capabilities cache
///     lib/qemu/NAME.json           last shutoff state/reason
struct StateDir: Sendable {
    let root: String

    var configDir: String { "\(root)/etc/qemu" }
    var autostartDir: String { "\(configDir)/autostart" }
    var runDir: String { "\(root)/run/qemu" }
    var logDir: String { "\(root)/log/qemu" }
    var cacheDir: String { "\(root)/cache/qemu" }
    var libDir: String { "\(root)/lib/qemu" }

    func configPath(_ name: String) -> String { "\(configDir)/\(name).xml" }
    func autostartPath(_ name: String) -> String { "\(autostartDir)/\(name)" }
    func domainRunDir(_ name: String) -> String { "\(runDir)/\(name)" }
    func domainLock(_ name: String) -> String { "\(runDir)/\(name).lock" }
    func statusXML(_ name: String) -> String { "\(domainRunDir(name))/status.xml" }
    func statusJSON(_ name: String) -> String { "\(domainRunDir(name))/status.json" }
    func exitStatus(_ name: String) -> String { "\(domainRunDir(name))/exit-status" }
    func supervisorPid(_ name: String) -> String { "\(domainRunDir(name))/supervisor.pid" }
    func monitorLock(_ name: String) -> String { "\(domainRunDir(name))/monitor.lock" }
    func consoleLock(_ name: String) -> String { "\(domainRunDir(name))/console.lock" }
    /// Written before a deliberate stop so the exit is reported as "destroyed", not "crashed".
    func destroyIntent(_ name: String) -> String { "\(domainRunDir(name))/destroy-intent" }
    func logPath(_ name: String) -> String { "\(logDir)/\(name).log" }
    func shutoffRecord(_ name: String) -> String { "\(libDir)/\(name).json" }
    var nextIDPath: String { "\(runDir)/next-id" }

    /// Names that may have a run directory: run/qemu also holds every domain's lock file and the
    /// id counter, which a lookup must not stat one by one.
    func runDirNames() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: runDir)) ?? []).filter { !$0.hasSuffix(".lock") && $0 != "next-id" }
    }

    func launchContext(_ name: String, accel: String) -> QEMULaunchContext {
        QEMULaunchContext(domainDir: domainRunDir(name), logDir: logDir, accel: accel)
    }

    func create() throws {
        for dir in [configDir, autostartDir, runDir, logDir, cacheDir, libDir] {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                throw VirError(.systemError, "cannot create directory '\(dir)': \(error.localizedDescription)", domain: .qemu)
            }
        }
    }

    /// Hands out increasing domain ids shared by every process using this root.
    func allocateID() throws -> Int32 {
        let fd = open(nextIDPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileIO.systemError("cannot open '\(nextIDPath)'") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw FileIO.systemError("cannot lock '\(nextIDPath)'") }
        var buf = [UInt8](repeating: 0, count: 32)
        let n = pread(fd, &buf, buf.count, 0)
        let text = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : ""
        let current = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 1
        let id = current > 0 && current < Int32.max ? current : 1
        let next = Array("\(id + 1)\n".utf8)
        guard ftruncate(fd, 0) == 0, pwrite(fd, next, next.count, 0) == next.count else {
            throw FileIO.systemError("cannot write '\(nextIDPath)'")
        }
        return id
    }
}

/// Small file helpers with libvirt-style error messages.
enum FileIO {
    static func systemError(_ what: String) -> VirError {
        let err = errno
        return VirError(.systemError, "\(what): \(String(cString: strerror(err)))", domain: .qemu)
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func read(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    static func readString(_ path: String) -> String? { read(path).map { String(decoding: $0, as: UTF8.self) } }

    /// Writes via a temporary file, fsync and rename, so readers never see a half-written file.
    /// `durable: false` skips the fsyncs, for run-time state that means nothing after a host reboot.
    static func writeAtomically(_ data: Data, to path: String, mode: mode_t = 0o644, durable: Bool = true) throws {
        let tmp = "\(path).tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw systemError("cannot create '\(tmp)'") }
        var ok = true
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 { if errno == EINTR { continue }; ok = false; return }
                off += n
            }
        }
        if ok && durable && fsync(fd) != 0 { ok = false }
        let writeErr = systemError("cannot write '\(tmp)'")
        close(fd)
        guard ok else { unlink(tmp); throw writeErr }
        guard rename(tmp, path) == 0 else {
            let e = systemError("cannot rename '\(tmp)' to '\(path)'")
            unlink(tmp)
            throw e
        }
        guard durable else { return }
        let dir = (path as NSString).deletingLastPathComponent
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    static func writeAtomically(_ string: String, to path: String, durable: Bool = true) throws {
        try writeAtomically(Data(string.utf8), to: path, durable: durable)
    }

    static func append(_ string: String, to path: String) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        let bytes = Array(string.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    static func remove(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

    static func size(_ path: String) -> UInt64 {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_size) : 0
    }

    /// The bytes of a file from `offset` on, at most the last `limit` bytes of them.
    static func tail(_ path: String, from offset: UInt64, limit: Int = 8192) -> String {
        guard let h = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? h.close() }
        let end = (try? h.seekToEnd()) ?? 0
        let start = max(offset, end > UInt64(limit) ? end - UInt64(limit) : 0)
        guard (try? h.seek(toOffset: start)) != nil, let data = try? h.readToEnd() else { return "" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// An exclusive `flock` on a lock file, held until `release()` or deinit.
///
/// flock locks belong to the open file description, so two acquisitions in one process
/// exclude each other just like two processes do.
final class FileLock {
    private var fd: Int32

    private init(fd: Int32) { self.fd = fd }

    /// Returns nil when another holder has the lock.
    static func tryAcquire(_ path: String) throws -> FileLock? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileIO.systemError("cannot open lock file '\(path)'") }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { return FileLock(fd: fd) }
        close(fd)
        return nil
    }

    /// Waits (without blocking a thread) until the lock is free, up to `timeout` seconds.
    static func acquire(_ path: String, timeout: Double = 60, what: String) async throws -> FileLock {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let lock = try tryAcquire(path) { return lock }
            if Date() > deadline {
                throw VirError(.operationTimeout, "Timed out during operation: cannot acquire \(what) lock", domain: .qemu)
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    func release() {
        if fd >= 0 { close(fd); fd = -1 }
    }

    deinit { release() }
}
