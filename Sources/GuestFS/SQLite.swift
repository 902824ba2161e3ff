// A small read-only reader of the SQLite 3 file format, enough to list the rows of one table (the
// rpm database of RHEL 9 / Fedora 33+ is an SQLite file whose Packages table holds header blobs).
// Only table b-trees are walked: interior and leaf pages, overflow chains, records with varints.
// Every page number, offset and length comes from an untrusted image and is checked before use;
// page visits are bounded by the page count, so loops and cycles end in an error.
// A write-ahead log, when given, is applied as SQLite would on opening: the pages of its last
// committed transaction whose frames carry the header's salts and a valid checksum chain win over
// the main file's (a guest copied while running often has them). UTF-16 text is not supported.

public enum SQLiteValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

public struct SQLiteRow: Sendable, Equatable {
    public var rowid: Int64
    public var values: [SQLiteValue]
}

public struct SQLiteDatabase: Sendable {
    public let bytes: [UInt8]
    public let pageSize: Int
    /// Page size minus the per-page reserved bytes.
    public let usableSize: Int
    public private(set) var pageCount: Int
    /// Committed write-ahead-log pages: page number -> offset of the page's bytes in `wal`.
    private var walPages: [Int: Int] = [:]
    private var wal: [UInt8] = []

    /// Largest record accepted (rpm headers are a few hundred KiB at most).
    static let maxPayload = 64 << 20
    static let maxDepth = 64

    /// `wal` is the "-wal" file's contents, if there is one.
    public init(bytes: [UInt8], wal: [UInt8]? = nil) throws(GuestFSError) {
        guard bytes.count >= 100, bytes[0..<16].elementsEqual(Array("SQLite format 3".utf8) + [0]) else {
            throw GuestFSError("sqlite: not an SQLite 3 database (bad magic)")
        }
        let raw = Int(bytes.sqlBE16(16))
        let pageSize = raw == 1 ? 65536 : raw
        guard pageSize >= 512, pageSize <= 65536, pageSize & (pageSize - 1) == 0 else {
            throw GuestFSError("sqlite: page size \(raw) is not a power of two between 512 and 65536")
        }
        let reserved = Int(bytes[20])
        guard pageSize - reserved >= 480 else { throw GuestFSError("sqlite: \(reserved) reserved bytes per page leave too little room") }
        guard bytes.sqlBE32(56) <= 1 else {
            throw GuestFSError("sqlite: text encoding \(bytes.sqlBE32(56)) (UTF-16) is not supported")
        }
        self.bytes = bytes
        self.pageSize = pageSize
        self.usableSize = pageSize - reserved
        // The header's page count is only valid when the "version valid for" number matches the
        // change counter; otherwise the file size decides, as SQLite does.
        let fromFile = bytes.count / pageSize
        let inHeader = Int(bytes.sqlBE32(28))
        pageCount = inHeader > 0 && bytes.sqlBE32(92) == bytes.sqlBE32(24) ? min(inHeader, fromFile) : fromFile
        if let wal { applyLog(wal) }
        guard pageCount >= 1 else { throw GuestFSError("sqlite: file shorter than one page") }
    }

