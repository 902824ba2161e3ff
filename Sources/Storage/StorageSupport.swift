import Foundation
import Hypervisor

// Files, locks and child processes for the storage driver. Every write is temp file + rename so a
// reader in another process sees the old or the new content, never half of one.

enum StorageFiles {
    static func systemError(_ what: String, _ code: Int32 = errno) -> VirError {
        VirError(.systemError, "\(what): \(String(cString: strerror(code)))", domain: .storage)
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func read(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    static func mkdirs(_ path: String, mode: mode_t = 0o755) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: Int(mode)])
        } catch {
            throw VirError(.systemError, "cannot create directory '\(path)': \(error.localizedDescription)", domain: .storage)
        }
    }

    /// The directory part of a path ("" for a bare name, "/" for a top-level entry). Plain
    /// string work: NSString's path methods trap on some inputs in swift-corelibs-foundation,
    /// and these paths come from clients.
    static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The last component of a path (the whole string for a bare name).
    static func lastComponent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// Writes through a temp file in the same directory, fsyncs it, renames it over `path`.
    static func writeAtomically(_ text: String, to path: String) throws {
        let dir = parent(path)
        let tmp = dir + "/.tmp-" + UUID().uuidString
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw systemError("cannot create '\(tmp)'") }
        let bytes = Array(text.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let e = errno
                close(fd); unlink(tmp)
                throw systemError("cannot write '\(path)'", e)
            }
            done += n
        }
        let synced = fsync(fd) == 0
        let e = errno
        close(fd)
        guard synced else { unlink(tmp); throw systemError("cannot write '\(path)'", e) }
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw systemError("cannot rename '\(tmp)' to '\(path)'", e)
        }
    }

    static func remove(_ path: String) { unlink(path) }
}

/// An exclusive flock, held until release() or deinit. flock belongs to the open file
/// description, so two holders in one process exclude each other as two processes do.
final class StorageLock {
    private var fd: Int32
    private init(fd: Int32) { self.fd = fd }

    static func tryAcquire(_ path: String) throws -> StorageLock? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StorageFiles.systemError("cannot open lock file '\(path)'") }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 { return StorageLock(fd: fd) }
        close(fd)
        return nil
    }

    /// Polls rather than blocking a thread of the cooperative pool.
    static func acquire(_ path: String, timeout: Double = 120) async throws -> StorageLock {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let lock = try tryAcquire(path) { return lock }
            if Date() > deadline {
                throw VirError(.operationTimeout, "Timed out during operation: cannot acquire the storage lock", domain: .storage)
            }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
    }

    func release() {
        if fd >= 0 { close(fd); fd = -1 }
    }

    deinit { release() }
}

/// Runs host tools (qemu-img, mkfs, mount, LVM) without blocking the caller's thread.
enum Tool {
    struct Result { var status: Int32; var stdout: String; var stderr: String }

    static func find(_ name: String) -> String? {
        for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin", "/usr/local/sbin"] {
            let p = dir + "/" + name
            if access(p, X_OK) == 0 { return p }
        }
        return nil
    }

    static func run(_ argv: [String]) async throws -> Result {
        guard let first = argv.first, let exe = first.hasPrefix("/") ? first : find(first) else {
            throw VirError(.internalError, "internal error: cannot find '\(argv.first ?? "")' in the host's PATH", domain: .storage)
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = Array(argv.dropFirst())
        var env = ProcessInfo.processInfo.environment
        env["LC_ALL"] = "C"
        // LVM warns about leaked descriptors of the parent; they are harmless here.
        env["LVM_SUPPRESS_FD_WARNINGS"] = "1"
        p.environment = env
        // Output goes to unlinked temp files: a pipe could fill up and stall a chatty child.
        let out = try tempHandle(), err = try tempHandle()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        let status: Int32 = try await withCheckedThrowingContinuation { cont in
            p.terminationHandler = { cont.resume(returning: $0.terminationStatus) }
            do { try p.run() } catch {
                p.terminationHandler = nil
                cont.resume(throwing: VirError(.internalError, "internal error: cannot run \(exe): \(error.localizedDescription)", domain: .storage))
            }
        }
        return Result(status: status, stdout: readAll(out), stderr: readAll(err))
    }

    private static func tempHandle() throws -> FileHandle {
        var template = Array("/tmp/corral-storage-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw StorageFiles.systemError("cannot create a temporary file") }
        unlink(String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    private static func readAll(_ h: FileHandle) -> String {
        lseek(h.fileDescriptor, 0, SEEK_SET)
        return String(decoding: h.readDataToEndOfFile(), as: UTF8.self)
    }

    /// Runs and fails with the tool's own message when it exits non-zero.
    @discardableResult
    static func check(_ argv: [String]) async throws -> String {
        let r = try await run(argv)
        guard r.status == 0 else {
            let msg = r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            throw VirError(.internalError, "internal error: Child process (\(argv.joined(separator: " "))) unexpected exit status \(r.status): \(msg)", domain: .storage)
        }
        return r.stdout
    }
}
