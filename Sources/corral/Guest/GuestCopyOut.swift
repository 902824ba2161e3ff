import ArgumentParser
import Foundation
import GuestFS

/// `corral guest copy-out`: virt-copy-out. Directories are copied recursively into LOCALDIR under
/// their own name ("/" copies the root's contents into LOCALDIR), files by name. Kept: permission
/// bits, mtimes (atimes too), symlinks as symlinks, FIFOs, and owners when run as root (as tar
/// does). Hard links become separate copies; device nodes and sockets are skipped with a warning.
///
/// The images are untrusted: every host file is created relative to its parent directory's
/// descriptor with O_NOFOLLOW and names holding "/" or NUL or being "." / ".." are refused, so
/// nothing is written outside LOCALDIR whatever the guest's names and symlinks say.
struct GuestCopyOut: GuestSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "copy-out", abstract: "Copy files and directories out of a guest (virt-copy-out).")

    @OptionGroup var disk: GuestDiskOptions
    @OptionGroup var mount: GuestMountOptions

    @Argument(help: ArgumentHelp("Guest files or directories, then the local directory.", valueName: "REMOTE... LOCALDIR"))
    var paths: [String] = []

    func validate() throws {
        guard paths.count >= 2 else { throw ValidationError("give at least one guest path and a local directory") }
    }

    func run(globalURI: String?, out: GuestOutput) async throws {
        let local = paths[paths.count - 1]
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: local, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw GuestFSError("copy-out: target ‘\(local)’ is not a directory")
        }
        let vfs = try await mount.open(disk, globalURI: globalURI, command: "copy-out")
        try copy(vfs, into: local)
    }

    // Synchronous on purpose: typed-throws catches inside an async function crash Swift 6.3's
    // optimizer (coroutine splitting with swifterror) in release builds.
    private func copy(_ vfs: VFS, into local: String) throws {
        let writer = HostTreeWriter(vfs: vfs, report: { GuestOutput.error("copy-out", $0) },
                                    warn: { GuestOutput.warning("copy-out", $0) })
        for remote in paths.dropLast() {
            do throws(GuestFSError) {
                try writer.copy(remote, into: local)
            } catch {
                GuestOutput.error("copy-out", error.message)
                writer.failed = true
            }
        }
        if writer.failed { throw ExitCode.failure }
    }
}

/// Recreates guest trees on the host below a directory descriptor.
final class HostTreeWriter {
    let vfs: VFS
    let report: (String) -> Void
    let warn: (String) -> Void
    var failed = false
    private let asRoot = geteuid() == 0

    init(vfs: VFS, report: @escaping (String) -> Void, warn: @escaping (String) -> Void) {
        self.vfs = vfs; self.report = report; self.warn = warn
    }

    private func fail(_ path: [UInt8], _ what: String) {
        failed = true
        report(String(decoding: path, as: UTF8.self) + ": " + what)
    }

    private func errnoText(_ what: String) -> String { "\(what): \(String(cString: strerror(errno)))" }

    /// A guest name that is safe as one host path component.
    static func safeName(_ name: [UInt8]) -> Bool {
        !name.isEmpty && name != [0x2E] && name != [0x2E, 0x2E] && !name.contains(0x2F) && !name.contains(0)
    }

