// The XFS superblock (sector 0 of AG 0), per the kernel's "XFS Algorithms & Data Structures"
// document and fs/xfs/libxfs/xfs_format.h. XFS is big-endian on disk. Version 5 (CRC) filesystems
// are what RHEL 8/9 and Fedora create; version 4 is read too, as its differences are header sizes.

/// Bounds-checked big-endian reads: out-of-range offsets yield 0 instead of trapping, as le16/le32.
extension Array where Element == UInt8 {
    @inline(__always)
    func be16(_ offset: Int) -> UInt16 {
        guard offset >= 0, offset &+ 2 <= count else { return 0 }
        return UInt16(self[offset]) << 8 | UInt16(self[offset + 1])
    }

    @inline(__always)
    func be32(_ offset: Int) -> UInt32 {
        guard offset >= 0, offset &+ 4 <= count else { return 0 }
        return UInt32(self[offset]) << 24 | UInt32(self[offset + 1]) << 16
            | UInt32(self[offset + 2]) << 8 | UInt32(self[offset + 3])
    }

    @inline(__always)
    func be64(_ offset: Int) -> UInt64 {
        UInt64(be32(offset)) << 32 | UInt64(be32(offset + 4))
    }
}

public struct XFSSuperblock: Sendable, Equatable {
    static let magic: UInt32 = 0x5846_5342  // "XFSB"

    public var blockSize: Int
    public var dataBlocks: UInt64
    public var realtimeBlocks: UInt64
    public var uuid: [UInt8]
    public var logStart: UInt64
    public var rootInode: UInt64
    public var agBlocks: UInt32
    public var agCount: UInt32
    public var logBlocks: UInt32
    public var version: Int
    public var sectorSize: Int
    public var inodeSize: Int
    public var inodesPerBlock: Int
    public var label: [UInt8]
    public var blockLog: Int
    public var inodeLog: Int
    public var inodesPerBlockLog: Int
    public var agBlockLog: Int
    public var imaxPct: UInt8
    public var inodeCount: UInt64
    public var freeInodes: UInt64
    public var freeDataBlocks: UInt64
    public var directoryBlockLog: Int
    public var features2: UInt32
    public var featuresRoCompat: UInt32
    public var featuresIncompat: UInt32

    static let versionMask: UInt16 = 0xF
    static let features2Ftype: UInt32 = 0x200
    static let incompatFtype: UInt32 = 0x1
    static let incompatBigtime: UInt32 = 0x8
    static let incompatNrext64: UInt32 = 0x20
    static let roCompatRmapbt: UInt32 = 0x2

    /// INCOMPAT features that change nothing this reader interprets, or that it handles.
    static let supportedIncompat: [(UInt32, String)] = [
        (0x1, "ftype"), (0x2, "sparse inodes"), (0x4, "meta_uuid"), (0x8, "bigtime"),
        (0x20, "nrext64"), (0x40, "exchange-range"), (0x80, "parent pointers"),
    ]
    static let unsupportedIncompat: [(UInt32, String)] = [
        (0x10, "needsrepair (Linux refuses to mount it until xfs_repair runs)"),
        (0x100, "metadir"), (0x200, "zoned"),
    ]

    public var isV5: Bool { version == 5 }
    public var hasFtype: Bool {
        isV5 ? featuresIncompat & Self.incompatFtype != 0 : features2 & Self.features2Ftype != 0
    }
    public var directoryBlockSize: Int { blockSize << directoryBlockLog }
    /// Whether the log lives inside the data device (sb_logstart != 0), so Linux leaves it out of f_blocks.
    public var internalLog: Bool { logStart != 0 }

