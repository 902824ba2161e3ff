// Hand-built ISO 9660 images for structures no tool writes on request (multi-extent files,
// interleaving) and for hostile variants (continuation loops, relocation loops).

@testable import GuestFS

struct ISOBuilder {
    var bytes: [UInt8]
    static let bs = 2048
    /// 2026-11-27 10:00:00 at GMT+1 (offset +4 quarter hours) = 09:00:00 UTC.
    static let date: [UInt8] = [126, 11, 27, 10, 0, 0, 4]
    static let dateSeconds: Int64 = 1_795_770_000

    init(blocks: Int) { bytes = [UInt8](repeating: 0, count: blocks * Self.bs) }

    static func both32(_ v: UInt32) -> [UInt8] {
        [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24),
         UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
    }

    static func both16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8), UInt8(v >> 8), UInt8(v & 0xFF)] }

    /// A directory record; `name` [0] is ".", [1] is "..".
    static func record(extent: Int, size: Int, flags: UInt8 = 0, name: [UInt8], su: [UInt8] = [],
                       unit: UInt8 = 0, gap: UInt8 = 0) -> [UInt8] {
        var r: [UInt8] = [0, 0] + both32(UInt32(extent)) + both32(UInt32(size)) + date + [flags, unit, gap]
            + both16(1) + [UInt8(name.count)] + name
        if r.count % 2 == 1 { r.append(0) }
        r += su
        if r.count % 2 == 1 { r.append(0) }
        precondition(r.count <= 255)
        r[0] = UInt8(r.count)
        return r
    }

    static func file(_ name: String, extent: Int, size: Int, flags: UInt8 = 0, su: [UInt8] = []) -> [UInt8] {
        record(extent: extent, size: size, flags: flags, name: Array(name.utf8), su: su)
    }

    static func dir(_ name: String, extent: Int, su: [UInt8] = []) -> [UInt8] {
        record(extent: extent, size: bs, flags: 2, name: Array(name.utf8), su: su)
    }

    /// A SUSP entry.
    static func susp(_ sig: String, _ data: [UInt8]) -> [UInt8] { Array(sig.utf8) + [UInt8(4 + data.count), 1] + data }
    static let sp = susp("SP", [0xBE, 0xEF, 0])
    static let er = susp("ER", [10, 0, 0, 1] + Array("RRIP_1991A".utf8))
    static func px(_ mode: UInt32, nlink: UInt32 = 1, uid: UInt32 = 0, gid: UInt32 = 0) -> [UInt8] {
        susp("PX", both32(mode) + both32(nlink) + both32(uid) + both32(gid))
    }
    static func nm(_ name: String, flags: UInt8 = 0) -> [UInt8] { susp("NM", [flags] + Array(name.utf8)) }
    static func ce(block: Int, offset: Int, length: Int) -> [UInt8] {
        susp("CE", both32(UInt32(block)) + both32(UInt32(offset)) + both32(UInt32(length)))
    }
    static func cl(_ block: Int) -> [UInt8] { susp("CL", both32(UInt32(block))) }
    static func pl(_ block: Int) -> [UInt8] { susp("PL", both32(UInt32(block))) }
    static let re = susp("RE", [])

    mutating func put(_ data: [UInt8], block: Int, offset: Int = 0) {
        let at = block * Self.bs + offset
        bytes.replaceSubrange(at..<(at + data.count), with: data)
    }

    /// Block 16: primary volume descriptor (root directory at `root`), block 17: terminator.
    mutating func descriptors(root: Int, rootSize: Int = bs, volumeBlocks: Int? = nil) {
        var pvd = [UInt8](repeating: 0, count: Self.bs)
        pvd.replaceSubrange(0..<7, with: [1] + Array("CD001".utf8) + [1])
        pvd.replaceSubrange(40..<72, with: Array("HANDMADE".utf8) + [UInt8](repeating: 0x20, count: 24))
        pvd.replaceSubrange(80..<88, with: Self.both32(UInt32(volumeBlocks ?? bytes.count / Self.bs)))
        pvd.replaceSubrange(120..<124, with: Self.both16(1))
        pvd.replaceSubrange(124..<128, with: Self.both16(1))
        pvd.replaceSubrange(128..<132, with: Self.both16(2048))
        let rootRecord = Self.record(extent: root, size: rootSize, flags: 2, name: [0])
        pvd.replaceSubrange(156..<(156 + rootRecord.count), with: rootRecord)
        put(pvd, block: 16)
        put([255] + Array("CD001".utf8) + [1], block: 17)
    }

    /// A directory's records from `block` on, "." and ".." first; a record that does not fit the
    /// rest of a block starts the next one.
    mutating func directory(block: Int, parent: Int, size: Int = bs, dotSU: [UInt8] = [], dotdotSU: [UInt8] = [],
                            _ records: [[UInt8]]) {
        let all = [Self.record(extent: block, size: size, flags: 2, name: [0], su: dotSU),
                   Self.record(extent: parent, size: Self.bs, flags: 2, name: [1], su: dotdotSU)] + records
        var b = block, p = 0
        for r in all {
            if p + r.count > Self.bs { b += 1; p = 0 }
            put(r, block: b, offset: p)
            p += r.count
        }
    }

    var device: MemoryDevice { MemoryDevice(bytes: bytes) }
    func open() throws(GuestFSError) -> ISO9660Filesystem { try ISO9660Filesystem(device: device) }
}
