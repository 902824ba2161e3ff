import CZlib
import Foundation

// What file(1) says about a file, for libguestfs's `file` call (which runs `file -zb` in its
// appliance): file kinds, ELF headers, gzip (looked inside, as -z does), a few other compressed
// formats, shell scripts, text encodings and line terminators, MBR boot sectors, else "data".
// Everything read is bounded: at most `headLimit` bytes of the file, and for ELF only the header
// tables, each size-checked before it is read.

public enum FileMagic {
    /// How much of a file is examined, and how much of a gzip stream is inflated to look inside.
    public static let headLimit = 1 << 20

    /// `file -zb PATH` for a path in the guest (symlinks are not followed, as libguestfs lstats first).
    public static func describe(_ vfs: VFS, _ path: String) throws(GuestFSError) -> String {
        let node = try vfs.resolve(path, followLast: false)
        let fs = vfs.mounts[node.mount].filesystem
        let st = try fs.stat(node.inode)
        switch st.type {
        case .directory: return "directory"
        case .characterDevice: return "character device"
        case .blockDevice: return "block device"
        case .fifo: return "FIFO"
        case .symlink: return "symbolic link"
        case .socket: return "socket"
        case .regular, .unknown: break
        }
        let body = try describe(size: st.size) { (offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] in
            try fs.read(node.inode, at: offset, count: count)
        }
        // file(1) names the special permission bits first, in this odd spacing ("setuid , ASCII text").
        let special = [(0o4000, "setuid"), (0o2000, "setgid"), (0o1000, "sticky")].filter { st.mode & UInt32($0.0) != 0 }
        return special.isEmpty ? body : special.map(\.1).joined(separator: ", ") + " , " + body
    }

    /// `file -zb` for contents of `size` bytes read through `read` (a regular file or a device).
    public static func describe(size: UInt64, read: (UInt64, Int) throws(GuestFSError) -> [UInt8]) throws(GuestFSError) -> String {
        if size == 0 { return "empty" }
        let head = try read(0, Int(min(size, UInt64(headLimit))))
        if head.starts(with: [0x7F, 0x45, 0x4C, 0x46]), let elf = try ELF.describe(size: size, head: head, read: read) {
            return elf
        }
        if head.count >= 18, head[0] == 0x1F, head[1] == 0x8B, head[2] == 8 {
            return gzip(head)
        }
        return describeBytes(head, device: false)
    }

