// ISO 9660 (ECMA-119) directory records and the System Use Sharing Protocol / Rock Ridge entries
// inside them, decoded as Linux's isofs driver decodes them (fs/isofs/{inode,dir,rock,util,joliet}.c
// with default mount options). Every length and location read here is checked before use.

/// One directory record as stored: 33 fixed bytes, the identifier, then the system use area.
struct ISORecord {
    /// Byte offset of the record on the device; `position >> 5` is its Linux inode number.
    let position: UInt64
    let length: Int
    /// First block of the data (the extended attribute record, when present, is skipped).
    let extent: UInt64
    let dataLength: UInt64
    let date: [UInt8]
    let flags: UInt8
    let fileUnitSize: UInt8
    let interleaveGap: UInt8
    let identifier: [UInt8]
    let systemUse: [UInt8]

    static let flagDirectory: UInt8 = 0x02
    static let flagAssociated: UInt8 = 0x04
    static let flagMultiExtent: UInt8 = 0x80

    var isDirectory: Bool { flags & Self.flagDirectory != 0 }
    var isMultiExtent: Bool { flags & Self.flagMultiExtent != 0 }
    var isDot: Bool { identifier == [0] }
    var isDotDot: Bool { identifier == [1] }
    var inode: UInt64 { position >> 5 }

    /// Parses the record at `at` in `sector` (one logical block at byte `sectorPosition`), or nil
    /// for the zero padding that ends a block's records. Records never cross a block boundary.
    init?(sector: [UInt8], at p: Int, sectorPosition: UInt64) throws(GuestFSError) {
        guard p < sector.count, sector[p] != 0 else { return nil }
        let len = Int(sector[p])
        let nameLen = Int(sector.byte(p + 32))
        guard len >= 34, p + len <= sector.count, nameLen >= 1, 33 + nameLen <= len else {
            throw GuestFSError("iso9660: directory record at byte \(sectorPosition + UInt64(p)): length \(len), name length \(nameLen) do not fit its block")
        }
        position = sectorPosition + UInt64(p)
        length = len
        extent = UInt64(sector.le32(p + 2)) + UInt64(sector[p + 1])
        dataLength = UInt64(sector.le32(p + 10))
        date = Array(sector[(p + 18)..<(p + 25)])
        flags = sector[p + 25]
        fileUnitSize = sector[p + 26]
        interleaveGap = sector[p + 27]
        identifier = Array(sector[(p + 33)..<(p + 33 + nameLen)])
        // The system use area starts at an even offset (a pad byte follows an even-length name).
        let su = (33 + nameLen + 1) & ~1
        systemUse = su < len ? Array(sector[(p + su)..<(p + len)]) : []
    }

    /// Linux "map=normal": lower case, a trailing ";1" or ".;1" dropped, other ';' (and '/') as '.',
    /// cut at a NUL.
    var mappedName: [UInt8] {
        var out: [UInt8] = []
        let n = identifier.count
        for (i, c0) in identifier.enumerated() {
            var c = c0
            if c == 0 { break }
            if c >= 0x41 && c <= 0x5A { c |= 0x20 }
            if c == 0x2E && i == n - 3 && identifier[i + 1] == 0x3B && identifier[i + 2] == 0x31 { break }
            if c == 0x3B && i == n - 2 && identifier[i + 1] == 0x31 { break }
            if c == 0x3B || c == 0x2F { c = 0x2E }
            out.append(c)
        }
        return out
    }

    /// A Joliet identifier (UCS-2/UTF-16 big-endian) as UTF-8, ";1" and trailing dots dropped.
    var jolietName: [UInt8] {
        var units: [UInt16] = []
        var i = 0
        while i + 1 < identifier.count {
            let u = UInt16(identifier[i]) << 8 | UInt16(identifier[i + 1])
            if u == 0 { break }
            units.append(u)
            i += 2
        }
        var out: [UInt8] = []
        // Unpaired surrogates are dropped, as Linux's utf16s_to_utf8s does.
        for scalar in UnicodeScalarSequence(units) { out.append(contentsOf: Array(String(scalar).utf8)) }
        if out.count > 2, out[out.count - 2] == 0x3B, out[out.count - 1] == 0x31 { out.removeLast(2) }
        while out.count >= 2, out.last == 0x2E { out.removeLast() }
        return out
    }
}

