import Foundation
import GuestFS

// guestfish's commands that make sense read-only, with guestfish's output formats: strings and
// numbers on a line, lists one item a line, hashes as `key: value`, and libguestfs's error texts.

struct FishCommand: Sendable {
    var name: String
    var aliases: [String] = []
    /// What `help` and usage errors show after the name, e.g. "path [followsymlinks:true|false]".
    var synopsis: String
    var summary: String
    var description: String
    /// Required parameters, then the names of optional `name:value` ones.
    var arity: ClosedRange<Int>
    var optional: [String] = []
    var run: @Sendable (FishSession, [String], [String: String]) throws -> Void
}

extension FishCommand {
    init(_ name: String, _ synopsis: String, _ summary: String, _ description: String, aliases: [String] = [],
         arity: ClosedRange<Int>? = nil, optional: [String] = [],
         _ run: @escaping @Sendable (FishSession, [String], [String: String]) throws -> Void) {
        let params = synopsis.split(separator: " ").filter { !$0.hasPrefix("[") }.count
        self.init(name: name, aliases: aliases, synopsis: synopsis, summary: summary, description: description,
                  arity: arity ?? params...params, optional: optional, run: run)
    }
}

enum FishCommands {
    static func find(_ name: String) -> FishCommand? {
        let n = name.lowercased().replacingOccurrences(of: "_", with: "-")
        return all.first { $0.name == n || $0.aliases.contains(n) }
    }

