// file(1)'s ELF description: class, byte order, type, machine, ABI, linking, interpreter, build
// id and ABI notes, debug info and stripping. Header tables are size-checked against the file
// and capped before anything is read.

enum ELF {
    struct Header {
        var is64: Bool, msb: Bool
        var type: UInt16, machine: UInt16, flags: UInt32
        var phoff: UInt64, phentsize: Int, phnum: Int
        var shoff: UInt64, shentsize: Int, shnum: Int, shstrndx: Int
    }

    static let maxEntries = 4096
    static let maxNoteBytes = 1 << 16

    /// The header fields alone, as file(1) describes an ELF file inside compressed data (where it
    /// cannot seek to the program and section headers).
    static func header(_ head: [UInt8]) -> String? {
        guard head.count >= 52, head[4] == 1 || head[4] == 2, head[5] == 1 || head[5] == 2 else { return nil }
        let r = Reader(msb: head[5] == 2)
        let h = Header(is64: head[4] == 2, msb: head[5] == 2, type: r.u16(head, 16), machine: r.u16(head, 18),
                       flags: r.u32(head, head[4] == 2 ? 48 : 36), phoff: 0, phentsize: 0, phnum: 0,
                       shoff: 0, shentsize: 0, shnum: 0, shstrndx: 0)
        return prefix(h, head, pie: false)
    }

    /// "ELF 64-bit LSB pie executable, x86-64, version 1 (SYSV)".
    static func prefix(_ h: Header, _ head: [UInt8], pie: Bool) -> String {
        var s = "ELF \(h.is64 ? 64 : 32)-bit \(h.msb ? "MSB" : "LSB") "
        switch h.type {
        case 1: s += "relocatable"
        case 2: s += "executable"
        case 3: s += pie ? "pie executable" : "shared object"
        case 4: s += "core file"
        default: s += "*unknown type* 0x\(String(h.type, radix: 16))"
        }
        s += ", " + machine(h)
        let abis: [UInt8: String] = [0: "SYSV", 1: "HP-UX", 2: "NetBSD", 3: "GNU/Linux", 6: "Solaris", 9: "FreeBSD", 12: "OpenBSD"]
        // file(1) writes "ARM, EABI5 version 1", but "x86-64, version 1".
        s += (h.machine == 40 && h.flags >> 24 != 0 ? " " : ", ") + "version \(head.byte(6)) (\(abis[head.byte(7)] ?? "unknown"))"
        return s
    }

