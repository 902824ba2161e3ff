import CZlib

/// One partition of a disk. Offsets and sizes are in bytes from the start of the disk.
public struct Partition: Sendable, Equatable {
    /// Linux numbering: MBR primaries 1-4, logicals from 5 in chain order; GPT entry index + 1.
    public var number: Int
    public var start: UInt64
    public var size: UInt64
    /// MBR partition type byte (0x83 Linux, 0x05/0x0f/0x85 extended, ...).
    public var mbrType: UInt8?
    public var bootable = false
    /// An MBR extended partition: a container of logical partitions, not a filesystem.
    public var isExtended = false
    /// GPT partition type GUID, e.g. 0FC63DAF-8483-4772-8E79-3D69D8477DE4 (Linux filesystem).
    public var gptType: String?
    public var gptGUID: String?
    public var gptName: String?
    public var gptAttributes: UInt64 = 0

    /// The partition's bytes as a device of their own.
    public func device(on disk: any BlockDevice) throws(GuestFSError) -> any BlockDevice {
        do {
            return try SliceDevice(base: disk, offset: start, size: size)
        } catch {
            throw GuestFSError("partition \(number) (\(size) bytes at \(start)) lies outside the disk: \(error.message)")
        }
    }
}

public struct PartitionTable: Sendable, Equatable {
    public enum Scheme: String, Sendable {
        case mbr, gpt
        /// What libguestfs's part-get-parttype prints (parted's names).
        public var partedName: String { self == .mbr ? "msdos" : "gpt" }
    }
    public var scheme: Scheme
    public var sectorSize: Int
    /// MBR disk signature as 8 hex digits, or the GPT disk GUID.
    public var diskID: String
    public var partitions: [Partition]

    // Bounds for hostile tables: the chain of logical partitions, and a GPT entry array
    // (the UEFI minimum is 16 KiB; real tools never write more than a few).
    static let maxLogical = 128
    static let maxGPTEntryBytes = 1 << 20

    /// The disk's partition table, nil when it has none (a whole-disk filesystem or an empty disk).
    /// A table that is recognisably there but corrupt throws.
    public static func read(_ disk: any BlockDevice) throws(GuestFSError) -> PartitionTable? {
        guard disk.size >= 1024 else { return nil }
        let mbr = try disk.read(at: 0, count: 512)
        guard mbr[510] == 0x55, mbr[511] == 0xaa else { return try gpt(disk, protective: false) }
        let entries = (0..<4).map { MBREntry(mbr, at: 446 + $0 * 16) }
        // Boot sectors of whole-disk filesystems (FAT) also end in 55AA; their "entries" are code.
        guard entries.allSatisfy({ $0.status == 0 || $0.status == 0x80 }) else { return try gpt(disk, protective: false) }
        // mkfs.vfat's boot sector has zeros there: with no entry at all the disk is not partitioned,
        // and its whole device is where a filesystem may be (as libguestfs lists it).
        if entries.allSatisfy(\.isEmpty) { return try gpt(disk, protective: false) }
        if entries.contains(where: { $0.type == 0xee }) {
            guard let table = try gpt(disk, protective: true) else {
                throw GuestFSError("GPT: protective MBR present but no GPT header at LBA 1")
            }
            return table
        }
        return try readMBR(disk, mbr: mbr, entries: entries)
    }

    // MARK: MBR

    private struct MBREntry {
        var status: UInt8, type: UInt8, lba: UInt64, sectors: UInt64
        init(_ b: [UInt8], at o: Int) {
            let bytes = ImageBytes(b)
            status = b[o]; type = b[o + 4]
            lba = UInt64(bytes.le32(o + 8)); sectors = UInt64(bytes.le32(o + 12))
        }
        var isEmpty: Bool { type == 0 || sectors == 0 }
        var isExtended: Bool { type == 0x05 || type == 0x0f || type == 0x85 }
    }

    private static func readMBR(_ disk: any BlockDevice, mbr: [UInt8], entries: [MBREntry]) throws(GuestFSError) -> PartitionTable {
        var parts: [Partition] = []
        var extended: MBREntry?
        for (i, e) in entries.enumerated() where !e.isEmpty {
            parts.append(Partition(number: i + 1, start: e.lba * 512, size: e.sectors * 512, mbrType: e.type,
                                   bootable: e.status == 0x80, isExtended: e.isExtended))
            if e.isExtended {
                guard extended == nil else { throw GuestFSError("MBR: more than one extended partition") }
                extended = e
            }
        }
        if let ext = extended {
            // Each EBR holds one logical partition (relative to the EBR) and a link to the next EBR
            // (relative to the extended partition's start).
            var ebr = ext.lba
            var seen: Set<UInt64> = []
            var number = 5
            while true {
                guard seen.insert(ebr).inserted else {
                    throw GuestFSError("MBR: extended partition chain loops back to sector \(ebr)")
                }
                guard number - 5 < maxLogical else {
                    throw GuestFSError("MBR: more than \(maxLogical) logical partitions")
                }
                // Like Linux, a link to an EBR that is missing or unsigned (overwritten by data) ends
                // the chain: the partitions found so far stay usable.
                guard ebr < disk.size / 512 else { break }
                let sector = try disk.read(at: ebr * 512, count: 512)
                guard sector[510] == 0x55, sector[511] == 0xaa else { break }
                let logical = MBREntry(sector, at: 446), link = MBREntry(sector, at: 462)
                if !logical.isEmpty {
                    parts.append(Partition(number: number, start: (ebr + logical.lba) * 512, size: logical.sectors * 512,
                                           mbrType: logical.type, bootable: logical.status == 0x80))
                    number += 1
                }
                guard !link.isEmpty, link.isExtended else { break }
                ebr = ext.lba + link.lba
            }
        }
        let id = ImageBytes(mbr).le32(440)
        let hexID = String(id, radix: 16)
        return PartitionTable(scheme: .mbr, sectorSize: 512,
                              diskID: String(repeating: "0", count: 8 - hexID.count) + hexID, partitions: parts)
    }

