// Inspection, as libguestfs's inspect_os: find the operating systems' root filesystems, read what
// they say about themselves (release files, hostname, binaries' architecture, fstab), and mount
// their filesystems where the fstab puts them. The rules follow libguestfs's daemon
// (inspect_fs.ml, inspect_fs_unix.ml, inspect_fs_unix_fstab.ml) and its inspect_get_osinfo, so
// the answers match virt-inspector's. Linux only: BSD, Hurd, Minix, Windows and DOS are not detected,
// nor a separate /usr filesystem's contribution.

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
    /// (mount point, device) from the guest's fstab, resolved to our device names, in fstab order
    /// (only the root when the fstab names nothing usable). virt-inspector sorts them for output.
    public var mountpoints: [(path: String, device: String)] = []
    /// Every device the fstab names, swap included (inspect_get_filesystems), in fstab order.
    public var filesystems: [String] = []

    public init(root: String) { self.root = root }

    public static func == (a: InspectedOS, b: InspectedOS) -> Bool {
        a.root == b.root && a.type == b.type && a.distro == b.distro && a.productName == b.productName
            && a.majorVersion == b.majorVersion && a.minorVersion == b.minorVersion && a.hostname == b.hostname
            && a.arch == b.arch && a.packageFormat == b.packageFormat && a.packageManagement == b.packageManagement
            && a.osinfo == b.osinfo && a.mountpoints.elementsEqual(b.mountpoints, by: { $0 == $1 })
            && a.filesystems == b.filesystems
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
        let all = try filesystems()
        var found: [InspectedOS] = []
        for fs in all where Self.mountable.contains(fs.signature.type) {
            guard let filesystem = try? open(fs.device) else { continue }
            var vfs = VFS()
            vfs.mount(filesystem, at: "/")
            guard Self.isLinuxRoot(vfs) else { continue }
            found.append(inspectLinuxRoot(vfs, device: fs.device, all: all))
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

    // MARK: Root detection

    /// libguestfs's "Linux root" test, after ruling out a grub /boot: /etc, a /bin directory (or a
    /// /bin -> usr/bin link), and an /etc/fstab or /etc/hosts file.
    static func isLinuxRoot(_ vfs: VFS) -> Bool {
        if vfs.isFile("/grub/menu.lst") || vfs.isFile("/grub/grub.conf") || vfs.isFile("/grub2/grub.cfg") { return false }
        return vfs.isDirectory("/etc")
            && (vfs.isDirectory("/bin") || (try? vfs.readlink("/bin")) == "usr/bin")
            && (vfs.isFile("/etc/fstab") || vfs.isFile("/etc/hosts"))
    }

    func inspectLinuxRoot(_ vfs: VFS, device: String, all: [GuestFilesystem]) -> InspectedOS {
        var os = InspectedOS(root: device)
        os.type = "linux"
        var release = ReleaseData()
        release.run(ReleaseData.linuxTests, on: vfs)
        os.distro = release.distro ?? "unknown"
        os.productName = release.productName ?? "unknown"
        os.majorVersion = release.version?.major ?? 0
        os.minorVersion = release.version?.minor ?? 0
        os.arch = Self.architecture(vfs)
        os.hostname = Self.hostname(vfs)
        let fstab = fstabEntries(vfs, root: device, all: all)
        if fstab.isEmpty {
            os.mountpoints = [("/", device)]
            os.filesystems = [device]
        } else {
            os.filesystems = fstab.map(\.device)
            os.mountpoints = fstab.filter { $0.path.hasPrefix("/") }.map { ($0.path, $0.device) }
        }
        os.packageFormat = Self.packageFormat(distro: os.distro)
        os.packageManagement = Self.packageManagement(distro: os.distro, major: os.majorVersion, vfs: vfs)
        os.osinfo = Self.osinfo(type: os.type, distro: os.distro, major: os.majorVersion, minor: os.minorVersion)
        return os
    }

    // MARK: Architecture and hostname

    static let archBinaries = ["/bin/bash", "/bin/ls", "/bin/echo", "/bin/rm", "/bin/sh"]

    /// The architecture of the first of libguestfs's probe binaries that is an ELF file.
    static func architecture(_ vfs: VFS) -> String? {
        for path in archBinaries where vfs.isFile(path, follow: true) {
            guard let node = try? vfs.resolve(path, followLast: true),
                  let header = try? vfs.fs(node).read(node.inode, at: 0, count: 64),
                  let arch = elfArchitecture(header) else { continue }
            return arch
        }
        return nil
    }

    /// libguestfs's canonical name for an ELF header's machine (what `file` reports, mapped as its
    /// file_architecture does). Only executables, shared objects and relocatables count.
    public static func elfArchitecture(_ h: [UInt8]) -> String? {
        guard h.count >= 20, h[0] == 0x7F, h[1] == 0x45, h[2] == 0x4C, h[3] == 0x46 else { return nil }
        let is64: Bool
        switch h[4] { case 1: is64 = false; case 2: is64 = true; default: return nil }
        let little: Bool
        switch h[5] { case 1: little = true; case 2: little = false; default: return nil }
        func half(_ o: Int) -> UInt16 { little ? h.le16(o) : UInt16(h[o]) << 8 | UInt16(h[o + 1]) }
        guard (1...3).contains(half(16)) else { return nil }
        switch half(18) {
        case 3, 6: return "i386"
        case 62: return "x86_64"
        case 2: return "sparc"
        case 43: return "sparc64"
        case 50: return "ia64"
        case 20: return "ppc"
        case 21: return little ? "ppc64le" : "ppc64"
        case 183: return "aarch64"
        case 40: return "arm"
        case 243: return is64 ? "riscv64" : "riscv32"
        case 22: return is64 ? "s390x" : "s390"
        case 258: return "LoongArch"
        default: return nil
        }
    }

    /// /etc/HOSTNAME, /etc/hostname (first line), then HOSTNAME= in /etc/sysconfig/network.
    static func hostname(_ vfs: VFS) -> String? {
        for path in ["/etc/HOSTNAME", "/etc/hostname"] {
            if let lines = vfs.smallFileLines(path), !(lines.isEmpty || lines == [""]) { return lines[0] }
        }
        if let lines = vfs.smallFileLines("/etc/sysconfig/network", followLast: false) {
            for line in lines {
                let t = line.trimmingSpaces()
                guard t.hasPrefix("HOSTNAME=") else { continue }
                return ReleaseData.simpleUnquote(String(t.dropFirst(9)))
            }
        }
        return nil
    }

    // MARK: Packages and osinfo

    static func packageFormat(distro: String) -> String? {
        switch distro {
        case "altlinux", "centos", "fedora", "mageia", "mandriva", "meego", "neokylin", "openmandriva", "opensuse",
             "oraclelinux", "redhat-based", "rhel", "rocky", "scientificlinux", "sles", "suse-based": "rpm"
        case "debian", "kalilinux", "linuxmint", "ubuntu": "deb"
        case "archlinux": "pacman"
        case "gentoo": "ebuild"
        case "pardus": "pisi"
        case "alpinelinux": "apk"
        case "voidlinux": "xbps"
        default: nil
        }
    }

    static func packageManagement(distro: String, major: Int, vfs: VFS) -> String? {
        switch distro {
        case "meego": return "yum"
        case "fedora":
            if major >= 22 && vfs.isFile("/usr/bin/dnf", follow: true) { return "dnf" }
            return major >= 1 ? "yum" : nil
        case "neokylin", "openmandriva": return "dnf"
        case "centos", "oraclelinux", "redhat-based", "rhel", "rocky", "scientificlinux":
            return major >= 8 ? "dnf" : major >= 5 ? "yum" : major >= 2 ? "up2date" : nil
        case "altlinux", "debian", "kalilinux", "linuxmint", "ubuntu": return "apt"
        case "archlinux": return "pacman"
        case "gentoo": return "portage"
        case "pardus": return "pisi"
        case "mageia", "mandriva": return "urpmi"
        case "opensuse", "sles", "suse-based": return "zypper"
        case "alpinelinux": return "apk"
        case "voidlinux": return "xbps"
        default: return nil
        }
    }

    /// libguestfs's inspect_get_osinfo for Linux guests ("unknown" becomes nil).
    static func osinfo(type: String, distro: String, major: Int, minor: Int) -> String? {
        guard type == "linux" else { return nil }
        switch distro {
        case "centos":
            if major >= 8 { return "centos\(major)" }
            if major == 7 { return "centos7.0" }
            if major == 6 { return "centos6.\(minor)" }
        case "circle", "rocky":
            if major >= 8 { return "\(distro)\(major)" }
        case "debian":
            if major >= 4 { return "debian\(major)" }
        case "fedora", "mageia": return "\(distro)\(major)"
        case "sles": return minor == 0 ? "sles\(major)" : "sles\(major)sp\(minor)"
        case "ubuntu": return "ubuntu\(major)." + (minor < 10 ? "0\(minor)" : "\(minor)")
        case "archlinux", "gentoo", "voidlinux": return distro
        case "altlinux": return major >= 8 ? "alt\(major).\(minor)" : "altlinux\(major).\(minor)"
        default: break
        }
        if distro != "unknown" && (major > 0 || minor > 0) { return "\(distro)\(major).\(minor)" }
        return nil
    }

    // MARK: fstab

    /// The fstab's (device, mount point) pairs as libguestfs's check_fstab keeps them: floppies,
    /// CD-ROMs, pseudo filesystems (proc, tmpfs...), network and bind mounts and mount points under
    /// /dev, /media, /proc, /selinux and /sys are dropped; UUID=, LABEL=, PARTUUID=, PARTLABEL= that
    /// match no device are dropped; other /dev names are mapped to ours where a rule applies and kept
    /// as written otherwise. Mount points that are not paths (swap's "none") stay, for <filesystems>.
    func fstabEntries(_ vfs: VFS, root: String, all: [GuestFilesystem]) -> [(device: String, path: String)] {
        guard let lines = vfs.smallFileLines("/etc/fstab", limit: 1 << 20) else { return [] }
        var out: [(device: String, path: String)] = []
        for line in lines {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard fields.count >= 3, !fields[0].hasPrefix("#") else { continue }
            let spec = fields[0]
            if Self.isRemovable(spec) { continue }
            let mp = Self.canonicalPath(fields[1])
            if mp == "/dev" || mp.hasPrefix("/dev/") || mp.hasPrefix("/media/") || mp == "/proc" || mp.hasPrefix("/proc/")
                || mp == "/selinux" || mp.hasPrefix("/selinux/") || mp == "/sys" || mp.hasPrefix("/sys/") { continue }
            let device: String?
            if spec.hasPrefix("UUID=") {
                let uuid = ReleaseData.shellUnquote(String(spec.dropFirst(5))).lowercased()
                device = all.first { $0.signature.uuid?.lowercased() == uuid }?.device
            } else if spec.hasPrefix("LABEL=") {
                let label = ReleaseData.shellUnquote(String(spec.dropFirst(6)))
                device = all.first { $0.signature.label == label }?.device
            } else if spec.hasPrefix("PARTUUID=") {
                device = partition(uuid: ReleaseData.shellUnquote(String(spec.dropFirst(9))))
            } else if spec.hasPrefix("PARTLABEL=") {
                device = partition(label: ReleaseData.shellUnquote(String(spec.dropFirst(10))))
            } else if spec == "/dev/root" {
                device = root
            } else if spec.hasPrefix("/dev/") {
                device = resolveDevice(spec, all: all)
            } else {
                device = nil  // tmpfs, proc, host:/export, bind sources, /.swap ...
            }
            guard let device else { continue }
            out.append((device, mp))
        }
        // Several "/" entries: the first one wins (libguestfs warns when they differ).
        var seenRoot = false
        return out.filter { e in
            guard e.path == "/" else { return true }
            defer { seenRoot = true }
            return !seenRoot
        }
    }

    static func isRemovable(_ spec: String) -> Bool {
        let u = Array(spec.utf8)
        func digitAt7() -> Bool { u.count >= 8 && u[7] >= 0x30 && u[7] <= 0x39 }
        return (spec.hasPrefix("/dev/fd") && digitAt7()) || (spec.hasPrefix("/dev/cd") && digitAt7())
            || spec == "/dev/floppy" || spec == "/dev/cdrom" || spec.hasPrefix("/dev/iso9660/")
    }

    /// "///usr//local//" -> "/usr/local", as libguestfs canonicalizes mount points.
    static func canonicalPath(_ p: String) -> String {
        guard p.hasPrefix("/") else { return p }
        let parts = p.split(separator: "/", omittingEmptySubsequences: true)
        return "/" + parts.joined(separator: "/")
    }

    /// A guest /dev name as we name it: /dev/mapper/VG-LV and /dev/VG/LV to the LV, /dev/[hsv]dX and
    /// /dev/xvdX to the disk in the same position, /dev/disk/by-uuid/U to the filesystem with that
    /// UUID, /dev/disk/by-id|by-path/...-partN to /dev/sdaN when there is one disk; else unchanged.
    func resolveDevice(_ spec: String, all: [GuestFilesystem]) -> String {
        if spec.hasPrefix("/dev/mapper/") {
            let name = String(spec.dropFirst(12))
            for vg in disks.volumeGroups {
                for lv in vg.logicalVolumes where Self.mapperName(vg.name) + "-" + Self.mapperName(lv.name) == name {
                    return lv.path
                }
            }
            return spec
        }
        if let m = Self.matchXdev(spec) {
            let index = Self.driveIndex(m.disk)
            guard index >= 0, index < disks.disks.count else { return spec }
            let dev = disks.disks[index].name + m.part
            return disks.partitions.contains { $0.name == dev && !$0.partition.isExtended } ? dev : spec
        }
        if spec.hasPrefix("/dev/disk/by-uuid/") {
            let uuid = String(spec.dropFirst(18)).lowercased()
            return all.first { $0.signature.uuid?.lowercased() == uuid }?.device ?? spec
        }
        if spec.hasPrefix("/dev/disk/by-id/") || spec.hasPrefix("/dev/disk/by-path/"),
           let g = ReleaseData.match(#"-part(\d+)$"#, spec), let n = g[0].flatMap(ReleaseData.int), n > 0,
           disks.disks.count == 1 {
            let dev = disks.disks[0].name + String(n)
            return disks.partitions.contains { $0.name == dev } ? dev : spec
        }
        // /dev/VG/LV is already our name for an LV.
        return spec
    }

    static func mapperName(_ s: String) -> String {
        s.split(separator: "-", omittingEmptySubsequences: false).joined(separator: "--")
    }

    /// ^/dev/(h|s|v|xv)d([a-z]+)(\d*)$
    static func matchXdev(_ spec: String) -> (disk: String, part: String)? {
        var rest = Substring(spec)
        guard rest.hasPrefix("/dev/") else { return nil }
        rest = rest.dropFirst(5)
        if rest.hasPrefix("xvd") { rest = rest.dropFirst(3) }
        else if rest.hasPrefix("hd") || rest.hasPrefix("sd") || rest.hasPrefix("vd") { rest = rest.dropFirst(2) }
        else { return nil }
        let letters = rest.prefix { $0 >= "a" && $0 <= "z" }
        let digits = rest.dropFirst(letters.count)
        guard !letters.isEmpty, digits.allSatisfy({ $0 >= "0" && $0 <= "9" }) else { return nil }
        return (String(letters), String(digits))
    }

    /// "a" -> 0, "z" -> 25, "aa" -> 26 (bijective base 26), -1 when absurdly long.
    static func driveIndex(_ letters: String) -> Int {
        guard letters.utf8.count <= 4 else { return -1 }
        var n = 0
        for c in letters.utf8 {
            guard c >= 0x61, c <= 0x7A else { return -1 }
            n = n * 26 + Int(c - 0x61) + 1
        }
        return n - 1
    }

    /// A GPT partition's GUID, or an MBR partition's "DISKID-NN" (as blkid names them).
    private func partition(uuid: String) -> String? {
        let wanted = uuid.lowercased()
        for disk in disks.disks {
            guard let table = disk.partitionTable else { continue }
            for p in table.partitions {
                let id = table.scheme == .gpt ? p.gptGUID?.lowercased()
                    : table.diskID.lowercased() + "-" + (p.number < 10 ? "0" : "") + String(p.number, radix: 16)
                if id == wanted { return disk.partitionName(p) }
            }
        }
        return nil
    }

    private func partition(label: String) -> String? {
        for disk in disks.disks {
            for p in disk.partitionTable?.partitions ?? [] where p.gptName == label {
                return disk.partitionName(p)
            }
        }
        return nil
    }
}

/// What the release files say, filled in by libguestfs's ordered list of tests: each test whose
/// file exists runs; the first to succeed ends the list (a failed one may still leave values).
struct ReleaseData {
    var distro: String?
    var productName: String?
    var version: (major: Int, minor: Int)?

    typealias Parse = @Sendable (inout ReleaseData, VFS, String) -> Bool
    typealias Test = (path: String, parse: Parse)

    mutating func run(_ tests: [Test], on vfs: VFS) {
        for test in tests where vfs.isFile(test.path, follow: true) {
            if test.parse(&self, vfs, test.path) { return }
        }
    }

    static let rolling: Set<String> = ["archlinux", "gentoo", "voidlinux"]

    static func generic(_ distro: String, _ pattern: String? = nil) -> Parse {
        { data, vfs, path in data.parseGeneric(distro, pattern, vfs, path) }
    }

    static let linuxTests: [Test] = [
        ("/etc/os-release", { d, v, p in d.parseOSRelease(v, p) }),
        ("/etc/lsb-release", { d, v, p in d.parseLSBRelease(v, p) }),
        ("/etc/openmandriva-release", generic("openmandriva", #"OpenMandriva.*release (\d+)\.(\d+)\.?(\d+)? .*"#)),
        ("/etc/oracle-release", generic("oraclelinux", #"Oracle Linux.*release (\d+).*Update (\d+)"#)),
        ("/etc/oracle-release", generic("oraclelinux", #"Oracle Linux.*release (\d+)\.(\d+)"#)),
        ("/etc/oracle-release", generic("oraclelinux", #"Oracle Linux.*release (\d+)"#)),
        ("/etc/centos-release", generic("centos", #"CentOS.*release (\d+).*Update (\d+)"#)),
        ("/etc/centos-release", generic("centos", #"CentOS.*release (\d+)\.(\d+)"#)),
        ("/etc/centos-release", generic("centos", #"CentOS.*release (\d+)"#)),
        ("/etc/rocky-release", generic("rocky", #"Rocky Linux.*release (\d+)\.(\d+)"#)),
        ("/etc/rocky-release", generic("rocky", #"Rocky Linux.*release (\d+)"#)),
        ("/etc/altlinux-release", generic("altlinux")),
        ("/etc/redhat-release", generic("fedora", #"Fedora release (\d+)"#)),
        ("/etc/redhat-release", generic("rhel", #"Red Hat.*release (\d+).*Update (\d+)"#)),
        ("/etc/redhat-release", generic("rhel", #"Red Hat.*release (\d+)\.(\d+)"#)),
        ("/etc/redhat-release", generic("rhel", #"Red Hat.*release (\d+)"#)),
        ("/etc/redhat-release", generic("centos", #"CentOS.*release (\d+).*Update (\d+)"#)),
        ("/etc/redhat-release", generic("centos", #"CentOS.*release (\d+)\.(\d+)"#)),
        ("/etc/redhat-release", generic("centos", #"CentOS.*release (\d+)"#)),
        ("/etc/redhat-release", generic("rocky", #"Rocky Linux.*release (\d+)\.(\d+)"#)),
        ("/etc/redhat-release", generic("rocky", #"Rocky Linux.*release (\d+)"#)),
        ("/etc/redhat-release", generic("scientificlinux", #"Scientific Linux.*release (\d+).*Update (\d+)"#)),
        ("/etc/redhat-release", generic("scientificlinux", #"Scientific Linux.*release (\d+)\.(\d+)"#)),
        ("/etc/redhat-release", generic("scientificlinux", #"Scientific Linux.*release (\d+)"#)),
        ("/etc/redhat-release", generic("redhat-based")),
        ("/etc/redhat-release", { d, _, _ in d.distro = "redhat-based"; return true }),
        ("/etc/debian_version", generic("debian")),
        ("/etc/pardus-release", generic("pardus")),
        ("/etc/arch-release", { d, _, _ in d.distro = "archlinux"; return true }),
        ("/etc/gentoo-release", generic("gentoo")),
        ("/etc/meego-release", generic("meego")),
        ("/etc/slackware-version", generic("slackware")),
        ("/etc/ttylinux-target", generic("ttylinux")),
        ("/etc/SuSE-release", { d, v, p in d.parseSuSERelease(v, p) }),
        ("/etc/SuSE-release", { d, _, _ in d.distro = "suse-based"; return true }),
        ("/etc/cirros/version", generic("cirros")),
        ("/etc/br-version", { d, v, p in
            d.parseGeneric(v.isFile("/usr/share/cirros/logo", follow: true) ? "cirros" : "buildroot", nil, v, p) }),
        ("/etc/alpine-release", generic("alpinelinux")),
        ("/etc/frugalware-release", generic("frugalware", #"Frugalware (\d+)\.(\d+)"#)),
        ("/etc/pld-release", generic("pldlinux", #"(\d+)\.(\d+) PLD Linux"#)),
    ]

    static func distro(osReleaseID id: String) -> String? {
        switch id {
        case "alpine": "alpinelinux"
        case "altlinux": "altlinux"
        case "arch": "archlinux"
        case "centos": "centos"
        case "coreos": "coreos"
        case "debian": "debian"
        case "fedora": "fedora"
        case "frugalware": "frugalware"
        case "gentoo": "gentoo"
        case "kali": "kalilinux"
        case "kylin": "kylin"
        case "mageia": "mageia"
        case "neokylin": "neokylin"
        case "openmandriva": "openmandriva"
        case "opensuse": "opensuse"
        case "pardus": "pardus"
        case "pld": "pldlinux"
        case "rhel": "rhel"
        case "rocky": "rocky"
        case "sles", "sled": "sles"
        case "ubuntu": "ubuntu"
        case "void": "voidlinux"
        default: id.hasPrefix("opensuse-") ? "opensuse" : nil
        }
    }

    mutating func parseOSRelease(_ vfs: VFS, _ path: String) -> Bool {
        guard let lines = vfs.smallFileLines(path) else { return false }
        for (key, raw) in Self.keyValues(lines) {
            let value = Self.shellUnquote(raw)
            switch key {
            case "ID": if let d = Self.distro(osReleaseID: value) { distro = d }
            case "PRETTY_NAME": productName = value
            case "VERSION_ID":
                if let g = Self.match(#"^V(\d+)Update(\d+)$"#, value), let a = g[0].flatMap(Self.int), let b = g[1].flatMap(Self.int) {
                    version = (a, b)  // NeoKylin's VERSION_ID
                } else {
                    parseVersion(value)
                }
            default: break
            }
        }
        guard let distro, productName != nil else { return false }
        // Debian, CentOS and Rocky give only the major version here: the release files say more.
        if ["debian", "centos", "rocky"].contains(distro), version?.minor == 0 { return false }
        if version == nil, Self.rolling.contains(distro) { version = (0, 0); return true }
        return version != nil
    }

    mutating func parseLSBRelease(_ vfs: VFS, _ path: String) -> Bool {
        guard let lines = vfs.smallFileLines(path) else { return false }
        var ok = false
        for (key, raw) in Self.keyValues(lines) {
            let value = Self.simpleUnquote(raw)
            switch key {
            case "DISTRIB_ID":
                let d: String? = switch value {
                case "CoreOS": "coreos"
                case "LinuxMint": "linuxmint"
                case "Mageia": "mageia"
                case "Ubuntu": "ubuntu"
                default: nil
                }
                if let d { distro = d; ok = true }
            case "DISTRIB_RELEASE": parseVersion(value)
            case "DISTRIB_DESCRIPTION": productName = value; ok = true
            default: break
            }
        }
        return ok
    }

    mutating func parseSuSERelease(_ vfs: VFS, _ path: String) -> Bool {
        guard let lines = vfs.smallFileLines(path), let first = lines.first else { return false }
        productName = first
        if Self.match(#"^SUSE (Linux|LINUX) Enterprise "#, first) != nil || Self.match(#"^Novell Linux Desktop "#, first) != nil {
            let major = lines.count >= 2 ? Self.match(#"^VERSION = (\d+)"#, lines[1])?[0].flatMap(Self.int) : nil
            let minor = lines.count >= 3 ? Self.match(#"^PATCHLEVEL = (\d+)"#, lines[2])?[0].flatMap(Self.int) : nil
            distro = "sles"
            version = major.map { ($0, minor ?? 0) }
        } else if Self.match(#"^(openSUSE|SuSE Linux|SUSE LINUX) "#, first) != nil {
            if lines.count >= 2 { parseVersion(lines[1]) }
            distro = "opensuse"
        }
        return true
    }

    /// The first line is the product name; with a pattern it must match and its groups give the
    /// version, without one a version is looked for anywhere in the line.
    mutating func parseGeneric(_ distro: String, _ pattern: String?, _ vfs: VFS, _ path: String) -> Bool {
        guard let first = vfs.smallFileLines(path)?.first, !first.isEmpty else { return false }
        productName = first
        self.distro = distro
        guard let pattern else { parseVersion(first); return true }
        guard let groups = Self.match(pattern, first) else { return false }
        let major = groups.first.flatMap { $0 }.flatMap(Self.int)
        let minor = groups.count > 1 ? groups[1].flatMap(Self.int) : nil
        if let major { version = (major, minor ?? 0) }
        return true
    }

    /// The first "N.M" anywhere in the string, else the first number.
    mutating func parseVersion(_ s: String) {
        if let g = Self.match(#"(\d+)\.(\d+)"#, s), let a = g[0].flatMap(Self.int), let b = g[1].flatMap(Self.int) {
            version = (a, b)
        } else if let g = Self.match(#"(\d+)"#, s), let a = g[0].flatMap(Self.int) {
            version = (a, 0)
        }
    }

    static func int(_ s: Substring) -> Int? { Int(s) }

    /// The capture groups of the first match of `pattern` in `s` (nil groups did not take part).
    /// Only the first 4 KiB are searched: release files are one short line, and the ".*" patterns
    /// would backtrack for ages over a hostile megabyte.
    static func match(_ pattern: String, _ s: String) -> [Substring?]? {
        let text = s.utf8.count > 4096 ? String(decoding: s.utf8.prefix(4096), as: UTF8.self) : s
        guard let regex = try? Regex(pattern), let m = try? regex.firstMatch(in: text) else { return nil }
        return (1..<max(m.output.count, 1)).map { m.output[$0].substring }
    }

    /// KEY=VALUE lines, skipping blank lines and comments; a line without "=" is a key with "".
    static func keyValues(_ lines: [String]) -> [(String, String)] {
        lines.filter { !$0.isEmpty && !$0.hasPrefix("#") }.map { line in
            guard let eq = line.firstIndex(of: "=") else { return (line, "") }
            return (String(line[..<eq]), String(line[line.index(after: eq)...]))
        }
    }

    /// Single quotes strip; double quotes strip and undo \" \\ \$ \` escapes.
    static func shellUnquote(_ s: String) -> String {
        let c = Array(s)
        guard c.count >= 2 else { return s }
        if c.first == "'" && c.last == "'" { return String(c[1..<(c.count - 1)]) }
        guard c.first == "\"" && c.last == "\"" else { return s }
        var out = ""
        var i = 1
        while i < c.count - 1 {
            if c[i] == "\\", i + 1 < c.count - 1 {
                let n = c[i + 1]
                if n == "\"" || n == "\\" || n == "$" || n == "`" { out.append(n) } else { out.append("\\"); out.append(n) }
                i += 2
            } else {
                out.append(c[i]); i += 1
            }
        }
        return out
    }

    static func simpleUnquote(_ s: String) -> String {
        let c = Array(s)
        guard c.count >= 2, (c.first == "\"" && c.last == "\"") || (c.first == "'" && c.last == "'") else { return s }
        return String(c[1..<(c.count - 1)])
    }
}

extension VFS {
    /// A regular file (through a final symlink only when `follow`), as libguestfs's is_file.
    public func isFile(_ path: String, follow: Bool = false) -> Bool {
        ((try? follow ? stat(path) : lstat(path))?.type) == .regular
    }

    public func isDirectory(_ path: String, follow: Bool = false) -> Bool {
        ((try? follow ? stat(path) : lstat(path))?.type) == .directory
    }

    /// The lines of a small regular file (split on "\n", so a final newline leaves a last ""),
    /// or nil when it is missing, not regular or over `limit` bytes.
    func smallFileLines(_ path: String, limit: UInt64 = 1 << 20, followLast: Bool = true) -> [String]? {
        guard isFile(path, follow: followLast), let data = try? readFile(path, limit: limit) else { return nil }
        return String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }
}