    /// Parses and validates the superblock sector.
    public init(_ b: [UInt8]) throws(GuestFSError) {
        guard b.count >= 264 else { throw GuestFSError("xfs: superblock truncated (\(b.count) bytes)") }
        let magic = b.be32(0)
        guard magic == Self.magic else {
            throw GuestFSError("xfs: superblock magic 0x\(String(magic, radix: 16)) is not XFSB")
        }
        blockSize = Int(b.be32(4))
        dataBlocks = b.be64(8)
        realtimeBlocks = b.be64(16)
        uuid = b.bytes(32, 16)
        logStart = b.be64(48)
        rootInode = b.be64(56)
        agBlocks = b.be32(84)
        agCount = b.be32(88)
        logBlocks = b.be32(96)
        version = Int(b.be16(100) & Self.versionMask)
        sectorSize = Int(b.be16(102))
        inodeSize = Int(b.be16(104))
        inodesPerBlock = Int(b.be16(106))
        label = b.bytes(108, 12)
        blockLog = Int(b[120])
        let sectorLog = Int(b[121])
        inodeLog = Int(b[122])
        inodesPerBlockLog = Int(b[123])
        agBlockLog = Int(b[124])
        imaxPct = b[127]
        inodeCount = b.be64(128)
        freeInodes = b.be64(136)
        freeDataBlocks = b.be64(144)
        directoryBlockLog = Int(b[192])
        features2 = b.be32(200)
        featuresRoCompat = b.be32(212)
        featuresIncompat = b.be32(216)

        guard version == 4 || version == 5 else {
            throw GuestFSError("xfs: superblock version \(version) is not supported (only 4 and 5)")
        }
        if !isV5 { featuresRoCompat = 0; featuresIncompat = 0 }
        guard (9...16).contains(blockLog), blockSize == 1 << blockLog else {
            throw GuestFSError("xfs: superblock: block size \(blockSize) (log \(blockLog)) is invalid")
        }
        guard (9...15).contains(sectorLog), sectorSize == 1 << sectorLog, sectorSize <= blockSize else {
            throw GuestFSError("xfs: superblock: sector size \(sectorSize) (log \(sectorLog)) is invalid")
        }
        guard (8...11).contains(inodeLog), inodeSize == 1 << inodeLog, inodeSize <= blockSize,
              !isV5 || inodeSize >= 512 else {
            throw GuestFSError("xfs: superblock: inode size \(inodeSize) (log \(inodeLog)) is invalid")
        }
        guard inodesPerBlockLog == blockLog - inodeLog, inodesPerBlock == 1 << inodesPerBlockLog else {
            throw GuestFSError("xfs: superblock: \(inodesPerBlock) inodes per block (log \(inodesPerBlockLog)) disagree with block and inode sizes")
        }
        // agblklog is the AG size rounded up to a power of two: it places the AG number in block
        // and inode numbers.
        guard agBlocks >= 64, (1...31).contains(agBlockLog), UInt64(agBlocks) <= 1 << agBlockLog,
              UInt64(agBlocks) > 1 << (agBlockLog - 1) else {
            throw GuestFSError("xfs: superblock: AG size \(agBlocks) blocks disagrees with agblklog \(agBlockLog)")
        }
        guard agCount >= 1, agCount <= 1 << 20 else {
            throw GuestFSError("xfs: superblock: AG count \(agCount) is invalid")
        }
        let full = UInt64(agCount) * UInt64(agBlocks)
        guard dataBlocks <= full, dataBlocks > full - UInt64(agBlocks) else {
            throw GuestFSError("xfs: superblock: \(dataBlocks) blocks do not fit \(agCount) AGs of \(agBlocks) blocks")
        }
        guard blockLog + directoryBlockLog <= 16 else {
            throw GuestFSError("xfs: superblock: directory block log \(directoryBlockLog) is too large")
        }
        guard !internalLog || UInt64(logBlocks) < dataBlocks else {
            throw GuestFSError("xfs: superblock: internal log of \(logBlocks) blocks exceeds the filesystem")
        }
        guard b.be16(100) & 0x20 != 0 || isV5 else {
            // Without the NLINK feature inodes are version 1 (16-bit link counts); mkfs stopped
            // creating those in 2007 and Linux 5.x refuses them.
            throw GuestFSError("xfs: version 4 superblock without 32-bit link counts (v1 inodes) is not supported")
        }
        guard b[126] == 0 else {
            throw GuestFSError("xfs: superblock marks mkfs as still in progress")
        }
        for (bit, name) in Self.unsupportedIncompat where featuresIncompat & bit != 0 {
            throw GuestFSError("xfs: feature \(name) is not supported")
        }
        let known = Self.supportedIncompat.reduce(UInt32(0)) { $0 | $1.0 }
        if featuresIncompat & ~known != 0 {
            throw GuestFSError("xfs: unknown incompatible features 0x\(String(featuresIncompat & ~known, radix: 16))")
        }
    }
}
