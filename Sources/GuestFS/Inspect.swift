// Inspection, as libguestfs's inspect_os: find the operating systems' root filesystems, read what
// they say about themselves, and mount their /etc/fstab into a VFS.

/// One filesystem-bearing device and what blkid-like detection says it is.
public struct GuestFilesystem: Sendable {
    public var device: String
    public var signature: FilesystemSignature
    public var size: UInt64
}

/// An operating system found on the disks (virt-inspector's <operatingsystem>).
public struct InspectedOS: Sendable, Equatable {
    /// The root filesystem's device (`/dev/sda1`, `/dev/VG/LV`).
    public var root: String
    /// "linux", or "unknown".
    public var type = "unknown"
    /// libguestfs's distro names: "debian", "ubuntu", "fedora", "rhel", "centos", "alpinelinux"...
    public var distro = "unknown"
    public var productName = "unknown"
    public var majorVersion = 0
    public var minorVersion = 0
    public var hostname: String?
    /// From binaries' ELF headers: "x86_64", "aarch64", "i386"...
    public var arch: String?
    public var packageFormat: String?
    public var packageManagement: String?
    /// The osinfo-db short id, e.g. "debian12".
    public var osinfo: String?
    /// (mount point, device) from the guest's fstab, resolved to our device names, "/" first.
    public var mountpoints: [(path: String, device: String)] = []

    public init(root: String) { self.root = root }

    public static func == (a: InspectedOS, b: InspectedOS) -> Bool {
        a.root == b.root && a.type == b.type && a.distro == b.distro && a.productName == b.productName
            && a.majorVersion == b.majorVersion && a.minorVersion == b.minorVersion && a.hostname == b.hostname
            && a.arch == b.arch && a.packageFormat == b.packageFormat && a.packageManagement == b.packageManagement
            && a.osinfo == b.osinfo && a.mountpoints.elementsEqual(b.mountpoints, by: { $0 == $1 })
    }
}

public struct GuestInspector: Sendable {
    public let disks: GuestDisks

    public init(disks: GuestDisks) { self.disks = disks }

    /// Every device with a filesystem signature (LVM PVs, swap and unknown contents included), as
    /// `list-filesystems` reports them: partitions and whole disks in order, then LVs.
    public func filesystems() throws(GuestFSError) -> [GuestFilesystem] {
        try disks.filesystemCandidates().map {
            GuestFilesystem(device: $0.name, signature: detectFilesystem($0.device), size: $0.device.size)
        }
    }

    /// Opens the filesystem on a device by its guest name.
    public func open(_ device: String) throws(GuestFSError) -> any Filesystem {
        do { return try openFilesystem(disks.device(named: device)) } catch {
            throw GuestFSError("\(device): \(error.message)")
        }
    }

    /// Operating systems whose root filesystem is on these disks, in device order.
    public func inspectOS() throws(GuestFSError) -> [InspectedOS] {
        var found: [InspectedOS] = []
        for fs in try filesystems() where Self.mountable.contains(fs.signature.type) {
            guard let filesystem = try? open(fs.device) else { continue }
            var vfs = VFS()
            vfs.mount(filesystem, at: "/")
            guard (try? vfs.stat("/etc"))?.type == .directory,
                  (try? vfs.stat("/etc/fstab")) != nil || (try? vfs.stat("/etc/os-release")) != nil
                    || (try? vfs.stat("/usr/lib/os-release")) != nil
            else { continue }
            var os = InspectedOS(root: fs.device)
            os.type = "linux"
            readOSRelease(vfs, into: &os)
            if let h = try? vfs.readFile("/etc/hostname", limit: 4096) {
                let name = String(decoding: h, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init)
                os.hostname = name?.trimmingSpaces()
            }
            os.mountpoints = fstabMounts(vfs, root: fs.device)
            found.append(os)
        }
        return found
    }

    /// A VFS with the OS's filesystems mounted where its fstab puts them (parents before children).
    /// Filesystems that cannot be opened are skipped, as libguestfs's -i skips failed mounts.
    public func mount(_ os: InspectedOS) throws(GuestFSError) -> VFS {
        var vfs = VFS()
        vfs.mount(try open(os.root), at: "/")
        let ordered = os.mountpoints.filter { $0.path != "/" }.sorted { $0.path.count < $1.path.count }
        for m in ordered {
            if let fs = try? open(m.device) { vfs.mount(fs, at: m.path) }
        }
        return vfs
    }

    static let mountable: Set<String> = ["ext2", "ext3", "ext4", "vfat", "iso9660", "xfs"]

    private func readOSRelease(_ vfs: VFS, into os: inout InspectedOS) {
        guard let data = (try? vfs.readFile("/etc/os-release", limit: 65536))
                ?? (try? vfs.readFile("/usr/lib/os-release", limit: 65536)) else { return }
        var fields: [String: String] = [:]
        for line in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
            guard let eq = line.firstIndex(of: "=") else { continue }
            var value = String(line[line.index(after: eq)...])
            if value.count >= 2, let q = value.first, q == "\"" || q == "'", value.last == q {
                value = String(value.dropFirst().dropLast())
            }
            fields[String(line[..<eq])] = value
        }
        if let id = fields["ID"] { os.distro = id }
        if let pretty = fields["PRETTY_NAME"] { os.productName = pretty }
        if let v = fields["VERSION_ID"] {
            let parts = v.split(separator: ".")
            os.majorVersion = parts.first.flatMap { Int($0) } ?? 0
            os.minorVersion = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
        }
    }

    /// Parses /etc/fstab and maps each device spec (UUID=, LABEL=, /dev/...) to one of our devices.
    private func fstabMounts(_ vfs: VFS, root: String) -> [(path: String, device: String)] {
        var out: [(path: String, device: String)] = [("/", root)]
        guard let data = try? vfs.readFile("/etc/fstab", limit: 1 << 20),
              let all = try? filesystems() else { return out }
        for line in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard fields.count >= 2, !fields[0].hasPrefix("#"), fields[1].hasPrefix("/"), fields[1] != "/" else { continue }
            let spec = fields[0]
            let match: GuestFilesystem?
            if spec.hasPrefix("UUID=") {
                let uuid = String(spec.dropFirst(5)).lowercased()
                match = all.first { $0.signature.uuid?.lowercased() == uuid }
            } else if spec.hasPrefix("LABEL=") {
                let label = String(spec.dropFirst(6))
                match = all.first { $0.signature.label == label }
            } else if spec.hasPrefix("/dev/") {
                match = all.first { $0.device == spec }
            } else {
                match = nil
            }
            if let m = match, Self.mountable.contains(m.signature.type) { out.append((fields[1], m.device)) }
        }
        return out
    }
}
