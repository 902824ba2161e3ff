import ArgumentParser
import Foundation
import GuestFS

// Mounting as libguestfs's tools do (options/inspect.c and options/options.c): virt-ls, virt-cat,
// virt-copy-out and virt-tar-out mount the -m list when given, else the single OS that inspection
// finds (-i); guestfish and guestmount take -i explicitly. One place, so every subcommand agrees.

/// One `-m DEV[:MOUNTPOINT[:OPTIONS[:FSTYPE]]]`, split as libguestfs splits it (at the first colons).
struct GuestMountSpec: Equatable {
    var device: String
    var mountpoint = "/"
    /// Accepted for compatibility: mounts are always read-only and no reader takes options.
    var options: String?
    /// When given, the filesystem detected on the device must be of this type.
    var fstype: String?

    init(device: String, mountpoint: String = "/") {
        self.device = device; self.mountpoint = mountpoint
    }

    init(parsing arg: String) throws(GuestFSError) {
        let parts = arg.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        device = parts[0]
        guard !device.isEmpty else { throw GuestFSError("-m '\(arg)': no device name") }
        if parts.count > 1 {
            mountpoint = parts[1]
            guard mountpoint.hasPrefix("/") else {
                throw GuestFSError("-m '\(arg)': the mount point must be an absolute path")
            }
        }
        if parts.count > 2, !parts[2].isEmpty { options = parts[2] }
        if parts.count > 3, !parts[3].isEmpty { fstype = parts[3] }
    }
}

/// `-m` (repeatable); without it, the subcommand mounts what inspection finds.
struct GuestMountOptions: ParsableArguments {
    @Option(name: [.customShort("m"), .customLong("mount")],
            help: ArgumentHelp("Mount DEV at MOUNTPOINT (default /), repeatable. Without -m the guest's operating system is found by inspection and its filesystems are mounted as its /etc/fstab says.",
                               valueName: "DEV[:MOUNTPOINT]"))
    var mounts: [String] = []

    func validate() throws {
        for m in mounts {
            do { _ = try GuestMountSpec(parsing: m) } catch { throw ValidationError(error.message) }
        }
    }

    /// The VFS virt-ls & co. work on: the -m mounts, or else the inspected OS's mounts.
    func mount(_ disks: GuestDisks, warning: (String) -> Void) throws(GuestFSError) -> VFS {
        try mountGuest(disks, warning: warning).vfs
    }

    /// As `mount`, also naming the device behind each mount.
    func mountGuest(_ disks: GuestDisks, warning: (String) -> Void) throws(GuestFSError) -> MountedGuest {
        if mounts.isEmpty { return try GuestMount.inspectAndMountGuest(disks, warning: warning) }
        var specs: [GuestMountSpec] = []
        for m in mounts { specs.append(try GuestMountSpec(parsing: m)) }
        return try GuestMount.mountGuest(specs, disks: disks)
    }

    /// Opens the disks of `disk` (-a/-d) and mounts them; warnings go to stderr prefixed with `command`.
    func open(_ disk: GuestDiskOptions, globalURI: String?, command: String) async throws -> VFS {
        try await openGuest(disk, globalURI: globalURI, command: command).vfs
    }

    func openGuest(_ disk: GuestDiskOptions, globalURI: String?, command: String) async throws -> MountedGuest {
        let disks = try await disk.open(globalURI: globalURI)
        return try mountReportingWarnings(disks, command: command)
    }

    /// Synchronous and untyped on purpose: typed-throws calls inside async functions crash
    /// Swift 6.3's release optimizer (coroutine splitting).
    private func mountReportingWarnings(_ disks: GuestDisks, command: String) throws -> MountedGuest {
        try mountGuest(disks) { GuestOutput.warning(command, $0) }
    }
}

/// A mounted guest and the device name behind each of its VFS mounts (same indices).
struct MountedGuest {
    var vfs: VFS
    var devices: [String]

    init(vfs: VFS, devices byPath: [String: String]) {
        self.vfs = vfs
        devices = vfs.mounts.map { byPath[VFS.canonical($0.path)] ?? "" }
    }