    /// Indexes the frames of the log's last complete transaction. A log for another page size, with
    /// a bad header or checksum, ends (or never starts) the valid part, as SQLite's recovery does.
    private mutating func applyLog(_ w: [UInt8]) {
        guard w.count >= 32 else { return }
        let magic = w.sqlBE32(0)
        guard magic == 0x377F_0682 || magic == 0x377F_0683, w.sqlBE32(4) == 3_007_000,
              Int(w.sqlBE32(8)) == pageSize || (w.sqlBE32(8) == 1 && pageSize == 65536) else { return }
        let bigEndian = magic & 1 == 1
        var sum = Self.walChecksum(w[0..<24], bigEndian: bigEndian, seed: (0, 0))
        guard sum == (w.sqlBE32(24), w.sqlBE32(28)) else { return }
        let salts = (w.sqlBE32(16), w.sqlBE32(20))
        var pending: [Int: Int] = [:]
        var offset = 32
        let frame = 24 + pageSize
        while frame <= w.count - offset {
            let page = Int(w.sqlBE32(offset)), commitSize = Int(w.sqlBE32(offset + 4))
            guard page >= 1, (w.sqlBE32(offset + 8), w.sqlBE32(offset + 12)) == salts else { break }
            sum = Self.walChecksum(w[offset..<(offset + 8)], bigEndian: bigEndian, seed: sum)
            sum = Self.walChecksum(w[(offset + 24)..<(offset + frame)], bigEndian: bigEndian, seed: sum)
            guard sum == (w.sqlBE32(offset + 16), w.sqlBE32(offset + 20)) else { break }
            pending[page] = offset + 24
            if commitSize > 0 {
                walPages.merge(pending) { $1 }
                pending = [:]
                pageCount = commitSize
            }
            offset += frame
        }
        // Pages past the committed size, or past the main file, must all come from the log.
        walPages = walPages.filter { $0.key <= pageCount }
        if !walPages.isEmpty { wal = w }
        let fromFile = bytes.count / pageSize
        if pageCount > fromFile, !(fromFile + 1...pageCount).allSatisfy({ walPages[$0] != nil }) {
            pageCount = fromFile
        }
    }

    /// SQLite's WAL checksum: pairs of 32-bit words, each sum feeding the other.
    static func walChecksum(_ d: ArraySlice<UInt8>, bigEndian: Bool, seed: (UInt32, UInt32)) -> (UInt32, UInt32) {
        var (s0, s1) = seed
        var i = d.startIndex
        func word(_ at: Int) -> UInt32 {
            bigEndian ? UInt32(d[at]) << 24 | UInt32(d[at + 1]) << 16 | UInt32(d[at + 2]) << 8 | UInt32(d[at + 3])
                : UInt32(d[at + 3]) << 24 | UInt32(d[at + 2]) << 16 | UInt32(d[at + 1]) << 8 | UInt32(d[at])
        }
        while i + 8 <= d.endIndex {
            s0 = s0 &+ word(i) &+ s1
            s1 = s1 &+ word(i + 4) &+ s0
            i += 8
        }
        return (s0, s1)
    }

    /// The schema table's rows: (type, name, tbl_name, rootpage, sql).
    public func schema() throws(GuestFSError) -> [(type: String, name: String, rootPage: Int, sql: String)] {
        try rows(rootPage: 1).compactMap { row in
            guard row.values.count >= 5, case .text(let type) = row.values[0], case .text(let name) = row.values[1] else { return nil }
            var root = 0
            if case .integer(let r) = row.values[3], r > 0, r <= Int64(pageCount) { root = Int(r) }
            var sql = ""
            if case .text(let s) = row.values[4] { sql = s }
            return (type, name, root, sql)
        }
    }

    /// Every row of table `name` (matched case-insensitively, as SQL names are), in rowid order.
    public func rows(ofTable name: String) throws(GuestFSError) -> [SQLiteRow] {
        guard let table = try schema().first(where: { $0.type == "table" && $0.name.lowercased() == name.lowercased() }) else {
            throw GuestFSError("sqlite: no table \(name)")
        }
        guard table.rootPage >= 1 else { throw GuestFSError("sqlite: table \(name) has no valid root page") }
        return try rows(rootPage: table.rootPage)
    }

    /// Rows of the table b-tree rooted at `rootPage`.
    public func rows(rootPage: Int) throws(GuestFSError) -> [SQLiteRow] {
        var out: [SQLiteRow] = []
        var visited = Set<Int>()
        try walk(page: rootPage, depth: 0, visited: &visited, into: &out)
        return out
    }

