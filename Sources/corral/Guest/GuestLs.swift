import ArgumentParser
import Foundation
import GuestFS

/// `corral guest ls`: virt-ls. Four modes as virt-ls has them: names (guestfs_ls), -l (like
/// `ls -la` in the guest), -R (guestfs_find: "/"-led paths relative to the directory, sorted) and -lR (virt-ls's own
/// columns: type, mode, size, [uid gid], [times], [extra stats], [checksum], path, -> target).
struct GuestLs: GuestSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List files in a guest (virt-ls).",
        // -h is --human-readable, as in virt-ls.
        helpNames: [.long])

    @OptionGroup var disk: GuestDiskOptions
    @OptionGroup var mount: GuestMountOptions

    @Flag(name: [.customShort("l"), .customLong("long")], help: "Long listing.")
    var long = false
    @Flag(name: [.customShort("R"), .customLong("recursive")], help: "Recursive listing.")
    var recursive = false
    @Flag(name: .customLong("csv"), help: "Comma-separated values output (-lR).")
    var csv = false
    @Flag(name: [.customShort("h"), .customLong("human-readable")], help: "Human-readable sizes (-lR).")
    var human = false
    @Flag(name: [.customLong("uids"), .customLong("uid")], help: "Show UID and GID (-lR).")
    var uids = false
    @Flag(name: [.customLong("times"), .customLong("time")], help: "Show atime, mtime, ctime (-lR).")
    var times = false
    @Flag(name: .customLong("time-t"), help: "Times as seconds since the epoch (-lR).")
    var timeT = false
    @Flag(name: .customLong("time-relative"), help: "Times as seconds before now (-lR).")
    var timeRelative = false
    @Flag(name: .customLong("time-days"), help: "Times as days before now (-lR).")
    var timeDays = false
    @Flag(name: [.customLong("extra-stats"), .customLong("extra-stat")], help: "Show device, inode, links, rdev, blocks (-lR).")
    var extraStats = false
    @Option(name: .customLong("checksum"),
            help: ArgumentHelp("Checksum regular files (-lR): crc, md5 (bare --checksum), sha1, sha224, sha256, sha384, sha512.", valueName: "TYPE"))
    var checksum: String?

    @Argument(help: "Guest directories to list.")
    var directories: [String] = []

    /// virt-ls's --checksum takes an optional value (getopt's optional argument): a bare
    /// --checksum means md5, and the next word stays a directory.
    static func normalize(_ args: [String]) -> [String] {
        args.map { arg in
            switch arg {
            case "--checksum", "--checksums": "--checksum=md5"
            case _ where arg.hasPrefix("--checksums="): "--checksum=" + arg.dropFirst("--checksums=".count)
            default: arg
            }
        }
    }

    func validate() throws {
        guard !directories.isEmpty else { throw ValidationError("no directory given") }
        let lR = long && recursive
        if !lR, csv || human || uids || times || timeT || timeRelative || timeDays || extraStats || checksum != nil {
            throw ValidationError("used a flag which can only be combined with -lR mode")
        }
        if human && csv { throw ValidationError("you cannot use -h and --csv options together") }
        if let checksum, GuestChecksum.Kind(rawValue: checksum) == nil {
            throw ValidationError("--checksum: unknown type '\(checksum)' (crc, md5, sha1, sha224, sha256, sha384, sha512)")
        }
        for d in directories where !d.hasPrefix("/") {
            throw ValidationError("\(d): the path must be absolute (start with /)")
        }
    }

    func run(globalURI: String?, out: GuestOutput) async throws {
        let guest = try await mount.openGuest(disk, globalURI: globalURI, command: "ls")
        try list(guest, out)
    }

    /// Synchronous: see GuestCopyOut.copy (a Swift 6.3 release-build crash).
    private func list(_ guest: MountedGuest, _ out: GuestOutput) throws {
        let vfs = guest.vfs
        var failed = false
        for dir in directories {
            do {
                switch (long, recursive) {
                case (false, false): try listNames(vfs, dir, out)
                case (true, false): try GuestLongListing(vfs: vfs).list(dir, out)
                case (false, true): try find(vfs, dir, out) { failed = true; GuestOutput.error("ls", $0) }
                case (true, true): try listLR(guest, dir, out) { failed = true; GuestOutput.error("ls", $0) }
                }
            } catch {
                out.flush()
                GuestOutput.error("ls", error.message)
                failed = true
            }
        }
        if failed { throw ExitCode.failure }
    }

    /// guestfs_ls: the names in a directory, byte order.
    private func listNames(_ vfs: VFS, _ dir: String, _ out: GuestOutput) throws(GuestFSError) {
        let walk = GuestWalk(vfs: vfs)
        let node = try vfs.resolve(dir, followLast: true)
        guard try walk.filesystem(node).stat(node.inode).type == .directory else {
            throw GuestFSError("\(dir): not a directory (ENOTDIR)")
        }
        for e in try walk.children(node) {
            out.write(bytes: e.nameBytes + [0x0A])
        }
    }

    /// guestfs_find: every path below `dir`, relative to it, sorted as whole strings.
    private func find(_ vfs: VFS, _ dir: String, _ out: GuestOutput, failure: (String) -> Void) throws(GuestFSError) {
        var paths: [ArraySlice<UInt8>] = []
        try GuestWalk(vfs: vfs).walk(dir, includeStart: false, visit: { e in
            paths.append(e.relative)
            return true
        }, failure: failure)
        paths.sort { $0.lexicographicallyPrecedes($1) }
        // guestfs_find's names keep the slash after the directory: "/user/notes.txt".
        for p in paths {
            out.write(bytes: [0x2F] + Array(p) + [0x0A])
        }
    }

    private func listLR(_ guest: MountedGuest, _ dir: String, _ out: GuestOutput, failure: (String) -> Void) throws(GuestFSError) {
        let walk = GuestWalk(vfs: guest.vfs)
        let kind = checksum.flatMap(GuestChecksum.Kind.init(rawValue:))
        let timeMode: LRFormat.TimeMode = timeDays ? .days : timeRelative ? .relative : timeT ? .epoch : .date
        var format = LRFormat(csv: csv, human: human, uids: uids,
                              times: times || timeT || timeRelative || timeDays, timeMode: timeMode,
                              extraStats: extraStats, checksum: kind != nil, now: Int64(time(nil)))
        var line = LineBuilder()
        try walk.walk(dir, visit: { e throws(GuestFSError) in
            line.reset()
            var sum: String?
            if let kind, e.stat.type == .regular {
                sum = try GuestChecksum.compute(kind, filesystem: walk.filesystem(e.node), inode: e.node.inode, size: e.stat.size)
            }
            var target: [UInt8]?
            if e.stat.type == .symlink {
                do throws(GuestFSError) { target = try walk.filesystem(e.node).readlink(e.node.inode) } catch {
                    failure(String(decoding: e.path, as: UTF8.self) + ": " + error.message)
                }
            }
            format.line(&line, path: e.path, stat: e.stat, device: guest.deviceNumber(mount: e.node.mount), checksum: sum, link: target)
            out.write(bytes: line.bytes)
            return true
        }, failure: failure)
    }
}