    /// Formats recognised from the first bytes alone, then text, then "data".
    static func describeBytes(_ b: [UInt8], device: Bool) -> String {
        if b.isEmpty { return "empty" }
        if b.starts(with: Array("BZh".utf8)), b.count >= 4, (0x31...0x39).contains(b[3]) {
            return "bzip2 compressed data, block size = \(b[3] - 0x30)00k"
        }
        if b.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) {
            let check = b.byte(7) & 0x0F
            let names: [UInt8: String] = [0: "no check", 1: "CRC32", 4: "CRC64", 10: "SHA-256"]
            return "XZ compressed data, checksum " + (names[check] ?? "unknown")
        }
        if b.starts(with: [0x28, 0xB5, 0x2F, 0xFD]) {
            return "Zstandard compressed data (v0.8+), Dictionary ID: None"
        }
        if b.starts(with: [0x7F, 0x45, 0x4C, 0x46]), let elf = ELF.header(b) { return elf }
        if b.starts(with: Array("!<arch>\n".utf8)) { return "current ar archive" }
        for (marker, name) in pemKinds where b.starts(with: Array(marker.utf8)) { return name }
        if let ext = extDescription(b) { return ext }
        if b.count >= 512, b[510] == 0x55, b[511] == 0xAA,
           b[54..<57].elementsEqual("FAT".utf8) || b[82..<87].elementsEqual("FAT32".utf8) {
            return "DOS/MBR boot sector"   // file(1) goes on with the FAT boot record's fields
        }
        if let mbr = mbrDescription(b) { return mbr }
        return text(b)
    }

    static let pemKinds = [("-----BEGIN CERTIFICATE-----", "PEM certificate"),
                           ("-----BEGIN CERTIFICATE REQUEST-----", "PEM certificate request"),
                           ("-----BEGIN RSA PRIVATE KEY-----", "PEM RSA private key"),
                           ("-----BEGIN OPENSSH PRIVATE KEY-----", "OpenSSH private key")]

    /// Strings taken from the file, as file(1) prints them: non-printable bytes as \ooo escapes.
    static func printable(_ bytes: some Sequence<UInt8>) -> String {
        var s = ""
        for b in bytes {
            if (0x20...0x7E).contains(b) { s.unicodeScalars.append(UnicodeScalar(b)) } else {
                let o = String(b, radix: 8)
                s += "\\" + String(repeating: "0", count: 3 - o.count) + o
            }
        }
        return s
    }

    // MARK: Text

    /// file's ascmagic: the encoding, then script interpreters, then line-terminator notes.
    static func text(_ b: [UInt8]) -> String {
        var utf8BOM = false
        var body = b[...]
        if b.starts(with: [0xEF, 0xBB, 0xBF]) { utf8BOM = true; body = b[3...] }
        let encoding: String
        if body.allSatisfy(isASCIIText) && !utf8BOM {
            encoding = "ASCII"
        } else if validUTF8Text(body) == true || utf8BOM && validUTF8Text(body) != false {
            encoding = utf8BOM ? "Unicode text, UTF-8 (with BOM)" : "Unicode text, UTF-8"
        } else if body.allSatisfy({ isASCIIText($0) || $0 >= 0xA0 }) {
            encoding = "ISO-8859"
        } else if body.allSatisfy({ isASCIIText($0) || $0 >= 0x80 }) {
            encoding = "Non-ISO extended-ASCII"
        } else {
            return "data"
        }
        var (lf, cr, crlf, longest, current) = (0, 0, 0, 0, 0)
        var escapes = false, overstrike = false
        var i = body.startIndex
        while i < body.endIndex {
            let c = body[i]
            if c == 0x0A {
                lf += 1; longest = max(longest, current); current = 0
            } else if c == 0x0D {
                if i + 1 < body.endIndex, body[i + 1] == 0x0A { crlf += 1; i += 1 } else { cr += 1 }
                longest = max(longest, current); current = 0
            } else {
                current += 1
                if c == 0x1B { escapes = true }
                if c == 0x08 { overstrike = true }
            }
            i += 1
        }
        longest = max(longest, current)
        var s = encoding + " text"
        if let script = scriptKind(body) { s = script + ", " + s + " executable" }
        if longest > 300 { s += ", with very long lines (\(longest))" }
        if lf == 0 && cr == 0 && crlf == 0 {
            s += ", with no line terminators"
        } else {
            var kinds: [String] = []
            if crlf > 0 { kinds.append("CRLF") }
            if cr > 0 { kinds.append("CR") }
            if lf > 0 && !kinds.isEmpty { kinds.append("LF") }
            if !kinds.isEmpty { s += ", with " + kinds.joined(separator: ", ") + " line terminators" }
        }
        if escapes { s += ", with escape sequences" }
        if overstrike { s += ", with overstriking" }
        return s
    }

    /// file's "text characters": BEL..CR, ESC and printable ASCII.
    static func isASCIIText(_ c: UInt8) -> Bool {
        (0x07...0x0D).contains(c) || c == 0x1B || (0x20...0x7E).contains(c)
    }

    /// false when not UTF-8 text, true when it is with at least one multibyte sequence, nil when
    /// it is plain ASCII text. The head may end inside a sequence, which is not held against it.
    static func validUTF8Text(_ b: ArraySlice<UInt8>) -> Bool? {
        var i = b.startIndex
        var multibyte = false
        while i < b.endIndex {
            let c = b[i]
            if c < 0x80 {
                guard isASCIIText(c) else { return false }
                i += 1
                continue
            }
            let n: Int
            switch c {
            case 0xC2...0xDF: n = 1
            case 0xE0...0xEF: n = 2
            case 0xF0...0xF4: n = 3
            default: return false
            }
            // A sequence cut off by the end of the head is not held against the text.
            for k in 1...n where i + k < b.endIndex {
                guard b[i + k] & 0xC0 == 0x80 else { return false }
            }
            multibyte = true
            i += n + 1
        }
        return multibyte ? true : nil
    }

    /// "#!" interpreters file(1) names.
    static func scriptKind(_ b: ArraySlice<UInt8>) -> String? {
        guard b.starts(with: [0x23, 0x21]) else { return nil }
        let line = b.prefix(while: { $0 != 0x0A && $0 != 0x0D }).dropFirst(2)
        let words = String(decoding: line, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard var interp = words.first else { return nil }
        if interp.hasSuffix("/env"), words.count > 1 { interp = words[1] }
        let name = interp.split(separator: "/").last.map(String.init) ?? interp
        switch name {
        case "sh": return "POSIX shell script"
        case "bash": return "Bourne-Again shell script"
        case "zsh": return "Paul Falstad's zsh script"
        case "dash", "ash": return "POSIX shell script"
        case "perl": return "Perl script"
        case "ruby": return "Ruby script"
        case "awk", "gawk": return "awk or perl script"
        default:
            if name.hasPrefix("python") { return "Python script" }
            return "a \(printable(words.joined(separator: " ").utf8)) script"
        }
    }

    // MARK: gzip

    /// "INNER (gzip compressed data, ...)" as `file -z` prints it; without the inner part when the
    /// stream does not inflate.
    static func gzip(_ b: [UInt8]) -> String {
        let flags = b[3]
        var attrs: [String] = []
        var pos = 10
        if flags & 0x04 != 0 { pos += 2 + Int(b.le16(10)) }
        if flags & 0x08 != 0 {
            let start = pos
            while pos < b.count, b[pos] != 0 { pos += 1 }
            attrs.append("was \"\(printable(b.bytes(start, min(pos - start, 256))))\"")
            pos += 1
        }
        if flags & 0x10 != 0 {
            while pos < b.count, b[pos] != 0 { pos += 1 }
            pos += 1
        }
        if flags & 0x02 != 0 { pos += 2 }
        let mtime = b.le32(4)
        if mtime != 0 { attrs.append("last modified: " + ctime(Int64(mtime))) }
        switch b[8] {
        case 2: attrs.append("max compression")
        case 4: attrs.append("max speed")
        default: break
        }
        let systems = ["MS-DOS", "Amiga", "VMS", "Unix", "VM/CMS", "Atari", "OS/2", "MacOS", "ZSystem",
                       "CP/M", "TOPS/20", "NTFS", "QDOS", "Acorn RISCOS"]
        if Int(b[9]) < systems.count { attrs.append("from " + systems[Int(b[9])]) }
        let outer = "gzip compressed data" + (attrs.isEmpty ? "" : ", " + attrs.joined(separator: ", "))
        guard pos < b.count, let inner = inflatePrefix(Array(b[pos...])), !inner.isEmpty else { return outer }
        return describeBytes(inner, device: false) + " (\(outer))"
    }

    /// Inflates raw deflate data up to `headLimit` bytes; nil when the data is not deflate.
    static func inflatePrefix(_ input: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        guard corral_inflate_init_raw(&stream) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: headLimit)
        var input = input
        let (status, produced) = input.withUnsafeMutableBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = uInt(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = uInt(outBuf.count)
                let status = inflate(&stream, Z_SYNC_FLUSH)
                return (status, outBuf.count - Int(stream.avail_out))
            }
        }
        // A truncated head (the stream continues past what was read) still yields a valid prefix.
        guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else { return nil }
        return Array(output[0..<produced])
    }

    /// `Fri Mar  1 12:34:56 2024` in UTC, as ctime(3) in the appliance.
    static func ctime(_ seconds: Int64) -> String {
        var t = time_t(seconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let day = tm.tm_mday < 10 ? " \(tm.tm_mday)" : "\(tm.tm_mday)"
        return "\(days[Int(tm.tm_wday) % 7]) \(months[Int(tm.tm_mon) % 12]) \(day) \(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) \(Int(tm.tm_year) + 1900)"
    }

    // MARK: Boot sectors and superblocks

    /// "Linux rev 1.0 ext4 filesystem data, UUID=..., volume name "..." (extents) ...".
    static func extDescription(_ b: [UInt8]) -> String? {
        guard b.count >= 2048, b.le16(0x438) == Ext4Superblock.magic,
              let sb = try? Ext4Superblock(Array(b[1024..<2048])) else { return nil }
        var s = "Linux rev \(b.le32(0x44C)).\(b.le16(0x43E)) \(sb.kind) filesystem data"
        if let uuid = sb.uuidString { s += ", UUID=" + uuid }
        if let label = sb.label, !label.isEmpty { s += ", volume name \"\(printable(label.utf8))\"" }
        let incompat = b.le32(0x460), roCompat = b.le32(0x464)
        if incompat & 0x4 != 0 { s += " (needs journal recovery)" }
        if b.le16(0x43A) & 0x2 != 0 { s += " (errors)" }
        if incompat & 0x1 != 0 { s += " (compressed)" }
        if incompat & 0x40 != 0 { s += " (extents)" }
        if incompat & 0x80 != 0 { s += " (64bit)" }
        if roCompat & 0x2 != 0 { s += " (large files)" }
        if roCompat & 0x8 != 0 { s += " (huge files)" }
        return s
    }

    /// "DOS/MBR boot sector; partition 1 : ID=0x83, active, start-CHS (...), ..." for a boot
    /// sector with a partition table and no recognised boot loader.
    static func mbrDescription(_ b: [UInt8]) -> String? {
        guard b.count >= 512, b[510] == 0x55, b[511] == 0xAA else { return nil }
        var parts: [String] = []
        for i in 0..<4 {
            let e = 446 + 16 * i
            let status = b[e], type = b[e + 4]
            guard status & 0x7F == 0 else { return nil }   // not a partition table: some other boot sector
            if type == 0 { continue }
            func chs(_ o: Int) -> String {
                let head = b[o], sector = b[o + 1] & 0x3F
                let cylinder = Int(b[o + 1] & 0xC0) << 2 | Int(b[o + 2])
                return "(0x\(String(cylinder, radix: 16)),\(head),\(sector))"
            }
            var s = "partition \(i + 1) : ID=0x\(String(type, radix: 16))"
            if status == 0x80 { s += ", active" }
            s += ", start-CHS \(chs(e + 1)), end-CHS \(chs(e + 5)), startsector \(b.le32(e + 8)), \(b.le32(e + 12)) sectors"
            parts.append(s)
        }
        guard !parts.isEmpty else { return nil }
        return (["DOS/MBR boot sector"] + parts).joined(separator: "; ")
    }
}