    static let all: [FishCommand] = [
        FishCommand("help", "[cmd]", "display a list of commands or help on a command",
                    "Without any parameter, this provides general help. With a \"cmd\" parameter, this displays detailed help for that command. With -l or --list, this lists all commands.",
                    arity: 0...1) { s, a, _ in try help(s, a.first) },
        FishCommand("quit", "", "quit guestfish", "This exits guestfish. You can also use ^D.",
                    aliases: ["exit", "q"]) { s, _, _ in s.quit = true },
        FishCommand("echo", "[params ...]", "display a line of text", "This echos the parameters to the terminal.",
                    arity: 0...Int.max) { s, a, _ in s.out.write(a.joined(separator: " ") + "\n") },
        FishCommand("launch", "", "launch the backend",
                    "Accepted for compatibility: corral reads the disk images directly, so there is no appliance to launch.",
                    aliases: ["run"]) { _, _, _ in },

        // MARK: Devices and filesystems
        FishCommand("list-devices", "", "list the block devices", "List all the block devices. The full block device names are returned, eg. /dev/sda.") { s, _, _ in
            for d in s.disks.disks { s.out.write(d.name + "\n") }
        },
        FishCommand("list-partitions", "", "list the partitions",
                    "List all the partitions detected on all block devices (extended MBR partitions included). This does not return logical volumes.") { s, _, _ in
            for p in s.disks.partitions { s.out.write(p.name + "\n") }
        },
        FishCommand("list-filesystems", "", "list filesystems",
                    "List the filesystems on partitions, whole disks and logical volumes, with their type (\"unknown\" when undetermined, \"swap\" for Linux swap).") { s, _, _ in
            do {
                for fs in try s.inspector.filesystems() { s.out.write("\(fs.device): \(fs.signature.type)\n") }
            } catch { throw FishCallError("list_filesystems", GuestOutput.describe(error)) }
        },
        FishCommand("vfs-type", "mountable", "get the Linux VFS type corresponding to a mounted device",
                    "This returns the filesystem type on \"mountable\", as blkid names it (\"ext4\", \"vfat\", \"LVM2_member\"...), or the empty string.") { s, a, _ in
            s.out.write(try signature(s, a[0], "vfs_type").type.replacingOccurrences(of: "unknown", with: "") + "\n")
        },
        FishCommand("vfs-label", "mountable", "get the filesystem label",
                    "This returns the label of the filesystem on \"mountable\", or the empty string.") { s, a, _ in
            s.out.write((try signature(s, a[0], "vfs_label").label ?? "") + "\n")
        },
        FishCommand("vfs-uuid", "mountable", "get the filesystem UUID",
                    "This returns the filesystem UUID of the filesystem on \"mountable\", or the empty string.",
                    aliases: ["get-uuid"]) { s, a, _ in
            s.out.write((try signature(s, a[0], "vfs_uuid").uuid ?? "") + "\n")
        },
        FishCommand("blockdev-getsize64", "device", "get total size of device in bytes",
                    "This returns the size of the device in bytes.") { s, a, _ in
            s.out.write("\(try size(s, a[0], "blockdev_getsize64"))\n")
        },
        FishCommand("blockdev-getsz", "device", "get total size of device in 512-byte sectors",
                    "This returns the size of the device in units of 512-byte sectors.") { s, a, _ in
            s.out.write("\(try size(s, a[0], "blockdev_getsz") / 512)\n")
        },

        // MARK: Inspection
        FishCommand("inspect-os", "", "inspect disk and return list of operating systems found",
                    "This looks for operating systems on the disks and returns their root filesystems, one a line. Like libguestfs, it unmounts everything first.") { s, _, _ in
            s.umountAll()
            do { s.roots = try s.inspector.inspectOS() } catch { throw FishCallError("inspect_os", GuestOutput.describe(error)) }
            for os in s.roots ?? [] { s.out.write(os.root + "\n") }
        },
        FishCommand("inspect-get-roots", "", "return list of operating systems found by last inspection",
                    "This returns the roots found by the last call to inspect-os.") { s, _, _ in
            for os in s.roots ?? [] { s.out.write(os.root + "\n") }
        },
        inspectGet("type", "get type of inspected operating system") { $0.type },
        inspectGet("distro", "get distro of inspected operating system") { $0.distro },
        inspectGet("product-name", "get product name of inspected operating system") { $0.productName },
        inspectGet("hostname", "get hostname of the operating system") { $0.hostname ?? "unknown" },
        inspectGet("major-version", "get major version of inspected operating system") { String($0.majorVersion) },
        inspectGet("minor-version", "get minor version of inspected operating system") { String($0.minorVersion) },
        inspectGet("arch", "get architecture of inspected operating system") { $0.arch ?? "unknown" },
        inspectGet("package-format", "get package format used by the operating system") { $0.packageFormat ?? "unknown" },
        inspectGet("package-management", "get package management tool used by the operating system") { $0.packageManagement ?? "unknown" },
        inspectGet("osinfo", "get a possible osinfo short ID corresponding to this operating system") { $0.osinfo ?? "unknown" },
        FishCommand("inspect-get-mountpoints", "root", "get mountpoints of inspected operating system",
                    "This returns where the filesystems of this operating system would be mounted, as \"mountpoint: device\" from its /etc/fstab.") { s, a, _ in
            let os = try s.root(a[0], call: "inspect_get_mountpoints")
            for m in FishSession.fstabOrder(os) { s.out.write("\(m.path): \(m.device)\n") }
        },

        // MARK: Mounting
        FishCommand("mount-ro", "mountable mountpoint", "mount a guest disk, read-only",
                    "Mount a filesystem at a position in the guest tree: first \"/\", then others on existing directories.") { s, a, _ in
            try s.mount(a[0], at: a[1], call: "mount_ro")
        },
        FishCommand("mount", "mountable mountpoint", "mount a guest disk at a position in the filesystem",
                    "The same as mount-ro: corral never writes to disk images.") { s, a, _ in
            try s.mount(a[0], at: a[1], call: "mount")
        },
        FishCommand("mount-options", "options mountable mountpoint", "mount a guest disk with mount options",
                    "The same as mount-ro; the options are accepted and ignored.") { s, a, _ in
            try s.mount(a[1], at: a[2], call: "mount_options")
        },
        FishCommand("umount", "pathordevice", "unmount a filesystem",
                    "This unmounts the filesystem mounted at the given path, or the given device.",
                    aliases: ["unmount"]) { s, a, _ in try s.umount(a[0], call: "umount") },
        FishCommand("umount-all", "", "unmount all filesystems", "This unmounts all mounted filesystems.",
                    aliases: ["unmount-all"]) { s, _, _ in s.umountAll() },
        FishCommand("mounts", "", "show mounted filesystems", "This returns the list of currently mounted filesystems' devices.") { s, _, _ in
            for m in s.mounted { s.out.write(m.device + "\n") }
        },
        FishCommand("mountpoints", "", "show mountpoints", "This returns each mounted device and the directory it is mounted on, as \"device: directory\".") { s, _, _ in
            for m in s.mounted { s.out.write("\(m.device): \(m.path)\n") }
        },

        // MARK: Files
        FishCommand("ls", "directory", "list the files in a directory",
                    "List the files in directory (relative to the root directory, there is no cwd). The \".\" and \"..\" entries are not returned, but hidden files are shown.") { s, a, _ in
            try FishFiles.ls(s, a[0])
        },
        FishCommand("ll", "directory", "list the files in a directory (long format)",
                    "List the files in directory in the format of \"ls -la\".") { s, a, _ in try FishFiles.ll(s, a[0]) },
        FishCommand("find", "directory", "find all files and directories",
                    "This lists all files and directories below directory, recursively, sorted, each relative to directory.") { s, a, _ in
            try FishFiles.find(s, a[0])
        },
        FishCommand("du", "path", "estimate file space usage",
                    "This returns the space used by path and everything below it, in kilobytes, as \"du -s\" does.") { s, a, _ in
            try FishFiles.du(s, a[0])
        },
        FishCommand("cat", "path", "list the contents of a file",
                    "Return the contents of the file named \"path\". Like guestfish, output stops at the first zero byte: use download for binary files.") { s, a, _ in
            try FishFiles.cat(s, a[0])
        },
        FishCommand("hexdump", "path", "dump a file in hexadecimal", "This shows the file as \"hexdump -C\" does.") { s, a, _ in
            try FishFiles.hexdump(s, a[0])
        },
        FishCommand("download", "remotefilename (filename|-)", "download a file to the local machine",
                    "Download file (or device) remotefilename and save it as filename on the local machine; \"-\" writes it to standard output.",
                    arity: 2...2) { s, a, _ in try FishFiles.download(s, a[0], a[1]) },
        FishCommand("head", "path", "return first 10 lines of a file", "This returns up to the first 10 lines of a file.") { s, a, _ in
            try FishFiles.head(s, 10, a[0], call: "head")
        },
        FishCommand("head-n", "nrlines path", "return first N lines of a file",
                    "The first nrlines lines of the file; a negative number returns all lines except the last -nrlines.") { s, a, _ in
            try FishFiles.head(s, try integer(a[0], "head-n", "nrlines"), a[1], call: "head_n")
        },
        FishCommand("tail", "path", "return last 10 lines of a file", "This returns up to the last 10 lines of a file.") { s, a, _ in
            try FishFiles.tail(s, 10, a[0], call: "tail")
        },
        FishCommand("tail-n", "nrlines path", "return last N lines of a file",
                    "The last nrlines lines of the file; a negative number returns the lines from line -nrlines on.") { s, a, _ in
            try FishFiles.tail(s, try integer(a[0], "tail-n", "nrlines"), a[1], call: "tail_n")
        },
        FishCommand("stat", "path", "get file information", "Returns file information for the given path, following symbolic links (the guestfs_stat struct).") { s, a, _ in
            try FishFiles.stat(s, a[0], follow: true, ns: false)
        },
        FishCommand("lstat", "path", "get file information for a symbolic link", "As stat, but a symbolic link itself is described.") { s, a, _ in
            try FishFiles.stat(s, a[0], follow: false, ns: false)
        },
        FishCommand("statns", "path", "get file information", "Returns file information for the given path, following symbolic links, with nanosecond times.") { s, a, _ in
            try FishFiles.stat(s, a[0], follow: true, ns: true)
        },
        FishCommand("lstatns", "path", "get file information for a symbolic link", "As statns, but a symbolic link itself is described.") { s, a, _ in
            try FishFiles.stat(s, a[0], follow: false, ns: true)
        },
        FishCommand("file", "path", "determine file type",
                    "This describes the type or contents of the file as file(1) does (looking inside gzip files). Paths of devices (/dev/sda1) describe the device.") { s, a, _ in
            try FishFiles.file(s, a[0])
        },
        FishCommand("is-file", "path [followsymlinks:true|false]", "test if a regular file",
                    "This returns \"true\" if and only if there is a regular file with the given path name.",
                    aliases: ["is-file-opts"], optional: ["followsymlinks"]) { s, a, o in
            try FishFiles.isType(s, a[0], .regular, follow: o["followsymlinks"].map(isTrue) ?? false, call: "is_file")
        },
        FishCommand("is-dir", "path [followsymlinks:true|false]", "test if a directory",
                    "This returns \"true\" if and only if there is a directory with the given path name.",
                    aliases: ["is-dir-opts"], optional: ["followsymlinks"]) { s, a, o in
            try FishFiles.isType(s, a[0], .directory, follow: o["followsymlinks"].map(isTrue) ?? false, call: "is_dir")
        },
        FishCommand("is-symlink", "path", "test if symbolic link", "This returns \"true\" if and only if there is a symbolic link with the given path name.") { s, a, _ in
            try FishFiles.isType(s, a[0], .symlink, follow: false, call: "is_symlink")
        },
        FishCommand("exists", "path", "test if file or directory exists",
                    "This returns \"true\" if and only if there is a file, directory (or anything, a dangling symbolic link included) with the given path name.") { s, a, _ in
            try s.needRoot("exists", a[0])
            s.out.write(((try? s.vfs.lstat(a[0])) != nil ? "true" : "false") + "\n")
        },
        FishCommand("readlink", "path", "read the target of a symbolic link", "This command reads the target of a symbolic link.") { s, a, _ in
            try s.needRoot("readlink", a[0])
            do { s.out.write(try s.vfs.readlink(a[0]) + "\n") } catch {
                throw FishSession.pathError("readlink", "readlink", a[0], error)
            }
        },
        FishCommand("filesize", "file", "return the size of the file in bytes", "This command returns the size of file in bytes.") { s, a, _ in
            try s.needRoot("filesize", a[0])
            do { s.out.write("\(try s.vfs.stat(a[0]).size)\n") } catch {
                throw FishSession.pathError("filesize", nil, a[0], error)
            }
        },
    ]

