// The ext2/ext3/ext4 superblock (1024 bytes at byte 1024), per the kernel.org "ext4 Disk Layout"
// document. Only the fields the reader and blkid-like detection need are decoded.

public struct Ext4Superblock: Sendable, Equatable {
    public static let offset: UInt64 = 1024
    public static let magic: UInt16 = 0xEF53

    public var inodesCount: UInt32
    public var blocksCount: UInt64
    public var firstDataBlock: UInt32
    public var logBlockSize: UInt32
    public var blocksPerGroup: UInt32
    public var inodesPerGroup: UInt32
    public var revLevel: UInt32
    public var inodeSize: Int
    public var featureCompat: UInt32
    public var featureIncompat: UInt32
    public var featureRoCompat: UInt32
    public var uuid: [UInt8]
    public var volumeName: [UInt8]
    public var descSize: Int
    public var firstMetaBg: UInt32
    /// s_backup_bgs: the only groups besides 0 holding superblock backups with sparse_super2.
    public var backupGroups: [UInt32]
    /// log2 of blocks per cluster: 0 unless bigalloc.
    public var clusterBits = 0

    // Feature bits used by the reader.
    static let compatHasJournal: UInt32 = 0x4
    static let compatSparseSuper2: UInt32 = 0x200
    static let incompatExtents: UInt32 = 0x40
    static let incompatFiletype: UInt32 = 0x2
    static let incompatJournalDev: UInt32 = 0x8
    static let incompatMetaBg: UInt32 = 0x10
    static let incompat64bit: UInt32 = 0x80
    static let roCompatSparseSuper: UInt32 = 0x1
    static let roCompatHugeFile: UInt32 = 0x8
    static let roCompatGdtCsum: UInt32 = 0x10
    static let roCompatBigalloc: UInt32 = 0x200
    static let roCompatMetadataCsum: UInt32 = 0x400

    /// INCOMPAT features this reader understands. Anything else changes the on-disk format in a way
    /// we cannot interpret, so the mount is refused rather than misread.
    static let supportedIncompat: [(UInt32, String)] = [
        (0x2, "filetype"), (0x4, "recover"), (0x10, "meta_bg"), (0x40, "extent"), (0x80, "64bit"),
        (0x100, "mmp"), (0x200, "flex_bg"), (0x400, "ea_inode"), (0x2000, "csum_seed"),
        (0x4000, "large_dir"), (0x8000, "inline_data"), (0x20000, "casefold"),
    ]
    static let unsupportedIncompatNames: [(UInt32, String)] = [
        (0x1, "compression"), (0x8, "journal_dev"), (0x1000, "dirdata"), (0x10000, "encrypt"),
    ]

    /// Parses and validates the 1024-byte superblock.
    public init(_ b: [UInt8]) throws(GuestFSError) {
        guard b.count >= 1024 else { throw GuestFSError("ext4: superblock truncated (\(b.count) bytes)") }
        let magic = b.le16(0x38)
        guard magic == Self.magic else {
            throw GuestFSError("ext4: superblock magic 0x\(String(magic, radix: 16)) is not 0xef53")
        }
        inodesCount = b.le32(0x0)
        featureCompat = b.le32(0x5C)
        featureIncompat = b.le32(0x60)
        featureRoCompat = b.le32(0x64)
        let is64 = featureIncompat & Self.incompat64bit != 0
        blocksCount = UInt64(b.le32(0x4)) | (is64 ? UInt64(b.le32(0x150)) << 32 : 0)
        firstDataBlock = b.le32(0x14)
        logBlockSize = b.le32(0x18)
        blocksPerGroup = b.le32(0x20)
        inodesPerGroup = b.le32(0x28)
        revLevel = b.le32(0x4C)
        inodeSize = revLevel == 0 ? 128 : Int(b.le16(0x58))
        uuid = b.bytes(0x68, 16)
        volumeName = b.bytes(0x78, 16)
        descSize = is64 ? Int(b.le16(0xFE)) : 32
        firstMetaBg = b.le32(0x104)
        backupGroups = [b.le32(0x24C), b.le32(0x250)]

        guard logBlockSize <= 6 else {
            throw GuestFSError("ext4: superblock: block size 2^\(10 &+ Int(logBlockSize)) out of range 1K-64K")
        }
        let bs = 1024 << Int(logBlockSize)
        guard inodeSize >= 128, inodeSize <= bs, inodeSize & (inodeSize - 1) == 0 else {
            throw GuestFSError("ext4: superblock: inode size \(inodeSize) invalid")
        }
        // With bigalloc the block bitmap tracks clusters, so a group spans cluster-ratio times more blocks.
        let logCluster = b.le32(0x1C)
        let bigalloc = featureRoCompat & Self.roCompatBigalloc != 0
        guard !bigalloc || (logCluster >= logBlockSize && logCluster - logBlockSize <= 16) else {
            throw GuestFSError("ext4: superblock: cluster size 2^\(10 &+ Int(logCluster)) invalid for \(bs)-byte blocks")
        }
        let clusterRatio = bigalloc ? 1 << Int(logCluster - logBlockSize) : 1
        clusterBits = bigalloc ? Int(logCluster - logBlockSize) : 0
        guard blocksPerGroup > 0, UInt64(blocksPerGroup) <= UInt64(8 * bs * clusterRatio) else {
            throw GuestFSError("ext4: superblock: \(blocksPerGroup) blocks per group invalid for \(bs)-byte blocks")
        }
        guard inodesPerGroup > 0, inodesPerGroup <= UInt32(8 * bs) else {
            throw GuestFSError("ext4: superblock: \(inodesPerGroup) inodes per group invalid for \(bs)-byte blocks")
        }
        guard descSize >= 32, descSize <= 1024, descSize & (descSize - 1) == 0, !is64 || descSize >= 64 else {
            throw GuestFSError("ext4: superblock: group descriptor size \(descSize) invalid")
        }
        guard UInt64(firstDataBlock) < blocksCount else {
            throw GuestFSError("ext4: superblock: first data block \(firstDataBlock) beyond \(blocksCount) blocks")
        }
    }