    /// st_dev as the libguestfs appliance reports it (glibc dev_t): /dev/sdXN is SCSI disk
    /// major 8 (65-71, 128-135 beyond the 16th disk), minor 16 × disk + N; 0 for what has no
    /// fixed number (LVs get dynamic device-mapper minors).
    func deviceNumber(mount: Int) -> UInt64 {
        guard mount < devices.count else { return 0 }
        let name = devices[mount]
        guard name.hasPrefix("/dev/sd") else { return 0 }
        let rest = name.dropFirst("/dev/sd".count)
        let letters = rest.prefix { $0 >= "a" && $0 <= "z" }
        guard !letters.isEmpty, letters.count <= 2 else { return 0 }
        var disk = 0
        for c in letters.utf8 { disk = disk * 26 + Int(c - 0x61) + 1 }
        disk -= 1
        let digits = rest.dropFirst(letters.count)
        let part = digits.isEmpty ? 0 : Int(digits) ?? 99
        let majors = [8, 65, 66, 67, 68, 69, 70, 71, 128, 129, 130, 131, 132, 133, 134, 135]
        guard part <= 15, disk / 16 < majors.count else { return 0 }
        return UInt64(majors[disk / 16]) << 8 | UInt64((disk % 16) * 16 + part)
    }
}

enum GuestMount {
    /// libguestfs's message for -i with no OS, first line verbatim.
    static let noOSMessage = "no operating system was found on this disk"
    static let multiBootMessage = "multi-boot operating systems are not supported"

    /// `-i`: inspection must find exactly one OS; its fstab mounts are made, and mount failures other
    /// than "/" are reported once and ignored, as libguestfs's inspect_mount does.
    static func inspectAndMount(_ disks: GuestDisks, warning: (String) -> Void) throws(GuestFSError) -> VFS {
        try inspectAndMountGuest(disks, warning: warning).vfs
    }

    static func inspectAndMountGuest(_ disks: GuestDisks, warning: (String) -> Void) throws(GuestFSError) -> MountedGuest {
        let inspector = GuestInspector(disks: disks)
        let roots = try inspector.inspectOS()
        guard let os = roots.first else {
            throw GuestFSError(noOSMessage + "\n\nUse -m DEVICE[:MOUNTPOINT] to choose the filesystems to mount;"
                               + " `corral guest filesystems` lists them.")
        }
        guard roots.count == 1 else {
            throw GuestFSError(multiBootMessage + " (roots: \(roots.map(\.root).joined(separator: ", ")))"
                               + "\n\nUse -m DEVICE[:MOUNTPOINT] to choose the filesystems to mount.")
        }
        let vfs = try inspector.mount(os)
        // GuestInspector.mount skips what it cannot open; count what went missing.
        let wanted = Set(os.mountpoints.map { VFS.canonical($0.path) })
        if vfs.mounts.count < wanted.count {
            warning("some filesystems could not be mounted (ignored)")
        }
        var byPath: [String: String] = [:]
        for m in os.mountpoints { byPath[VFS.canonical(m.path)] = m.device }
        return MountedGuest(vfs: vfs, devices: byPath)
    }

    /// `-m`: mounts in the order given; any failure is fatal, as in libguestfs. A mount point other
    /// than "/" must already be a directory in what is mounted so far.
    static func mount(_ specs: [GuestMountSpec], disks: GuestDisks) throws(GuestFSError) -> VFS {
        try mountGuest(specs, disks: disks).vfs
    }

    static func mountGuest(_ specs: [GuestMountSpec], disks: GuestDisks) throws(GuestFSError) -> MountedGuest {
        let inspector = GuestInspector(disks: disks)
        var vfs = VFS()
        var byPath: [String: String] = [:]
        for spec in specs {
            let device = try disks.device(named: spec.device)
            if let fstype = spec.fstype {
                let found = detectFilesystem(device).type
                guard found == fstype || (fstype.hasPrefix("ext") && found.hasPrefix("ext")) else {
                    throw GuestFSError("mount: \(spec.device): filesystem type is \(found), not \(fstype)")
                }
            }
            let path = VFS.canonical(spec.mountpoint)
            if path != "/" {
                let st: FileStat
                do { st = try vfs.stat(path) } catch {
                    throw GuestFSError("mount: \(spec.mountpoint): mount point does not exist")
                }
                guard st.type == .directory else {
                    throw GuestFSError("mount: \(spec.mountpoint): mount point is not a directory")
                }
            }
            vfs.mount(try inspector.open(spec.device), at: path)
            byPath[path] = spec.device
        }
        return MountedGuest(vfs: vfs, devices: byPath)
    }
}

extension VFS {
    /// "/a//b/./" → "/a/b": how mount points are compared.
    static func canonical(_ path: String) -> String {
        "/" + path.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
    }
}

extension GuestOutput {
    static func warning(_ command: String?, _ message: String) {
        let prefix = command.map { "corral guest \($0)" } ?? "corral guest"
        FileHandle.standardError.write(Data("\(prefix): warning: \(message)\n".utf8))
    }
}