    private func page(_ number: Int) throws(GuestFSError) -> ArraySlice<UInt8> {
        guard number >= 1, number <= pageCount else {
            throw GuestFSError("sqlite: page \(number) outside the \(pageCount)-page file")
        }
        if let at = walPages[number] { return wal[at..<(at + pageSize)] }
        let start = (number - 1) * pageSize
        guard start + pageSize <= bytes.count else { throw GuestFSError("sqlite: page \(number) is missing from the file") }
        return bytes[start..<(start + pageSize)]
    }

    private func walk(page number: Int, depth: Int, visited: inout Set<Int>, into out: inout [SQLiteRow]) throws(GuestFSError) {
        guard depth < Self.maxDepth else { throw GuestFSError("sqlite: b-tree deeper than \(Self.maxDepth) levels") }
        guard visited.insert(number).inserted else { throw GuestFSError("sqlite: page \(number) is reached twice (b-tree loop)") }
        let p = Array(try page(number))
        // Page 1 starts with the 100-byte file header; its b-tree header follows.
        let h = number == 1 ? 100 : 0
        let kind = p[h]
        let interior: Bool
        switch kind {
        case 5: interior = true
        case 13: interior = false
        default: throw GuestFSError("sqlite: page \(number) has type \(kind), not a table b-tree page")
        }
        let cells = Int(p.sqlBE16(h + 3))
        let pointers = h + (interior ? 12 : 8)
        guard pointers + 2 * cells <= usableSize else {
            throw GuestFSError("sqlite: page \(number): \(cells) cell pointers overflow the page")
        }
        for i in 0..<cells {
            let offset = Int(p.sqlBE16(pointers + 2 * i))
            guard offset >= pointers + 2 * cells, offset < usableSize else {
                throw GuestFSError("sqlite: page \(number): cell \(i) at \(offset) lies outside the cell area")
            }
            if interior {
                guard offset + 4 <= usableSize else { throw GuestFSError("sqlite: page \(number): truncated interior cell") }
                try walk(page: Int(p.sqlBE32(offset)), depth: depth + 1, visited: &visited, into: &out)
            } else {
                out.append(try leafCell(p, at: offset, page: number, visited: &visited))
            }
        }
        if interior {
            try walk(page: Int(p.sqlBE32(h + 8)), depth: depth + 1, visited: &visited, into: &out)
        }
    }

    private func leafCell(_ p: [UInt8], at start: Int, page number: Int, visited: inout Set<Int>) throws(GuestFSError) -> SQLiteRow {
        var pos = start
        guard let (size, n1) = Self.varint(p, pos, limit: usableSize) else { throw GuestFSError("sqlite: page \(number): bad payload size") }
        pos += n1
        guard let (rowid, n2) = Self.varint(p, pos, limit: usableSize) else { throw GuestFSError("sqlite: page \(number): bad rowid") }
        pos += n2
        guard size <= UInt64(Self.maxPayload) else {
            throw GuestFSError("sqlite: page \(number): record of \(size) bytes exceeds the \(Self.maxPayload)-byte limit")
        }
        let payloadSize = Int(size)
        // How much of the payload sits on this page (SQLite's rule for table leaves).
        let u = usableSize
        let maxLocal = u - 35
        var local = payloadSize
        if payloadSize > maxLocal {
            let minLocal = (u - 12) * 32 / 255 - 23
            let k = minLocal + (payloadSize - minLocal) % (u - 4)
            local = k <= maxLocal ? k : minLocal
        }
        guard pos + local <= u else { throw GuestFSError("sqlite: page \(number): record runs past the page") }
        var payload = Array(p[pos..<(pos + local)])
        if local < payloadSize {
            guard pos + local + 4 <= u else { throw GuestFSError("sqlite: page \(number): missing overflow pointer") }
            var next = Int(p.sqlBE32(pos + local))
            payload.reserveCapacity(payloadSize)
            while payload.count < payloadSize {
                guard visited.insert(next).inserted else {
                    throw GuestFSError("sqlite: overflow page \(next) is reached twice")
                }
                let o = try page(next)
                let take = min(u - 4, payloadSize - payload.count)
                payload += o[(o.startIndex + 4)..<(o.startIndex + 4 + take)]
                next = Int(Array(o[o.startIndex..<(o.startIndex + 4)]).sqlBE32(0))
            }
        }
        return SQLiteRow(rowid: Int64(bitPattern: rowid), values: try Self.record(payload))
    }