/// virt-ls -lR's line layout (cat/ls.c show_file and its output_* helpers).
struct LRFormat {
    enum TimeMode { case date, epoch, relative, days }
    var csv: Bool
    var human: Bool
    var uids: Bool
    var times: Bool
    var timeMode: TimeMode
    var extraStats: Bool
    var checksum: Bool
    var now: Int64
    private var field = 0

    init(csv: Bool, human: Bool, uids: Bool, times: Bool, timeMode: TimeMode, extraStats: Bool, checksum: Bool, now: Int64) {
        self.csv = csv; self.human = human; self.uids = uids; self.times = times; self.timeMode = timeMode
        self.extraStats = extraStats; self.checksum = checksum; self.now = now
    }

    private mutating func next(_ line: inout LineBuilder) {
        field += 1
        if field > 1 { line.append(byte: csv ? 0x2C : 0x20) }
    }

    private mutating func string(_ line: inout LineBuilder, _ s: some Collection<UInt8>) {
        next(&line)
        guard csv, s.contains(where: { $0 == 0x20 || $0 == 0x22 || $0 == 0x0A || $0 == 0x2C }) else {
            line.append(bytes: s); return
        }
        line.append(byte: 0x22)
        for c in s {
            if c == 0x22 { line.append(byte: 0x22) }
            line.append(byte: c)
        }
        line.append(byte: 0x22)
    }

