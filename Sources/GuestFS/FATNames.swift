// FAT directory entry names as Linux's vfat shows them with its defaults (codepage=437, utf8,
// shortname=mixed): 8.3 names through code page 437, lowercased where the NT case flags say so,
// long names from UTF-16 slots converted to UTF-8.

enum FATNames {
    /// Code page 437, bytes 0x80-0xFF, as Linux's nls_cp437 maps them.
    static let cp437High: [UInt16] = [
        0x00C7, 0x00FC, 0x00E9, 0x00E2, 0x00E4, 0x00E0, 0x00E5, 0x00E7, 0x00EA, 0x00EB, 0x00E8, 0x00EF,
        0x00EE, 0x00EC, 0x00C4, 0x00C5, 0x00C9, 0x00E6, 0x00C6, 0x00F4, 0x00F6, 0x00F2, 0x00FB, 0x00F9,
        0x00FF, 0x00D6, 0x00DC, 0x00A2, 0x00A3, 0x00A5, 0x20A7, 0x0192, 0x00E1, 0x00ED, 0x00F3, 0x00FA,
        0x00F1, 0x00D1, 0x00AA, 0x00BA, 0x00BF, 0x2310, 0x00AC, 0x00BD, 0x00BC, 0x00A1, 0x00AB, 0x00BB,
        0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x2561, 0x2562, 0x2556, 0x2555, 0x2563, 0x2551, 0x2557,
        0x255D, 0x255C, 0x255B, 0x2510, 0x2514, 0x2534, 0x252C, 0x251C, 0x2500, 0x253C, 0x255E, 0x255F,
        0x255A, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550, 0x256C, 0x2567, 0x2568, 0x2564, 0x2565, 0x2559,
        0x2558, 0x2552, 0x2553, 0x256B, 0x256A, 0x2518, 0x250C, 0x2588, 0x2584, 0x258C, 0x2590, 0x2580,
        0x03B1, 0x00DF, 0x0393, 0x03C0, 0x03A3, 0x03C3, 0x00B5, 0x03C4, 0x03A6, 0x0398, 0x03A9, 0x03B4,
        0x221E, 0x03C6, 0x03B5, 0x2229, 0x2261, 0x00B1, 0x2265, 0x2264, 0x2320, 0x2321, 0x00F7, 0x2248,
        0x00B0, 0x2219, 0x00B7, 0x221A, 0x207F, 0x00B2, 0x25A0, 0x00A0,
    ]

    /// nls_cp437's lowercase mapping for its upper half (the accented capitals).
    static let cp437Lower: [UInt8: UInt8] = [
        0x80: 0x87, 0x8E: 0x84, 0x8F: 0x86, 0x90: 0x82, 0x92: 0x91, 0x99: 0x94, 0x9A: 0x81, 0xA5: 0xA4,
    ]

    static let caseLowerBase: UInt8 = 0x08
    static let caseLowerExt: UInt8 = 0x10

    /// The 8.3 name of a 32-byte entry as Linux's fat_parse_short shows it; empty when there is
    /// none (Linux then skips the entry).
    static func shortName(_ e: [UInt8]) -> [UInt8] {
        let flags = e.byte(12)
        func part(_ range: Range<Int>, lower: Bool) -> [UInt8] {
            var raw: [UInt8] = []
            for i in range {
                var c = e.byte(i)
                if c == 0 { break }
                if i == 0 && c == 0x05 { c = 0xE5 }  // 0x05 stands for a leading 0xE5 (a Kanji lead byte)
                raw.append(c)
            }
            while raw.last == 0x20 { raw.removeLast() }
            var out: [UInt8] = []
            for var c in raw {
                if lower {
                    if c >= 0x41 && c <= 0x5A { c |= 0x20 } else if let l = cp437Lower[c] { c = l }
                }
                appendUTF8(c < 0x80 ? UInt32(c) : UInt32(cp437High[Int(c) - 0x80]), to: &out)
            }
            return out
        }
        let base = part(0..<8, lower: flags & caseLowerBase != 0)
        guard !base.isEmpty else { return [] }
        let ext = part(8..<11, lower: flags & caseLowerExt != 0)
        return ext.isEmpty ? base : base + [0x2E] + ext
    }

    /// The checksum of the 11-byte 8.3 name that long-name slots carry.
    static func checksum(_ e: [UInt8]) -> UInt8 {
        var sum: UInt8 = 0
        for i in 0..<11 { sum = (sum >> 1 | sum << 7) &+ e.byte(i) }
        return sum
    }

    /// The 13 UTF-16 units of one long-name slot.
    static func slotUnits(_ e: [UInt8]) -> [UInt16] {
        var units: [UInt16] = []
        units.reserveCapacity(13)
        for o in [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30] { units.append(e.le16(o)) }
        return units
    }

    /// UTF-16 up to the first NUL as UTF-8; unpaired surrogates are dropped, as Linux's
    /// utf16s_to_utf8s does.
    static func utf8(fromUTF16 units: [UInt16]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < units.count {
            let u = units[i]
            if u == 0 { break }
            i += 1
            if u & 0xF800 != 0xD800 { appendUTF8(UInt32(u), to: &out); continue }
            guard u & 0x0400 == 0, i < units.count, units[i] & 0xFC00 == 0xDC00 else { continue }
            let scalar = 0x10000 + ((UInt32(u) & 0x3FF) << 10 | UInt32(units[i]) & 0x3FF)
            i += 1
            appendUTF8(scalar, to: &out)
        }
        return out
    }

    static func appendUTF8(_ c: UInt32, to out: inout [UInt8]) {
        switch c {
        case 0..<0x80: out.append(UInt8(c))
        case 0x80..<0x800:
            out += [UInt8(0xC0 | c >> 6), UInt8(0x80 | c & 0x3F)]
        case 0x800..<0x10000:
            out += [UInt8(0xE0 | c >> 12), UInt8(0x80 | c >> 6 & 0x3F), UInt8(0x80 | c & 0x3F)]
        default:
            out += [UInt8(0xF0 | c >> 18 & 0x7), UInt8(0x80 | c >> 12 & 0x3F), UInt8(0x80 | c >> 6 & 0x3F),
                    UInt8(0x80 | c & 0x3F)]
        }
    }

    /// The key names are compared by: Linux's vfat (iocharset ascii) folds ASCII letters only.
    static func foldKey(_ name: [UInt8]) -> [UInt8] {
        name.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
    }
}