    /// Decodes a record: a header of serial types, then the values.
    static func record(_ r: [UInt8]) throws(GuestFSError) -> [SQLiteValue] {
        guard let (hsize, n) = varint(r, 0, limit: r.count), hsize >= UInt64(n), hsize <= UInt64(r.count) else {
            throw GuestFSError("sqlite: record header size out of range")
        }
        var types: [UInt64] = []
        var pos = n
        while pos < Int(hsize) {
            guard let (t, m) = varint(r, pos, limit: Int(hsize)) else { throw GuestFSError("sqlite: bad serial type") }
            types.append(t)
            pos += m
        }
        var body = Int(hsize)
        var values: [SQLiteValue] = []
        values.reserveCapacity(types.count)
        for t in types {
            let len: Int
            switch t {
            case 0, 8, 9: len = 0
            case 1, 2, 3, 4: len = Int(t)
            case 5: len = 6
            case 6, 7: len = 8
            case 10, 11: throw GuestFSError("sqlite: reserved serial type \(t)")
            default:
                guard t <= UInt64(maxPayload) * 2 + 13 else { throw GuestFSError("sqlite: value length out of range") }
                len = Int((t - 12) / 2)
            }
            guard len <= r.count - body else { throw GuestFSError("sqlite: record value runs past its record") }
            let v = r[body..<(body + len)]
            switch t {
            case 0: values.append(.null)
            case 8: values.append(.integer(0))
            case 9: values.append(.integer(1))
            case 1...6:
                // Big-endian two's complement of 1, 2, 3, 4, 6 or 8 bytes.
                var x: Int64 = (v.first ?? 0) & 0x80 != 0 ? -1 : 0
                for b in v { x = (x << 8) | Int64(b) }
                values.append(.integer(x))
            case 7:
                var x: UInt64 = 0
                for b in v { x = (x << 8) | UInt64(b) }
                values.append(.real(Double(bitPattern: x)))
            default:
                values.append(t & 1 == 0 ? .blob(Array(v)) : .text(String(decoding: v, as: UTF8.self)))
            }
            body += len
        }
        return values
    }

    /// SQLite's varint: up to 9 bytes, 7 bits each, the ninth contributing all 8 bits.
    static func varint(_ b: [UInt8], _ offset: Int, limit: Int) -> (UInt64, Int)? {
        var x: UInt64 = 0
        for i in 0..<9 {
            let at = offset + i
            guard at >= 0, at < limit, at < b.count else { return nil }
            let byte = b[at]
            if i == 8 { return ((x << 8) | UInt64(byte), 9) }
            x = (x << 7) | UInt64(byte & 0x7F)
            if byte & 0x80 == 0 { return (x, i + 1) }
        }
        return nil
    }
}

fileprivate extension Array where Element == UInt8 {
    /// Bounds-checked big-endian reads (0 when out of range), for SQLite and rpm headers.
    func sqlBE16(_ offset: Int) -> UInt16 {
        guard offset >= 0, offset &+ 2 <= count else { return 0 }
        return UInt16(self[offset]) << 8 | UInt16(self[offset + 1])
    }

    func sqlBE32(_ offset: Int) -> UInt32 {
        guard offset >= 0, offset &+ 4 <= count else { return 0 }
        return UInt32(self[offset]) << 24 | UInt32(self[offset + 1]) << 16
            | UInt32(self[offset + 2]) << 8 | UInt32(self[offset + 3])
    }
}