    /// nil when the header is too damaged to be an ELF file worth naming.
    static func describe(size: UInt64, head: [UInt8],
                         read: (UInt64, Int) throws(GuestFSError) -> [UInt8]) throws(GuestFSError) -> String? {
        guard head.count >= 52, head[4] == 1 || head[4] == 2, head[5] == 1 || head[5] == 2 else { return nil }
        let is64 = head[4] == 2, msb = head[5] == 2
        guard !is64 || head.count >= 64 else { return nil }
        let r = Reader(msb: msb)
        let h = Header(is64: is64, msb: msb, type: r.u16(head, 16), machine: r.u16(head, 18),
                       flags: r.u32(head, is64 ? 48 : 36),
                       phoff: is64 ? r.u64(head, 32) : UInt64(r.u32(head, 28)),
                       phentsize: Int(r.u16(head, is64 ? 54 : 42)), phnum: Int(r.u16(head, is64 ? 56 : 44)),
                       shoff: is64 ? r.u64(head, 40) : UInt64(r.u32(head, 32)),
                       shentsize: Int(r.u16(head, is64 ? 58 : 46)), shnum: Int(r.u16(head, is64 ? 60 : 48)),
                       shstrndx: Int(r.u16(head, is64 ? 62 : 50)))
        let segments = try programHeaders(h, r, size: size, read: read)
        var pie = false, needed = 0
        if let dyn = segments.first(where: { $0.type == 2 }) {
            let entry = is64 ? 16 : 8
            let data = try bounded(dyn.offset, dyn.filesz, size: size, read: read)
            var o = 0
            while o + entry <= data.count {
                let tag = is64 ? r.u64(data, o) : UInt64(r.u32(data, o))
                let val = is64 ? r.u64(data, o + 8) : UInt64(r.u32(data, o + 4))
                if tag == 0 { break }
                if tag == 1 { needed += 1 }
                if tag == 0x6FFF_FFFB, val & 0x0800_0000 != 0 { pie = true }
                o += entry
            }
        }
        var s = prefix(h, head, pie: pie)
        guard h.type != 4 else { return s }

        var notes: [String] = []
        if h.type != 1 {
            let interp = segments.first { $0.type == 3 }
            let dynamic = interp != nil || segments.contains { $0.type == 2 }
            if !segments.isEmpty {
                s += dynamic ? (pie && needed == 0 && interp == nil ? ", static-pie linked" : ", dynamically linked") : ", statically linked"
            }
            if let interp {
                let raw = try bounded(interp.offset, min(interp.filesz, 4096), size: size, read: read)
                s += ", interpreter " + FileMagic.printable(raw.prefix { $0 != 0 })
            }
            for seg in segments where seg.type == 4 {
                notes += parseNotes(try bounded(seg.offset, seg.filesz, size: size, read: read), r, align: seg.align == 8 ? 8 : 4)
            }
        }
        let sections = try sectionHeaders(h, r, size: size, read: read)
        if h.type == 1 || notes.isEmpty {
            for sec in sections where sec.type == 7 {
                notes += parseNotes(try bounded(sec.offset, sec.size, size: size, read: read), r, align: sec.align == 8 ? 8 : 4)
            }
        }
        for n in notes { s += ", " + n }
        if h.shnum == 0 || h.shoff == 0 {
            s += ", no section header"
            return s
        }
        if h.shstrndx < sections.count {
            let strtab = sections[h.shstrndx]
            let names = try bounded(strtab.offset, min(strtab.size, 1 << 20), size: size, read: read)
            let debug = sections.contains { sec in
                Int(sec.name) < names.count && names[Int(sec.name)...].starts(with: Array(".debug_info\0".utf8))
            }
            if debug { s += ", with debug_info" }
        }
        s += sections.contains { $0.type == 2 } ? ", not stripped" : ", stripped"
        return s
    }

    static func machine(_ h: Header) -> String {
        switch h.machine {
        case 2: return "SPARC"
        case 3: return "Intel 80386"
        case 8: return "MIPS, MIPS-I"
        case 20: return "PowerPC or cisco 4500"
        case 21: return "64-bit PowerPC or cisco 7500" + (h.flags & 3 == 2 ? ", OpenPOWER ELF V2 ABI" : h.flags & 3 == 1 ? ", Power ELF V1 ABI" : "")
        case 22: return "IBM S/390"
        case 40:
            let eabi = h.flags >> 24
            return eabi == 0 ? "ARM" : "ARM, EABI\(eabi)"
        case 43: return "SPARC V9"
        case 50: return "IA-64"
        case 62: return "x86-64"
        case 183: return "ARM aarch64"
        case 243:
            var s = "UCB RISC-V"
            if h.flags & 1 != 0 { s += ", RVC" }
            switch (h.flags >> 1) & 3 {
            case 0: s += ", soft-float ABI"
            case 1: s += ", single-float ABI"
            case 2: s += ", double-float ABI"
            default: s += ", quad-float ABI"
            }
            return s
        case 258: return "LoongArch"
        default: return "*unknown arch 0x\(String(h.machine, radix: 16))*"
        }
    }

    struct Segment { var type: UInt32, offset: UInt64, filesz: UInt64, align: UInt64 }
    struct Section { var name: UInt32, type: UInt32, offset: UInt64, size: UInt64, align: UInt64 }

    static func programHeaders(_ h: Header, _ r: Reader, size: UInt64,
                               read: (UInt64, Int) throws(GuestFSError) -> [UInt8]) throws(GuestFSError) -> [Segment] {
        let entry = h.is64 ? 56 : 32
        guard h.phnum > 0, h.phnum <= maxEntries, h.phentsize >= entry else { return [] }
        let table = try bounded(h.phoff, UInt64(h.phnum * h.phentsize), size: size, read: read)
        guard table.count == h.phnum * h.phentsize else { return [] }
        return (0..<h.phnum).map { i in
            let o = i * h.phentsize
            return h.is64
                ? Segment(type: r.u32(table, o), offset: r.u64(table, o + 8), filesz: r.u64(table, o + 32), align: r.u64(table, o + 48))
                : Segment(type: r.u32(table, o), offset: UInt64(r.u32(table, o + 4)), filesz: UInt64(r.u32(table, o + 16)),
                          align: UInt64(r.u32(table, o + 28)))
        }
    }