/// UTF-16 code units to scalars, skipping unpaired surrogates.
private struct UnicodeScalarSequence: Sequence, IteratorProtocol {
    var units: [UInt16]
    var index = 0
    init(_ units: [UInt16]) { self.units = units }
    mutating func next() -> Unicode.Scalar? {
        while index < units.count {
            let u = units[index]
            index += 1
            if u < 0xD800 || u > 0xDFFF { return Unicode.Scalar(u) }
            if u <= 0xDBFF, index < units.count, units[index] >= 0xDC00, units[index] <= 0xDFFF {
                let v = 0x10000 + ((UInt32(u) - 0xD800) << 10) + (UInt32(units[index]) - 0xDC00)
                index += 1
                if let s = Unicode.Scalar(v) { return s }
            }
        }
        return nil
    }
}

/// What the SUSP/Rock Ridge entries of one record say; nil fields were absent.
struct RockRidgeInfo {
    var mode: UInt32?
    var nlink: UInt32?
    var uid: UInt32?
    var gid: UInt32?
    /// Linux's kernel-internal dev_t (major << 20 | minor).
    var device: UInt32?
    var name: [UInt8]?
    var symlink: [UInt8]?
    var ctime: FileTime?
    var mtime: FileTime?
    var atime: FileTime?
    /// CL: the block of the relocated directory this placeholder stands for.
    var childLink: UInt64?
    /// PL: in a relocated directory's "..", the block of its real parent.
    var parentLink: UInt64?
    /// RE: this record is the relocated directory itself, hidden from its technical parent.
    var relocated = false
    /// SP: the skip count (bytes to skip in every later system use area).
    var spSkip: Int?
    /// ER: an extension reference, which switches Linux to Rock Ridge.
    var hasExtensionReference = false
    /// ZF with algorithm "pz": zisofs compression.
    var zisofs: Zisofs?

    struct Zisofs {
        /// Bytes before the block pointer table.
        var headerSize: Int
        /// log2 of the uncompressed block size.
        var blockShift: Int
        var size: UInt64
    }
}

enum ISODate {
    /// Linux's mktime64: plain arithmetic that accepts any field values, as the kernel does.
    static func mktime(year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64) -> Int64 {
        var mon = month - 2, y = year
        if mon <= 0 { mon += 12; y -= 1 }
        let days = y / 4 - y / 100 + y / 400 + 367 * mon / 12 + day + y * 365 - 719_499
        return ((days * 24 + hour) * 60 + minute) * 60 + second
    }

    /// The 7-byte form (years since 1900, month, day, hour, minute, second, GMT offset in 15-minute
    /// units). Offsets beyond ±13 hours are ignored, as Linux does.
    static func short(_ b: [UInt8]) -> FileTime {
        guard b.count >= 7 else { return FileTime(seconds: 0) }
        var t = mktime(year: 1900 + Int64(b[0]), month: Int64(b[1]), day: Int64(b[2]),
                       hour: Int64(b[3]), minute: Int64(b[4]), second: Int64(b[5]))
        let tz = Int64(Int8(bitPattern: b[6]))
        if tz >= -52 && tz <= 52 { t -= tz * 15 * 60 }
        return FileTime(seconds: t)
    }

    /// The 17-byte form ("YYYYMMDDhhmmsscc" digits and a GMT offset); nil when unset or not digits.
    static func long(_ b: [UInt8]) -> FileTime? {
        guard b.count >= 17, b[0..<16].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        func num(_ at: Int, _ n: Int) -> Int64 { b[at..<(at + n)].reduce(0) { $0 * 10 + Int64($1 - 0x30) } }
        let year = num(0, 4)
        guard year > 0 else { return nil }
        var t = mktime(year: year, month: num(4, 2), day: num(6, 2), hour: num(8, 2), minute: num(10, 2), second: num(12, 2))
        let tz = Int64(Int8(bitPattern: b[16]))
        if tz >= -52 && tz <= 52 { t -= tz * 15 * 60 }
        return FileTime(seconds: t, nanoseconds: UInt32(num(14, 2)) * 10_000_000)
    }
}