    static func typeChar(_ t: FileType) -> UInt8 {
        switch t {
        case .regular: 0x2D
        case .directory: 0x64
        case .characterDevice: 0x63
        case .blockDevice: 0x62
        case .fifo: 0x70
        case .symlink: 0x6C
        case .socket: 0x73
        case .unknown: 0x75
        }
    }

    private mutating func time(_ line: inout LineBuilder, _ t: FileTime) {
        next(&line)
        switch timeMode {
        case .epoch: line.decimal(t.seconds, width: 10)
        case .relative: line.decimal(now &- t.seconds, width: 8)
        case .days: line.decimal((now &- t.seconds) / 86400, width: 3)
        case .date: line.append(LocalTime.format(t.seconds))
        }
    }

    private mutating func dev(_ line: inout LineBuilder, _ d: UInt64) {
        next(&line)
        let major = ((d >> 8) & 0xfff) | ((d >> 32) & ~0xfff)
        let minor = (d & 0xff) | ((d >> 12) & ~0xff)
        line.decimal(major); line.append(byte: 0x3A); line.decimal(minor)
    }

    mutating func line(_ line: inout LineBuilder, path: [UInt8], stat st: FileStat, device: UInt64, checksum sum: String?, link: [UInt8]?) {
        field = 0
        next(&line); line.append(byte: Self.typeChar(st.type))
        next(&line); line.octal(st.mode & 0o7777, width: 4)
        next(&line)
        if human {
            let h = HumanSize.format(st.size)
            if !csv { line.pad(10 - h.utf8.count) }
            line.append(h)
        } else {
            line.decimal(st.size, width: csv ? 0 : 10)
        }
        if uids {
            next(&line); line.decimal(Int64(st.uid), width: 4)
            next(&line); line.decimal(Int64(st.gid), width: 4)
        }
        if times {
            time(&line, st.atime); time(&line, st.mtime); time(&line, st.ctime)
        }
        if extraStats {
            dev(&line, device)
            next(&line); line.decimal(st.inode)
            next(&line); line.decimal(st.nlink)
            dev(&line, UInt64(st.rdev))
            next(&line); line.decimal(st.blocks)
        }
        if checksum {
            if let sum { string(&line, Array(sum.utf8)) } else if csv { string(&line, [UInt8]()) }
        }
        string(&line, path)
        if let link {
            if csv { string(&line, link) } else { next(&line); line.append("-> "); line.append(bytes: link) }
        }
        line.append(byte: 0x0A)
    }
}

/// gnulib human_readable with human_autoscale | human_round_to_nearest | human_base_1024 |
/// human_SI, as virt-ls -h prints sizes: "999", "1.0K", "9.9K", "10K", "1023K", "1.0M".
enum HumanSize {
    static func format(_ n: UInt64) -> String {
        let base: UInt64 = 1024
        var amt = n
        var tenths: UInt64 = 0
        var rounding: UInt64 = 0
        var exponent = 0
        let letters: [Character] = ["K", "M", "G", "T", "P", "E", "Z", "Y"]
        var fraction = ""
        if base <= amt {
            repeat {
                let r10 = (amt % base) * 10 + tenths
                let r2 = (r10 % base) * 2 + (rounding >> 1)
                amt /= base
                tenths = r10 / base
                rounding = r2 < base ? (r2 != 0 ? 1 : 0) + (rounding != 0 ? 1 : 0) : 2 + (base < r2 + rounding ? 1 : 0)
                exponent += 1
            } while base <= amt && exponent < letters.count
            if amt < 10 {
                if 2 < rounding + (tenths & 1) {
                    tenths += 1; rounding = 0
                    if tenths == 10 { amt += 1; tenths = 0 }
                }
                if amt < 10 {
                    fraction = "." + String(tenths)
                    tenths = 0; rounding = 0
                }
            }
        }
        if 5 < tenths + (0 < rounding + (amt & 1) ? 1 : 0) {
            amt += 1
            if amt == base && exponent < letters.count {
                exponent += 1
                fraction = ".0"
                amt = 1
            }
        }
        return String(amt) + fraction + (exponent > 0 ? String(letters[exponent - 1]) : "")
    }
}

/// "%F %T" in local time, as virt-ls prints --times.
enum LocalTime {
    static func format(_ seconds: Int64) -> String {
        var t = time_t(truncatingIfNeeded: seconds)
        var tm = tm()
        guard localtime_r(&t, &tm) != nil else { return String(seconds) }
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday)) \(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec))"
    }
}