    // MARK: GPT

    /// Looks for "EFI PART" at LBA 1 with 512- then 4096-byte sectors; falls back to the backup
    /// header at the last LBA when the primary one is corrupt.
    private static func gpt(_ disk: any BlockDevice, protective: Bool) throws(GuestFSError) -> PartitionTable? {
        for sectorSize in [512, 4096] where disk.size >= UInt64(sectorSize) * 3 {
            let lba1 = try disk.read(at: UInt64(sectorSize), count: sectorSize)
            guard lba1.starts(with: Array("EFI PART".utf8)) else { continue }
            do {
                return try gptTable(disk, header: lba1, sectorSize: sectorSize, lba: 1)
            } catch let primaryError {
                let last = disk.size / UInt64(sectorSize) - 1
                let backup = try disk.read(at: last * UInt64(sectorSize), count: sectorSize)
                guard backup.starts(with: Array("EFI PART".utf8)),
                      let table = try? gptTable(disk, header: backup, sectorSize: sectorSize, lba: last) else {
                    throw primaryError
                }
                return table
            }
        }
        return nil
    }

    private static func gptTable(_ disk: any BlockDevice, header h: [UInt8], sectorSize: Int, lba: UInt64) throws(GuestFSError) -> PartitionTable {
        let b = ImageBytes(h)
        let headerSize = Int(b.le32(12))
        guard headerSize >= 92, headerSize <= sectorSize else {
            throw GuestFSError("GPT: header size \(headerSize) invalid")
        }
        var zeroed = Array(h[0..<headerSize])
        zeroed.replaceSubrange(16..<20, with: [0, 0, 0, 0])
        guard crc32Of(zeroed) == b.le32(16) else { throw GuestFSError("GPT: header CRC mismatch (header at LBA \(lba))") }
        guard b.le64(24) == lba else { throw GuestFSError("GPT: header at LBA \(lba) claims to be at LBA \(b.le64(24))") }

        let entriesLBA = b.le64(72), count = UInt64(b.le32(80)), entrySize = UInt64(b.le32(84))
        guard entrySize >= 128, entrySize % 8 == 0, entrySize <= 4096 else {
            throw GuestFSError("GPT: partition entry size \(entrySize) invalid")
        }
        let total = count * entrySize
        guard total <= UInt64(maxGPTEntryBytes) else {
            throw GuestFSError("GPT: \(count) partition entries of \(entrySize) bytes exceed the \(maxGPTEntryBytes)-byte limit")
        }
        let sectors = disk.size / UInt64(sectorSize)
        guard entriesLBA < sectors, total <= (sectors - entriesLBA) * UInt64(sectorSize) else {
            throw GuestFSError("GPT: partition entry array at LBA \(entriesLBA) beyond end of disk")
        }
        let array = try disk.read(at: entriesLBA * UInt64(sectorSize), count: Int(total))
        guard crc32Of(array) == b.le32(88) else { throw GuestFSError("GPT: partition entry array CRC mismatch") }

        let a = ImageBytes(array)
        var parts: [Partition] = []
        for i in 0..<Int(count) {
            let o = i * Int(entrySize)
            let type = Array(array[o..<(o + 16)])
            if type.allSatisfy({ $0 == 0 }) { continue }
            let first = a.le64(o + 32), last = a.le64(o + 40)
            guard first <= last, last < sectors else {
                throw GuestFSError("GPT: partition \(i + 1) spans LBA \(first)-\(last), outside a disk of \(sectors) sectors")
            }
            let units = (0..<36).map { a.le16(o + 56 + $0 * 2) }.prefix { $0 != 0 }
            parts.append(Partition(
                number: i + 1, start: first * UInt64(sectorSize), size: (last - first + 1) * UInt64(sectorSize),
                gptType: guidString(type), gptGUID: guidString(Array(array[(o + 16)..<(o + 32)])),
                gptName: String(decoding: units, as: UTF16.self), gptAttributes: a.le64(o + 48)))
        }
        return PartitionTable(scheme: .gpt, sectorSize: sectorSize, diskID: guidString(Array(h[56..<72])), partitions: parts)
    }
}

/// A mixed-endian GUID (first three fields little-endian) as sgdisk prints it.
func guidString(_ g: [UInt8]) -> String {
    let order = [3, 2, 1, 0, -1, 5, 4, -1, 7, 6, -1, 8, 9, -1, 10, 11, 12, 13, 14, 15]
    let digits = Array("0123456789ABCDEF")
    var s = ""
    for i in order {
        if i < 0 { s.append("-"); continue }
        s.append(digits[Int(g[i] >> 4)]); s.append(digits[Int(g[i] & 15)])
    }
    return s
}

func crc32Of(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBufferPointer { UInt32(truncatingIfNeeded: crc32(0, $0.baseAddress, uInt($0.count))) }
}