    func copy(_ remote: String, into local: String) throws(GuestFSError) {
        guard remote.hasPrefix("/") else { throw GuestFSError("\(remote): the path must be absolute (start with /)") }
        let node = try vfs.resolve(remote, followLast: true)
        let fs = vfs.mounts[node.mount].filesystem
        let st = try fs.stat(node.inode)
        let top = open(local, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard top >= 0 else { throw GuestFSError(errnoText("cannot open \(local)")) }
        defer { close(top) }
        let name = GuestWalk.displayPath(remote).split(separator: 0x2F).last.map(Array.init) ?? []
        switch st.type {
        case .regular:
            guard Self.safeName(name) else { throw GuestFSError("\(remote): unusable file name") }
            writeFile(parent: top, name: name, path: Array(remote.utf8), fs: fs, inode: node.inode, stat: st)
        case .directory:
            try copyTree(remote, name: name, top: top)
        default:
            throw GuestFSError("‘\(remote)’ is not a file or directory")
        }
    }

    /// Walks `remote` pre-order, keeping one open host directory per guest depth; a directory's
    /// times are set when the walk leaves it (writing its children changed them).
    private func copyTree(_ remote: String, name: [UInt8], top: Int32) throws(GuestFSError) {
        struct Open { var fd: Int32; var stat: FileStat }
        var stack: [Open] = []
        func leave(downTo depth: Int) {
            while stack.count > depth, let d = stack.popLast() {
                applyAttributes(fd: d.fd, stat: d.stat)
                close(d.fd)
            }
        }
        defer { leave(downTo: 0) }
        let walk = GuestWalk(vfs: vfs)
        // A trailing slash makes the walk start at the directory a symlink points to.
        try walk.walk(remote.hasSuffix("/") ? remote : remote + "/", visit: { e in
                leave(downTo: e.depth)
            let parent: Int32
            let entryName: [UInt8]
            if e.depth == 0 {
                // "/" is copied into LOCALDIR itself, anything else into LOCALDIR/NAME.
                if name.isEmpty {
                    let fd = dup(top)
                    if fd < 0 { fail(e.path, errnoText("dup")); return false }
                    stack.append(Open(fd: fd, stat: e.stat))
                    return true
                }
                parent = top; entryName = name
            } else {
                guard stack.count == e.depth else { return false }
                parent = stack[e.depth - 1].fd; entryName = e.name
            }
            guard Self.safeName(entryName) else {
                fail(e.path, "unusable file name, skipped")
                return false
            }
            let fs = walk.filesystem(e.node)
            switch e.stat.type {
            case .directory:
                // A directory that cannot be created is reported and its subtree skipped.
                guard let fd = makeDirectory(parent: parent, name: entryName, path: e.path) else { return false }
                stack.append(Open(fd: fd, stat: e.stat))
                return true
            case .regular:
                writeFile(parent: parent, name: entryName, path: e.path, fs: fs, inode: e.node.inode, stat: e.stat)
            case .symlink:
                do throws(GuestFSError) {
                    let target = try fs.readlink(e.node.inode)
                    guard !target.contains(0) else { fail(e.path, "symbolic link target holds a NUL byte, skipped"); return false }
                    makeSymlink(parent: parent, name: entryName, target: target, path: e.path, stat: e.stat)
                } catch {
                    fail(e.path, error.message)
                }
            case .fifo:
                replace(parent: parent, name: entryName)
                let r = entryName.withCString { mkfifoat(parent, $0, 0o600) }
                if r != 0 { fail(e.path, errnoText("mkfifo")); return false }
                applyAttributes(parent: parent, name: entryName, stat: e.stat, path: e.path)
            case .characterDevice, .blockDevice, .socket, .unknown:
                warn(String(decoding: e.path, as: UTF8.self) + ": \(e.stat.type.rawValue) not copied (only files, directories, symlinks and FIFOs are)")
            }
            return false
        }, failure: { msg in self.failed = true; self.report(msg) })
    }

    /// Removes a non-directory at `name` so it can be recreated, as tar does; never follows it.
    private func replace(parent: Int32, name: [UInt8]) {
        _ = name.withCString { unlinkat(parent, $0, 0) }
    }

    private func makeDirectory(parent: Int32, name: [UInt8], path: [UInt8]) -> Int32? {
        let made = name.withCString { mkdirat(parent, $0, 0o700) }
        if made != 0 && errno != EEXIST {
            fail(path, errnoText("mkdir")); return nil
        }
        // O_NOFOLLOW: an existing symlink by that name is refused, not entered.
        let fd = name.withCString { openat(parent, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        if fd < 0 { fail(path, errnoText("open directory")); return nil }
        return fd
    }

    func writeFile(parent: Int32, name: [UInt8], path: [UInt8], fs: any Filesystem, inode: UInt64, stat st: FileStat) {
        replace(parent: parent, name: name)
        let fd = name.withCString { openat(parent, $0, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { fail(path, errnoText("create")); return }
        defer { close(fd) }
        var offset: UInt64 = 0
        do throws(GuestFSError) {
            while offset < st.size {
                let data = try fs.read(inode, at: offset, count: Int(min(1 << 20, st.size - offset)))
                guard !data.isEmpty else { throw GuestFSError("short read at \(offset) of \(st.size)") }
                // All-zero chunks become holes, so sparse files stay sparse.
                if data.allSatisfy({ $0 == 0 }) {
                    offset += UInt64(data.count)
                    continue
                }
                guard writeAll(fd, data, at: offset) else { fail(path, errnoText("write")); return }
                offset += UInt64(data.count)
            }
        } catch {
            fail(path, error.message); return
        }
        if ftruncate(fd, off_t(st.size)) != 0 { fail(path, errnoText("truncate")); return }
        applyAttributes(fd: fd, stat: st)
    }

    private func writeAll(_ fd: Int32, _ data: [UInt8], at offset: UInt64) -> Bool {
        data.withUnsafeBytes { buf in
            var done = 0
            while done < buf.count {
                let n = pwrite(fd, buf.baseAddress! + done, buf.count - done, off_t(offset) + off_t(done))
                if n < 0 { if errno == EINTR { continue }; return false }
                done += n
            }
            return true
        }
    }

    private func makeSymlink(parent: Int32, name: [UInt8], target: [UInt8], path: [UInt8], stat st: FileStat) {
        replace(parent: parent, name: name)
        let r = target.withCString { t in name.withCString { symlinkat(t, parent, $0) } }
        if r != 0 { fail(path, errnoText("symlink")); return }
        applyAttributes(parent: parent, name: name, stat: st, path: path)
    }

    private func timespecs(_ st: FileStat) -> [timespec] {
        [timespec(tv_sec: Int(truncatingIfNeeded: st.atime.seconds), tv_nsec: Int(st.atime.nanoseconds % 1_000_000_000)),
         timespec(tv_sec: Int(truncatingIfNeeded: st.mtime.seconds), tv_nsec: Int(st.mtime.nanoseconds % 1_000_000_000))]
    }

    /// Owner (root only), then mode, then times: chown clears setuid bits, so mode comes after.
    private func applyAttributes(fd: Int32, stat st: FileStat) {
        if asRoot { _ = fchown(fd, st.uid, st.gid) }
        _ = fchmod(fd, mode_t(asRoot ? st.permissions : st.permissions & 0o777))
        _ = timespecs(st).withUnsafeBufferPointer { futimens(fd, $0.baseAddress) }
    }

    /// For symlinks and FIFOs, which are not opened: by name, never following a symlink.
    private func applyAttributes(parent: Int32, name: [UInt8], stat st: FileStat, path: [UInt8]) {
        name.withCString { n in
            if asRoot { _ = fchownat(parent, n, st.uid, st.gid, AT_SYMLINK_NOFOLLOW) }
            if st.type != .symlink { _ = fchmodat(parent, n, mode_t(asRoot ? st.permissions : st.permissions & 0o777), 0) }
            _ = timespecs(st).withUnsafeBufferPointer { utimensat(parent, n, $0.baseAddress, AT_SYMLINK_NOFOLLOW) }
        }
    }
}

extension Array where Element == UInt8 {
    /// Calls `body` with the bytes as a NUL-terminated C string.
    func withCString<R>(_ body: (UnsafePointer<CChar>) -> R) -> R {
        var z = self
        z.append(0)
        return z.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) }
        }
    }
}
