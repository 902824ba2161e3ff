import Foundation
import GuestFS

// Output formats guestfish gets from programs run in its appliance: `ls -la` for ll (GNU ls, C
// locale, UTC, numeric owners since the appliance has no user names), and the stat structs.

enum FishListing {
    struct Line {
        var name: [UInt8]
        var stat: FileStat
        var target: [UInt8]?
    }

    /// `ls -la` of a directory: a "total" line, then every entry (with "." and "..") in byte order.
    static func long(_ lines: [Line], now: Int64, total: Bool) -> [UInt8] {
        let sorted = lines.sorted { $0.name.lexicographicallyPrecedes($1.name) }
        var out: [UInt8] = []
        if total {
            let blocks = lines.reduce(UInt64(0)) { $0 &+ $1.stat.blocks }
            out += Array("total \((blocks + 1) / 2)\n".utf8)
        }
        func isDevice(_ s: FileStat) -> Bool { s.type == .characterDevice || s.type == .blockDevice }
        let nlinkW = sorted.map { String($0.stat.nlink).count }.max() ?? 1
        let uidW = sorted.map { String($0.stat.uid).count }.max() ?? 1
        let gidW = sorted.map { String($0.stat.gid).count }.max() ?? 1
        let majorW = sorted.filter { isDevice($0.stat) }.map { String(major($0.stat.rdev)).count }.max() ?? 0
        let minorW = sorted.filter { isDevice($0.stat) }.map { String(minor($0.stat.rdev)).count }.max() ?? 0
        var sizeW = sorted.filter { !isDevice($0.stat) }.map { String($0.stat.size).count }.max() ?? 0
        if majorW > 0 { sizeW = max(sizeW, majorW + 2 + minorW) }
        for l in sorted {
            var s = modeString(l.stat) + " " + pad(String(l.stat.nlink), nlinkW) + " "
                + pad(String(l.stat.uid), uidW) + " " + pad(String(l.stat.gid), gidW) + " "
            if isDevice(l.stat) {
                s += pad(String(major(l.stat.rdev)), majorW + max(0, sizeW - (majorW + 2 + minorW))) + ", "
                    + pad(String(minor(l.stat.rdev)), minorW)
            } else {
                s += pad(String(l.stat.size), sizeW)
            }
            s += " " + date(l.stat.mtime.seconds, now: now) + " "
            out += Array(s.utf8) + l.name
            if let t = l.target { out += Array(" -> ".utf8) + t }
            out.append(0x0A)
        }
        return out
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }

    /// Linux's new_decode_dev.
    static func major(_ rdev: UInt32) -> UInt32 { (rdev & 0xFFF00) >> 8 }
    static func minor(_ rdev: UInt32) -> UInt32 { (rdev & 0xFF) | ((rdev >> 12) & 0xFFF00) }

    /// `drwxr-xr-x`, with s/S and t/T for the special bits.
    static func modeString(_ st: FileStat) -> String {
        let kind: Character
        switch st.type {
        case .directory: kind = "d"
        case .symlink: kind = "l"
        case .characterDevice: kind = "c"
        case .blockDevice: kind = "b"
        case .fifo: kind = "p"
        case .socket: kind = "s"
        case .regular: kind = "-"
        case .unknown: kind = "?"
        }
        let m = st.mode
        func bit(_ mask: UInt32, _ c: Character) -> Character { m & mask != 0 ? c : "-" }
        func exec(_ x: UInt32, _ special: UInt32, _ on: Character, _ off: Character) -> Character {
            m & special != 0 ? (m & x != 0 ? on : off) : (m & x != 0 ? "x" : "-")
        }
        return String([kind, bit(0o400, "r"), bit(0o200, "w"), exec(0o100, 0o4000, "s", "S"),
                       bit(0o040, "r"), bit(0o020, "w"), exec(0o010, 0o2000, "s", "S"),
                       bit(0o004, "r"), bit(0o002, "w"), exec(0o001, 0o1000, "t", "T")])
    }

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// GNU ls's two formats: `Mar  1 12:34` within the last six months, else `Mar  1  2024`.
    static func date(_ seconds: Int64, now: Int64) -> String {
        var t = time_t(seconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        let day = tm.tm_mday < 10 ? " \(tm.tm_mday)" : "\(tm.tm_mday)"
        let month = months[Int(tm.tm_mon) % 12]
        let recent = seconds > now - 31_556_952 / 2 && seconds <= now
        if recent {
            func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
            return "\(month) \(day) \(two(tm.tm_hour)):\(two(tm.tm_min))"
        }
        return "\(month) \(day) " + pad(String(Int(tm.tm_year) + 1900), 5)
    }

    /// guestfish's `stat`/`lstat` (the deprecated guestfs_stat struct).
    static func stat(_ st: FileStat, dev: UInt64, blksize: UInt64) -> String {
        """
        dev: \(dev)
        ino: \(st.inode)
        mode: \(st.mode)
        nlink: \(st.nlink)
        uid: \(st.uid)
        gid: \(st.gid)
        rdev: \(st.rdev)
        size: \(st.size)
        blksize: \(blksize)
        blocks: \(st.blocks)
        atime: \(st.atime.seconds)
        mtime: \(st.mtime.seconds)
        ctime: \(st.ctime.seconds)

        """
    }

    /// guestfish's `statns`/`lstatns` (guestfs_statns, with its spare fields).
    static func statns(_ st: FileStat, dev: UInt64, blksize: UInt64) -> String {
        var s = """
        st_dev: \(dev)
        st_ino: \(st.inode)
        st_mode: \(st.mode)
        st_nlink: \(st.nlink)
        st_uid: \(st.uid)
        st_gid: \(st.gid)
        st_rdev: \(st.rdev)
        st_size: \(st.size)
        st_blksize: \(blksize)
        st_blocks: \(st.blocks)
        st_atime_sec: \(st.atime.seconds)
        st_atime_nsec: \(st.atime.nanoseconds)
        st_mtime_sec: \(st.mtime.seconds)
        st_mtime_nsec: \(st.mtime.nanoseconds)
        st_ctime_sec: \(st.ctime.seconds)
        st_ctime_nsec: \(st.ctime.nanoseconds)

        """
        for i in 1...6 { s += "st_spare\(i): 0\n" }
        return s
    }
}