    static func inspectGet(_ what: String, _ summary: String, _ value: @escaping @Sendable (InspectedOS) -> String) -> FishCommand {
        FishCommand("inspect-get-" + what, "root", summary,
                    "This returns the \(what.replacingOccurrences(of: "-", with: " ")) of the operating system whose root filesystem is \"root\", as found by inspect-os (\"unknown\" when undetermined).") { s, a, _ in
            s.out.write(value(try s.root(a[0], call: "inspect_get_" + what.replacingOccurrences(of: "-", with: "_"))) + "\n")
        }
    }

    static func signature(_ s: FishSession, _ device: String, _ call: String) throws -> FilesystemSignature {
        detectFilesystem(try s.blockDevice(device, call: call))
    }

    static func size(_ s: FishSession, _ device: String, _ call: String) throws -> UInt64 {
        // Linux gives an extended MBR partition a 2-sector device: only its first EBR is reachable.
        if let p = s.disks.partitions.first(where: { $0.name == device }), p.partition.isExtended { return 1024 }
        return try s.blockDevice(device, call: call).size
    }

    /// guestfish's integer parameters: C syntax (0x.., 0..), with xstrtoll's failure codes.
    static func integer(_ text: String, _ command: String, _ param: String) throws -> Int {
        var t = Substring(text)
        var negative = false
        if t.first == "-" || t.first == "+" { negative = t.first == "-"; t = t.dropFirst() }
        var radix = 10
        if t.hasPrefix("0x") || t.hasPrefix("0X") { radix = 16; t = t.dropFirst(2) } else if t.count > 1, t.hasPrefix("0") { radix = 8; t = t.dropFirst() }
        let digits = t.prefix { $0.isHexDigit && Int(String($0), radix: radix) != nil }
        func fail(_ code: Int) -> FishShellError {
            FishShellError("\(command): \(param): invalid integer parameter (xstrtoll returned \(code))")
        }
        guard !digits.isEmpty else { throw fail(4) }
        guard digits.count == t.count else { throw fail(2) }
        guard let v = Int(digits, radix: radix) else { throw fail(1) }
        return negative ? -v : v
    }

