import Foundation
import GuestFS

// The state behind `corral guest fish`: the disks, what is mounted where (mount-ro, -m, -i), and
// the roots inspect-os found. Errors carry libguestfs's call names and texts so scripts that grep
// guestfish's stderr keep working.

/// A libguestfs call failing: printed `libguestfs: error: CALL: MESSAGE`.
struct FishCallError: Error {
    var call: String
    var message: String
    init(_ call: String, _ message: String) { self.call = call; self.message = message }
}

/// guestfish's own complaints (usage, unknown command), printed as they are.
struct FishShellError: Error {
    var text: String
    init(_ text: String) { self.text = text }
}

struct FishMount {
    var device: String
    var path: String
    var filesystem: any Filesystem
}

final class FishSession {
    let disks: GuestDisks
    let inspector: GuestInspector
    let out: GuestOutput
    private(set) var mounted: [FishMount] = []
    private(set) var vfs = VFS()
    /// Set by inspect-os (and -i): the roots the inspect-get-* calls accept.
    var roots: [InspectedOS]?
    var quit = false
    private var blockSizes: [String: UInt64] = [:]

    init(disks: GuestDisks, out: GuestOutput) {
        self.disks = disks
        self.inspector = GuestInspector(disks: disks)
        self.out = out
    }

    // MARK: Mounts

    /// mount/mount-ro: the mount point must be an existing directory (only "/" before a root is
    /// mounted), the device must exist and hold a filesystem we can read.
    func mount(_ device: String, at mountpoint: String, call: String) throws {
        guard mountpoint.hasPrefix("/") else { throw FishCallError(call, "\(call)_stub: mountpoint must start with a / character") }
        if mountpoint != "/" || !mounted.isEmpty {
            let isDir = mounted.contains { $0.path == "/" } && (try? vfs.stat(mountpoint))?.type == .directory
            guard isDir || VFS.components(mountpoint).isEmpty else {
                throw FishCallError(call, "mount: \(mountpoint): mount point is not a directory")
            }
        }
        let blockDevice: any BlockDevice
        do { blockDevice = try disks.device(named: device) } catch {
            throw FishCallError(call, "\(call)_stub: \(device): No such file or directory")
        }
        let sig = detectFilesystem(blockDevice)
        let filesystem: any Filesystem
        do { filesystem = try openFilesystem(blockDevice) } catch {
            let target = "/sysroot" + (VFS.components(mountpoint).isEmpty ? "" : canonical(mountpoint))
            switch sig.type {
            case "unknown":
                throw FishCallError(call, "mount exited with status 32: mount: \(target): wrong fs type, bad option, bad superblock on \(device), missing codepage or helper program, or other error.\n" + Self.dmesgHint)
            case "LVM2_member", "swap":
                throw FishCallError(call, "mount exited with status 32: mount: \(target): unknown filesystem type '\(sig.type)'.\n" + Self.dmesgHint)
            default:
                throw FishCallError(call, "\(device): \(error.message)")
            }
        }
        let path = VFS.components(mountpoint).isEmpty ? "/" : canonical(mountpoint)
        mounted.append(FishMount(device: device, path: path, filesystem: filesystem))
        vfs.mount(filesystem, at: path)
    }

    /// mount(8)'s second line, part of the message libguestfs passes on.
    static let dmesgHint = "       dmesg(1) may have more information after failed mount system call."

    func umountAll() {
        mounted.removeAll()
        vfs = VFS()
    }

    /// umount PATHORDEVICE: the most recent mount at that path or of that device, and (like the
    /// kernel refusing busy mounts) not while something is mounted below it.
    func umount(_ target: String, call: String) throws {
        let path = target.hasPrefix("/dev/") ? nil : canonical(target)
        guard let i = mounted.lastIndex(where: { $0.device == target || $0.path == path }) else {
            throw FishCallError(call, "umount: \(target): not mounted.")
        }
        let prefix = mounted[i].path == "/" ? "/" : mounted[i].path + "/"
        guard !mounted.contains(where: { $0.path.hasPrefix(prefix) && $0.path != mounted[i].path }) else {
            throw FishCallError(call, "umount: \(mounted[i].path): target is busy.")
        }
        mounted.remove(at: i)
        vfs = VFS()
        for m in mounted { vfs.mount(m.filesystem, at: m.path) }
    }