    public var blockSize: Int { 1024 << Int(logBlockSize) }

    /// Whether a group holds a superblock backup (and so, with meta_bg, its descriptors one block
    /// later), as the kernel's ext4_bg_has_super decides.
    public func hasSuperBackup(group: UInt64) -> Bool {
        if group == 0 { return true }
        if featureCompat & Self.compatSparseSuper2 != 0 {
            return backupGroups.contains { UInt64($0) == group }
        }
        if featureRoCompat & Self.roCompatSparseSuper == 0 || group == 1 { return true }
        if group & 1 == 0 { return false }
        for base: UInt64 in [3, 5, 7] {
            var p = base
            while p < group {
                let (next, overflow) = p.multipliedReportingOverflow(by: base)
                if overflow { break }
                p = next
            }
            if p == group { return true }
        }
        return false
    }

    public var groupCount: UInt64 {
        (blocksCount - UInt64(firstDataBlock) + UInt64(blocksPerGroup) - 1) / UInt64(blocksPerGroup)
    }

    /// Throws naming the INCOMPAT features we cannot read.
    public func checkSupported() throws(GuestFSError) {
        var known: UInt32 = 0
        for (bit, _) in Self.supportedIncompat { known |= bit }
        let unknown = featureIncompat & ~known
        guard unknown == 0 else {
            var names: [String] = []
            var rest = unknown
            for (bit, name) in Self.unsupportedIncompatNames where rest & bit != 0 {
                names.append(name); rest &= ~bit
            }
            if rest != 0 { names.append("0x" + String(rest, radix: 16)) }
            throw GuestFSError("ext4: unsupported incompatible features: \(names.joined(separator: ", "))")
        }
    }

    /// "ext2", "ext3", "ext4" or "jbd" (an external journal), classified as blkid does: ext4 when
    /// any feature beyond ext3's set is on, ext3 when there is a journal.
    public var kind: String {
        if featureIncompat & Self.incompatJournalDev != 0 { return "jbd" }
        let ext3Incompat: UInt32 = 0x2 | 0x4 | 0x10
        let ext3RoCompat: UInt32 = 0x1 | 0x2 | 0x4
        if featureIncompat & ~ext3Incompat != 0 || featureRoCompat & ~ext3RoCompat != 0 { return "ext4" }
        return featureCompat & Self.compatHasJournal != 0 ? "ext3" : "ext2"
    }

    public var label: String? {
        let end = volumeName.firstIndex(of: 0) ?? volumeName.count
        return end == 0 ? nil : String(decoding: volumeName[..<end], as: UTF8.self)
    }

    public var uuidString: String? { uuid.allSatisfy { $0 == 0 } ? nil : formatUUID(uuid) }
}

/// 8-4-4-4-12 lowercase hex, as blkid prints filesystem UUIDs.
func formatUUID(_ b: [UInt8]) -> String {
    let hex = b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }
    var s = ""
    for (i, h) in hex.enumerated() {
        if i == 4 || i == 6 || i == 8 || i == 10 { s += "-" }
        s += h
    }
    return s
}