extension ISO9660Filesystem {
    static let maxContinuations = 32  // Linux's RR_MAX_CE_ENTRIES
    static let maxSymlinkLength = 4096
    /// Linux keeps at most 253 bytes of a Rock Ridge name and ignores NM pieces past that.
    static let maxRockRidgeName = 254

    /// Minimum entry lengths, as Linux's rock_check_overflow demands; a shorter entry is corrupt.
    private static func minimumLength(_ sig: (UInt8, UInt8)) -> Int {
        switch sig {
        case (0x53, 0x50): 7    // SP
        case (0x43, 0x45): 28   // CE
        case (0x45, 0x52): 8    // ER
        case (0x50, 0x58): 36   // PX
        case (0x50, 0x4E): 20   // PN
        case (0x53, 0x4C): 5    // SL
        case (0x4E, 0x4D): 5    // NM
        case (0x43, 0x4C): 12   // CL
        case (0x50, 0x4C): 12   // PL
        case (0x54, 0x46): 5    // TF
        case (0x5A, 0x46): 16   // ZF
        default: 4
        }
    }

    /// Decodes the SUSP entries of `record`, following CE continuation areas (bounded, loop-checked).
    /// `skip` is the SP skip count (nil while reading the root's "." to find it).
    func rockRidge(_ record: ISORecord, skip: Int?) throws(GuestFSError) -> RockRidgeInfo {
        var info = RockRidgeInfo()
        var area = record.systemUse
        if let skip { area = skip < area.count ? Array(area[skip...]) : [] }
        var context = "record at byte \(record.position)"
        var continuations = 0
        var seen = Set<UInt64>()
        var nameDone = false
        var slPending = false  // a separator is owed before the next symlink component
        var sawSL = false
        while true {
            var next: (block: UInt64, offset: UInt64, length: UInt64)?
            var p = 0
            // Like Linux: an entry shorter than 4 bytes or running past the area ends the parse quietly.
            entries: while p + 4 <= area.count {
                let sig = (area[p], area[p + 1])
                let len = Int(area[p + 2])
                guard len >= 4, p + len <= area.count else { break }
                guard len >= Self.minimumLength(sig) else {
                    throw GuestFSError("iso9660: \(context): \(String(decoding: [sig.0, sig.1], as: UTF8.self)) entry of \(len) bytes is too short")
                }
                let e = Array(area[p..<(p + len)])
                p += len
                switch sig {
                case (0x53, 0x54):  // ST: end of the entries
                    break entries
                case (0x53, 0x50):
                    if e[4] == 0xBE && e[5] == 0xEF { info.spSkip = Int(e[6]) }
                case (0x43, 0x45):
                    next = (UInt64(e.le32(4)), UInt64(e.le32(12)), UInt64(e.le32(20)))
                case (0x45, 0x52):
                    let idLen = Int(e[4])
                    if 8 + idLen <= len { info.hasExtensionReference = true }
                case (0x50, 0x58):
                    info.mode = e.le32(4); info.nlink = e.le32(12); info.uid = e.le32(20); info.gid = e.le32(28)
                case (0x50, 0x4E):
                    let high = e.le32(4), low = e.le32(12)
                    // Writers disagree on where the number goes; Linux's rule for a 32-bit dev_t in "low".
                    info.device = (low & ~0xFF) != 0 && high == 0
                        ? ((low >> 8) << 20) | (low & 0xFF)
                        : (high << 20) | low
                case (0x54, 0x46):
                    let flags = e[4]
                    let width = flags & 0x80 != 0 ? 17 : 7
                    var at = 5
                    // Creation, modification, access, attribute change; creation and attribute change
                    // both land in ctime (some writers put ctime in the creation slot).
                    for bit in 0..<4 where flags & (1 << bit) != 0 {
                        guard at + width <= len else {
                            throw GuestFSError("iso9660: \(context): TF entry of \(len) bytes lacks its timestamps")
                        }
                        let raw = Array(e[at..<(at + width)])
                        let t = width == 7 ? ISODate.short(raw) : (ISODate.long(raw) ?? FileTime(seconds: 0))
                        switch bit {
                        case 1: info.mtime = t
                        case 2: info.atime = t
                        default: info.ctime = t
                        }
                        at += width
                    }
                case (0x4E, 0x4D):
                    let flags = e[4]
                    // CURRENT/PARENT name "." and ".."; other flags are unknown: both ignored, as Linux does.
                    guard !nameDone, flags & ~1 == 0 else { break }
                    var piece = Array(e[5...])
                    if let nul = piece.firstIndex(of: 0) { piece = Array(piece[..<nul]) }
                    let have = info.name?.count ?? 0
                    if have + piece.count >= Self.maxRockRidgeName { nameDone = true; break }
                    info.name = (info.name ?? []) + piece
                case (0x53, 0x4C):
                    sawSL = true
                    var target = info.symlink ?? []
                    var c = 5
                    while c < len {
                        guard c + 2 <= len else {
                            throw GuestFSError("iso9660: \(context): SL entry ends inside a component header")
                        }
                        let cflags = e[c], clen = Int(e[c + 1])
                        guard c + 2 + clen <= len else {
                            throw GuestFSError("iso9660: \(context): SL component of \(clen) bytes overruns its entry")
                        }
                        if slPending { target.append(0x2F) }
                        var root = false
                        switch cflags & ~1 {
                        case 0: target += e[(c + 2)..<(c + 2 + clen)]
                        case 2: target.append(0x2E)
                        case 4: target += [0x2E, 0x2E]
                        case 8: target.append(0x2F); root = true
                        default:
                            throw GuestFSError("iso9660: \(context): SL component flags 0x\(String(cflags, radix: 16)) are not defined")
                        }
                        // A component continued in the next one gets no separator; nor does the root.
                        slPending = cflags & 1 == 0 && !root
                        guard target.count <= Self.maxSymlinkLength else {
                            throw GuestFSError("iso9660: \(context): symlink target longer than \(Self.maxSymlinkLength) bytes")
                        }
                        c += 2 + clen
                    }
                    info.symlink = target
                case (0x43, 0x4C): info.childLink = UInt64(e.le32(4))
                case (0x50, 0x4C): info.parentLink = UInt64(e.le32(4))
                case (0x52, 0x45): info.relocated = true
                case (0x5A, 0x46):
                    // Other algorithms (zisofs2 "PZ") are unknown to Linux, which shows such files raw.
                    if e[4] == 0x70 && e[5] == 0x7A {
                        info.zisofs = RockRidgeInfo.Zisofs(headerSize: Int(e[6]) << 2, blockShift: Int(e[7]), size: UInt64(e.le32(8)))
                    }
                default: break
                }
            }
            guard let ce = next else { break }
            continuations += 1
            guard continuations <= Self.maxContinuations else {
                throw GuestFSError("iso9660: record at byte \(record.position): more than \(Self.maxContinuations) continuation areas")
            }
            // Linux requires a continuation area to lie within one block.
            guard ce.block < volumeBlocks, ce.offset < Self.blockSize, ce.length <= Self.blockSize - ce.offset else {
                throw GuestFSError("iso9660: record at byte \(record.position): continuation area of \(ce.length) bytes at block \(ce.block) + \(ce.offset) lies outside one block of the volume")
            }
            let at = ce.block * Self.blockSize + ce.offset
            guard seen.insert(at).inserted else {
                throw GuestFSError("iso9660: record at byte \(record.position): continuation areas form a loop at byte \(at)")
            }
            area = try block(ce.block).bytes(Int(ce.offset), Int(ce.length))
            context = "continuation area at byte \(at)"
        }
        if sawSL, info.symlink == nil { info.symlink = [] }
        return info
    }
}