    /// `-i`: inspect, then mount the single OS's filesystems where its fstab puts them, shortest
    /// mount point first; non-root failures are only counted, as guestfish does.
    func inspectAndMount(program: String) throws {
        let found = try inspector.inspectOS()
        roots = found
        guard let os = found.first else {
            throw FishShellError("""
                \(program): no operating system was found on this disk

                If using guestfish ‘-i’ option, remove this option and instead
                use the commands ‘run’ followed by ‘list-filesystems’.
                You can then mount filesystems you want by hand using the
                ‘mount’ or ‘mount-ro’ command.

                If using guestmount ‘-i’, remove this option and choose the
                filesystem(s) you want to see by manually adding ‘-m’ option(s).
                Use ‘virt-filesystems’ to see what filesystems are available.

                If using other virt tools, this disk image won’t work
                with these tools.  Use the guestfish equivalent commands
                (see the virt tool manual page).
                """)
        }
        guard found.count == 1 else {
            throw FishShellError("""
                \(program): multi-boot operating systems are not supported

                If using guestfish ‘-i’ option, remove this option and instead
                use the commands ‘run’ followed by ‘list-filesystems’.
                You can then mount filesystems you want by hand using the
                ‘mount’ or ‘mount-ro’ command.

                If using guestmount ‘-i’, remove this option and choose the
                filesystem(s) you want to see by manually adding ‘-m’ option(s).
                Use ‘virt-filesystems’ to see what filesystems are available.

                If using other virt tools, multi-boot operating systems won’t work
                with these tools.  Use the guestfish equivalent commands
                (see the virt tool manual page).
                """)
        }
        var errors = 0
        var planned = Self.fstabOrder(os)
        // An fstab without a "/" line still has the root it was found on.
        if !planned.contains(where: { $0.path == "/" }) { planned.append((path: "/", device: os.root)) }
        for m in planned.sorted(by: { $0.path.utf8.count < $1.path.utf8.count }) {
            do { try mount(m.device, at: m.path, call: "mount_ro") } catch {
                if m.path == "/" { throw error }
                errors += 1
            }
        }
        if errors > 0 {
            FileHandle.standardError.write(Data("\(program): some filesystems could not be mounted (ignored)\n".utf8))
        }
    }

    /// inspect-get-mountpoints' order: libguestfs returns the fstab's entries last line first.
    static func fstabOrder(_ os: InspectedOS) -> [(path: String, device: String)] {
        Array(os.mountpoints.reversed())
    }

    /// The inspected OS whose root is `device`, as the inspect-get-* calls require.
    func root(_ device: String, call: String) throws -> InspectedOS {
        guard let roots else { throw FishCallError(call, "no inspection data: call guestfs_inspect_os first") }
        guard let os = roots.first(where: { $0.root == device }) else {
            throw FishCallError(call, "\(device): root device not found: only call this function with a root device previously returned by guestfs_inspect_os")
        }
        return os
    }

    // MARK: Paths

    /// The checks libguestfs's daemon stubs make before a path call: absolute, root mounted.
    func needRoot(_ call: String, _ path: String) throws {
        guard path.hasPrefix("/") else { throw FishCallError(call, "\(call)_stub: \(path): path must start with a / character") }
        guard mounted.contains(where: { $0.path == "/" }) else {
            throw FishCallError(call, "\(call)_stub: you must call 'mount' first to mount the root filesystem")
        }
    }

    func canonical(_ path: String) -> String {
        "/" + VFS.components(path).map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/")
    }

    /// The strerror text for the errno a VFS error names, if it names one.
    static func errnoText(_ error: GuestFSError) -> String? {
        let table = [("(ENOENT)", "No such file or directory"), ("(ENOTDIR)", "Not a directory"),
                     ("(ELOOP)", "Too many levels of symbolic links"), ("(ENAMETOOLONG)", "File name too long"),
                     ("(EINVAL)", "Invalid argument")]
        return table.first { error.message.hasSuffix($0.0) }?.1
    }

    /// `CALL: [WHAT: ]PATH: strerror` for errno failures, `CALL: message` for anything else (a
    /// corrupt image, an unsupported feature).
    static func pathError(_ call: String, _ what: String?, _ path: String, _ error: any Error) -> FishCallError {
        guard let e = error as? GuestFSError else { return FishCallError(call, String(describing: error)) }
        if let text = errnoText(e) { return FishCallError(call, [what, path, text].compactMap { $0 }.joined(separator: ": ")) }
        return FishCallError(call, e.message)
    }

    // MARK: Devices

    func blockDevice(_ name: String, call: String) throws -> any BlockDevice {
        do { return try disks.device(named: name) } catch {
            throw FishCallError(call, "\(call)_stub: \(name): No such file or directory")
        }
    }

    /// st_dev of files on `device`, as the appliance's kernel numbers it: sd disks are major 8
    /// (65.. beyond the 16th disk) with 16 minors each, LVs are device-mapper's 253 in order.
    func deviceNumber(_ device: String) -> UInt64 {
        var major: UInt64 = 0, minor: UInt64 = 0
        if let i = disks.disks.firstIndex(where: { device == $0.name || device.hasPrefix($0.name) && device.dropFirst($0.name.count).allSatisfy(\.isNumber) }) {
            let part = UInt64(device.dropFirst(disks.disks[i].name.count)) ?? 0
            major = i < 16 ? 8 : 65 + UInt64((i - 16) / 16)
            minor = UInt64(i % 16) * 16 + part
        } else {
            let lvs = disks.volumeGroups.flatMap { vg in vg.logicalVolumes.map(\.path) }
            if let k = lvs.firstIndex(of: device) { major = 253; minor = UInt64(k) }
        }
        return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)
    }

    /// The mount (device, filesystem) a node belongs to.
    func mountOf(_ node: VFS.Node) -> FishMount? {
        let m = vfs.mounts[node.mount]
        return mounted.last { $0.path == m.path }
    }

    /// st_blksize: the filesystem's block size, as Linux reports it for ext4, XFS and FAT.
    func blockSize(_ node: VFS.Node) -> UInt64 {
        guard let m = mountOf(node) else { return 4096 }
        if let cached = blockSizes[m.device] { return cached }
        let size = (try? m.filesystem.statfs().blockSize) ?? 4096
        blockSizes[m.device] = size
        return size
    }
}