    static func isTrue(_ s: String) -> Bool {
        !["0", "f", "false", "n", "no"].contains(s.lowercased())
    }

    static func help(_ s: FishSession, _ name: String?) throws {
        guard let name else {
            s.out.write("""
                Find out what filesystems are available using ‘list-filesystems’ and then
                mount them to examine their contents using ‘mount-ro’ (disks are always
                read-only here).

                For more information about a command, use ‘help cmd’.

                To list all commands, use ‘help -l’.

                """)
            return
        }
        if name == "-l" || name == "--list" {
            for c in all.sorted(by: { $0.name < $1.name }) {
                s.out.write(c.name.padding(toLength: max(20, c.name.count), withPad: " ", startingAt: 0) + " " + c.summary + "\n")
            }
            return
        }
        guard let c = find(name) else { throw FishShellError("\(name): command not known: use -h to list all commands") }
        var text = "NAME\n    \(c.name) - \(c.summary)\n\nSYNOPSIS\n     \(c.name)\(c.synopsis.isEmpty ? "" : " " + c.synopsis)\n\nDESCRIPTION\n"
        text += wrap(c.description, indent: "    ", width: 76) + "\n"
        if !c.aliases.isEmpty { text += "    You can use '\(c.aliases.joined(separator: "' or '"))' as an alias for this command.\n\n" }
        s.out.write(text)
    }

    static func wrap(_ text: String, indent: String, width: Int) -> String {
        var lines: [String] = [], line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty, indent.count + line.count + 1 + word.count > width {
                lines.append(indent + line); line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(indent + line) }
        return lines.joined(separator: "\n") + "\n"
    }
}