    static func sectionHeaders(_ h: Header, _ r: Reader, size: UInt64,
                               read: (UInt64, Int) throws(GuestFSError) -> [UInt8]) throws(GuestFSError) -> [Section] {
        let entry = h.is64 ? 64 : 40
        guard h.shnum > 0, h.shnum <= maxEntries, h.shentsize >= entry, h.shoff > 0 else { return [] }
        let table = try bounded(h.shoff, UInt64(h.shnum * h.shentsize), size: size, read: read)
        guard table.count == h.shnum * h.shentsize else { return [] }
        return (0..<h.shnum).map { i in
            let o = i * h.shentsize
            return h.is64
                ? Section(name: r.u32(table, o), type: r.u32(table, o + 4), offset: r.u64(table, o + 24),
                          size: r.u64(table, o + 32), align: r.u64(table, o + 48))
                : Section(name: r.u32(table, o), type: r.u32(table, o + 4), offset: UInt64(r.u32(table, o + 16)),
                          size: UInt64(r.u32(table, o + 20)), align: UInt64(r.u32(table, o + 32)))
        }
    }

    /// Bytes [offset, offset+count) of the file, clipped to the file and to `maxNoteBytes`·16.
    static func bounded(_ offset: UInt64, _ count: UInt64, size: UInt64,
                        read: (UInt64, Int) throws(GuestFSError) -> [UInt8]) throws(GuestFSError) -> [UInt8] {
        guard offset < size, count > 0 else { return [] }
        let n = min(count, size - offset, UInt64(maxNoteBytes * 16))
        return try read(offset, Int(n))
    }

    /// GNU build-id, ABI tag and Go build-id notes, in file order.
    static func parseNotes(_ data: [UInt8], _ r: Reader, align: Int) -> [String] {
        var out: [String] = []
        var o = 0
        func padded(_ n: Int) -> Int { (n + align - 1) / align * align }
        while o + 12 <= data.count, out.count < 16 {
            let namesz = Int(r.u32(data, o)), descsz = Int(r.u32(data, o + 4)), type = r.u32(data, o + 8)
            guard namesz <= maxNoteBytes, descsz <= maxNoteBytes else { break }
            let nameAt = o + 12, descAt = nameAt + padded(namesz)
            guard descAt + descsz <= data.count else { break }
            let name = Array(data[nameAt..<(nameAt + namesz)].prefix { $0 != 0 })
            let desc = Array(data[descAt..<(descAt + descsz)])
            if name == Array("GNU".utf8) && type == 3 {
                let kind = [20: "sha1", 16: "md5/uuid", 8: "xxHash"][descsz] ?? "0x\(String(descsz, radix: 16))"
                out.append("BuildID[\(kind)]=" + desc.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined())
            } else if name == Array("GNU".utf8) && type == 1 && descsz >= 16 {
                let os = ["GNU/Linux", "GNU/Hurd", "GNU/Solaris", "GNU/kFreeBSD", "GNU/kNetBSD"]
                let osName = Int(r.u32(desc, 0)) < os.count ? os[Int(r.u32(desc, 0))] : "<unknown>"
                out.append("for \(osName) \(r.u32(desc, 4)).\(r.u32(desc, 8)).\(r.u32(desc, 12))")
            } else if name == Array("Go".utf8) && type == 4 {
                out.append("Go BuildID=" + FileMagic.printable(desc.prefix { $0 != 0 }))
            }
            o = descAt + padded(descsz)
        }
        return out
    }

    /// Bounded reads in the file's byte order (out of range reads give 0).
    struct Reader {
        var msb: Bool
        func u16(_ b: [UInt8], _ o: Int) -> UInt16 { msb ? b.le16(o).byteSwapped : b.le16(o) }
        func u32(_ b: [UInt8], _ o: Int) -> UInt32 { msb ? b.le32(o).byteSwapped : b.le32(o) }
        func u64(_ b: [UInt8], _ o: Int) -> UInt64 { msb ? b.le64(o).byteSwapped : b.le64(o) }
    }
}
