import Foundation
import GuestFS

/// `ls -l` mode: guestfs_ll, which runs GNU `ls -la` on the directory inside the appliance (C
/// locale, UTC, output not a terminal). Reproduced here: "total" in 1 KiB blocks, aligned columns,
/// numeric owners right-aligned (the appliance has no passwd entries), dates "%b %e %H:%M"
/// within six months, else "%b %e  %Y". One difference: ".." of "/" is the guest root itself,
/// where the appliance shows its own root directory.
struct GuestLongListing {
    let vfs: VFS
    var now = Int64(time(nil))

    init(vfs: VFS) { self.vfs = vfs }

    private struct Row {
        var name: [UInt8]
        var stat: FileStat
        var link: [UInt8]?
    }

    func list(_ dir: String, _ out: GuestOutput) throws(GuestFSError) {
        let walk = GuestWalk(vfs: vfs)
        let node = try vfs.resolve(dir, followLast: true)
        let st = try walk.filesystem(node).stat(node.inode)
        var rows: [Row] = []
        if st.type != .directory {
            let lnode = try vfs.resolve(dir, followLast: false)
            let lst = try walk.filesystem(lnode).stat(lnode.inode)
            rows.append(Row(name: Array(dir.utf8), stat: lst, link: lst.type == .symlink ? try walk.filesystem(lnode).readlink(lnode.inode) : nil))
            out.write(bytes: render(rows, total: false))
            return
        }
        let parent = try vfs.resolve(GuestWalk.displayPath(dir) == [0x2F] ? "/" : dir + "/..", followLast: true)
        rows.append(Row(name: [0x2E], stat: st))
        rows.append(Row(name: [0x2E, 0x2E], stat: try walk.filesystem(parent).stat(parent.inode)))
        for e in try walk.children(node) {
            let child = VFS.Node(mount: node.mount, inode: e.inode)
            // A mount point shows the mounted root, as the kernel does.
            var path = GuestWalk.displayPath(dir)
            if path != [0x2F] { path.append(0x2F) }
            path += e.nameBytes
            let target = vfs.mounts.count > 1 ? (try? vfs.resolve(String(decoding: path, as: UTF8.self), followLast: false)) ?? child : child
            let cst = try walk.filesystem(target).stat(target.inode)
            let link = cst.type == .symlink ? try walk.filesystem(target).readlink(target.inode) : nil
            rows.append(Row(name: e.nameBytes, stat: cst, link: link))
        }
        // C-locale collation is byte order, so "-dash" sorts before ".".
        rows.sort { $0.name.lexicographicallyPrecedes($1.name) }
        out.write(bytes: render(rows, total: true))
    }

    private static func modeString(_ st: FileStat) -> String {
        let type: Character = switch st.type {
        case .regular: "-"
        case .directory: "d"
        case .symlink: "l"
        case .characterDevice: "c"
        case .blockDevice: "b"
        case .fifo: "p"
        case .socket: "s"
        case .unknown: "?"
        }
        let m = st.mode
        func bit(_ mask: UInt32, _ c: Character) -> Character { m & mask != 0 ? c : "-" }
        func exec(_ x: UInt32, _ special: UInt32, _ set: Character, _ unset: Character) -> Character {
            m & special != 0 ? (m & x != 0 ? set : unset) : (m & x != 0 ? "x" : "-")
        }
        return String([type, bit(0o400, "r"), bit(0o200, "w"), exec(0o100, 0o4000, "s", "S"),
                       bit(0o040, "r"), bit(0o020, "w"), exec(0o010, 0o2000, "s", "S"),
                       bit(0o004, "r"), bit(0o002, "w"), exec(0o001, 0o1000, "t", "T")])
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    private func date(_ t: FileTime) -> String {
        var secs = time_t(truncatingIfNeeded: t.seconds)
        var tm = tm()
        guard gmtime_r(&secs, &tm) != nil else { return String(t.seconds) }
        let month = Self.months[Int(tm.tm_mon) % 12]
        let day = tm.tm_mday < 10 ? " \(tm.tm_mday)" : "\(tm.tm_mday)"
        // GNU ls: recent means within the last six months (half of 365.2425 days), not in the future.
        let recent = t.seconds > now - 31_556_952 / 2 && t.seconds <= now
        if recent {
            func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
            return "\(month) \(day) \(two(tm.tm_hour)):\(two(tm.tm_min))"
        }
        return "\(month) \(day)  \(tm.tm_year + 1900)"
    }

    private func render(_ rows: [Row], total: Bool) -> [UInt8] {
        func isDevice(_ s: FileStat) -> Bool { s.type == .characterDevice || s.type == .blockDevice }
        func major(_ d: UInt32) -> UInt32 { (d >> 8) & 0xfff }
        func minor(_ d: UInt32) -> UInt32 { (d & 0xff) | ((d >> 12) & 0xfff00) }
        var nlinkW = 0, userW = 0, groupW = 0, sizeW = 0, majorW = 0, minorW = 0
        var blocks: UInt64 = 0
        for r in rows {
            nlinkW = max(nlinkW, String(r.stat.nlink).count)
            userW = max(userW, String(r.stat.uid).count)
            groupW = max(groupW, String(r.stat.gid).count)
            if isDevice(r.stat) {
                majorW = max(majorW, String(major(r.stat.rdev)).count)
                minorW = max(minorW, String(minor(r.stat.rdev)).count)
            } else {
                sizeW = max(sizeW, String(r.stat.size).count)
            }
            blocks &+= r.stat.blocks
        }
        if majorW > 0 { sizeW = max(sizeW, majorW + 2 + minorW) }
        var line = LineBuilder()
        if total { line.append("total \((blocks + 1) / 2)\n") }
        for r in rows {
            line.append(Self.modeString(r.stat))
            line.append(byte: 0x20)
            line.decimal(r.stat.nlink, width: nlinkW)
            line.append(byte: 0x20)
            line.decimal(Int64(r.stat.uid), width: userW)
            line.append(byte: 0x20)
            line.decimal(Int64(r.stat.gid), width: groupW)
            line.append(byte: 0x20)
            if isDevice(r.stat) {
                line.pad(sizeW - (majorW + 2 + minorW))
                line.decimal(Int64(major(r.stat.rdev)), width: majorW)
                line.append(", ")
                line.decimal(Int64(minor(r.stat.rdev)), width: minorW)
            } else {
                line.decimal(r.stat.size, width: sizeW)
            }
            line.append(byte: 0x20)
            line.append(date(r.stat.mtime))
            line.append(byte: 0x20)
            line.append(bytes: r.name)
            if let link = r.link { line.append(" -> "); line.append(bytes: link) }
            line.append(byte: 0x0A)
        }
        return line.bytes
    }
}
