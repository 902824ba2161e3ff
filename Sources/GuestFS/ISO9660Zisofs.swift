// zisofs ("pz") transparent decompression, which Linux's isofs applies to files with a ZF entry:
// the stored data is a header, a table of (blocks + 1) little-endian offsets, and one zlib stream
// per block of 2^blockShift bytes; two equal offsets mean a block of zeros.

import CZlib

extension ISO9660Filesystem {
    func readZisofs(_ ino: UInt64, _ parts: [ISORecord], _ z: RockRidgeInfo.Zisofs,
                    at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        guard (15...17).contains(z.blockShift), z.headerSize >= 16 else {
            throw GuestFSError("iso9660: inode \(ino): zisofs block size 2^\(z.blockShift) or header of \(z.headerSize) bytes is not supported")
        }
        guard count > 0, offset < z.size else { return [] }
        let stored = parts.reduce(UInt64(0)) { $0 + $1.dataLength }
        let bs = UInt64(1) << UInt64(z.blockShift)
        let end = offset + min(UInt64(count), z.size - offset)
        let first = offset >> UInt64(z.blockShift), last = (end - 1) >> UInt64(z.blockShift)
        let tableAt = UInt64(z.headerSize) + first * 4
        let tableBytes = Int(last - first + 2) * 4
        let table = try readStored(ino, parts, at: tableAt, count: tableBytes)
        guard table.count == tableBytes else {
            throw GuestFSError("iso9660: inode \(ino): zisofs block table runs past the stored \(stored) bytes")
        }
        var out: [UInt8] = []
        out.reserveCapacity(Int(end - offset))
        for b in first...last {
            let k = Int(b - first) * 4
            let start = UInt64(table.le32(k)), stop = UInt64(table.le32(k + 4))
            let want = Int(min(bs, z.size - b * bs))
            // zlib never expands a block by more than a few bytes per 16 KiB.
            guard start <= stop, stop <= stored, stop - start <= bs + bs / 64 + 64 else {
                throw GuestFSError("iso9660: inode \(ino): zisofs block \(b) at bytes \(start)-\(stop) is outside the stored \(stored) bytes or too large")
            }
            let block = start == stop ? [UInt8](repeating: 0, count: want)
                : try Self.inflateBlock(readStored(ino, parts, at: start, count: Int(stop - start)), size: want, ino: ino, block: b)
            let lo = max(offset, b * bs) - b * bs, hi = min(end, b * bs + UInt64(want)) - b * bs
            out += block[Int(lo)..<Int(hi)]
        }
        return out
    }

    /// One zlib stream that must decode to exactly `size` bytes.
    private static func inflateBlock(_ input: [UInt8], size: Int, ino: UInt64, block: UInt64) throws(GuestFSError) -> [UInt8] {
        guard let r = inflateOnce(input, outputSize: size, raw: false) else {
            throw GuestFSError("iso9660: cannot initialise zlib")
        }
        guard r.status == Z_STREAM_END, r.remaining == 0 else {
            throw GuestFSError("iso9660: inode \(ino): corrupt zisofs block \(block) (inflate status \(r.status), \(r.remaining) bytes short)")
        }
        return r.output
    }
}
