// Read-only XFS reader (v5 as RHEL 8/9 and Fedora create it; v4 too). Layout per the kernel's
// "XFS Algorithms & Data Structures" and fs/xfs/libxfs/xfs_format.h. Every block number is checked
// to lie inside its AG and the device, extent maps must be sorted and match the inode's extent
// count, B+tree walks are bounded by level and never visit a block twice, so a hostile image can
// only make us throw. Checksums are not verified; magic numbers, owners and lengths are.

import Foundation

public final class XFSFilesystem: Filesystem, @unchecked Sendable {
    // @unchecked: everything is immutable after init except the caches, guarded by `cacheLock`.
    public let superblock: XFSSuperblock
    public let typeName = "xfs"
    public let rootInode: UInt64
    let device: any BlockDevice
    let blockSize: Int
    let hasBigtime: Bool

    private let cacheLock = NSLock()
    private var inodeChunks: [UInt64: [UInt8]] = [:]
    private var extentCache: [UInt64: [XFSExtent]] = [:]
    private var extentCacheRecords = 0
    let directoryIndexes = DirectoryIndexCache()
    /// Inodes are read in chunks of this many bytes (an inode cluster), one device read per chunk.
    private static let inodeChunk = 16 * 1024
    private static let maxCachedChunks = 512
    private static let maxCachedExtents = 1 << 20
    /// XFS computes its bmbt height limit from the geometry; 9 covers 512-byte blocks and 2^48 extents.
    static let maxBmbtLevels = 9
    static let maxSymlinkLength: UInt64 = 1024

    // Inode core.
    static let inodeMagic: UInt16 = 0x494E  // "IN"
    static let formatDev: UInt8 = 0, formatLocal: UInt8 = 1, formatExtents: UInt8 = 2, formatBtree: UInt8 = 3
    static let flagRealtime: UInt16 = 0x1
    static let flag2Bigtime: UInt64 = 0x8
    static let flag2Nrext64: UInt64 = 0x10

    public init(device: any BlockDevice) throws(GuestFSError) {
        guard device.size >= 512 else {
            throw GuestFSError("xfs: device of \(device.size) bytes is too small for a superblock")
        }
        let sb = try XFSSuperblock(device.read(at: 0, count: 512))
        superblock = sb
        self.device = device
        blockSize = sb.blockSize
        hasBigtime = sb.featuresIncompat & XFSSuperblock.incompatBigtime != 0
        let (bytes, overflow) = sb.dataBlocks.multipliedReportingOverflow(by: UInt64(sb.blockSize))
        guard !overflow, bytes <= device.size else {
            throw GuestFSError("xfs: filesystem claims \(sb.dataBlocks) blocks of \(sb.blockSize) bytes but the device holds only \(device.size) bytes (truncated image?)")
        }
        rootInode = sb.rootInode
        if sb.internalLog {
            _ = try linearBlock(sb.logStart, count: UInt64(sb.logBlocks), "internal log")
        }
        _ = try inodeLocation(sb.rootInode)
    }

    // MARK: Geometry

    /// The linear block index of filesystem block `fsb` (AG number in the bits above agblklog),
    /// after checking that it and the `count - 1` blocks after it lie in one AG and on the device.
    func linearBlock(_ fsb: UInt64, count: UInt64 = 1, _ what: @autoclosure () -> String) throws(GuestFSError) -> UInt64 {
        let ag = fsb >> UInt64(superblock.agBlockLog)
        let agbno = fsb & ((1 << UInt64(superblock.agBlockLog)) - 1)
        let agBlocks = UInt64(superblock.agBlocks)
        guard ag < UInt64(superblock.agCount), agbno < agBlocks, count <= agBlocks - agbno,
              ag * agBlocks + agbno + count <= superblock.dataBlocks else {
            throw GuestFSError("xfs: \(what()): block \(fsb) (+\(count)) lies outside the filesystem (AG \(ag) block \(agbno); \(superblock.agCount) AGs of \(agBlocks) blocks, \(superblock.dataBlocks) blocks)")
        }
        return ag * agBlocks + agbno
    }

    /// The linear block holding inode `ino` and the inode's index in it.
    func inodeLocation(_ ino: UInt64) throws(GuestFSError) -> (block: UInt64, index: Int) {
        let perBlockLog = UInt64(superblock.inodesPerBlockLog)
        let ag = ino >> (perBlockLog + UInt64(superblock.agBlockLog))
        let agbno = (ino >> perBlockLog) & ((1 << UInt64(superblock.agBlockLog)) - 1)
        let agBlocks = UInt64(superblock.agBlocks)
        // Block 0 of every AG holds the AG headers, never inodes.
        guard ag < UInt64(superblock.agCount), agbno > 0, agbno < agBlocks,
              ag * agBlocks + agbno < superblock.dataBlocks else {
            throw GuestFSError("xfs: inode \(ino) lies outside the filesystem (AG \(ag) block \(agbno))")
        }
        return (ag * agBlocks + agbno, Int(ino & ((1 << perBlockLog) - 1)))
    }

    // MARK: Inodes

    func rawInode(_ ino: UInt64) throws(GuestFSError) -> [UInt8] {
        let (block, index) = try inodeLocation(ino)
        let perChunk = UInt64(max(1, Self.inodeChunk / blockSize))
        // Chunks are aligned within the AG and clipped to its end and the device's.
        let agBlocks = UInt64(superblock.agBlocks)
        let agStart = block / agBlocks * agBlocks
        let start = agStart + (block - agStart) / perChunk * perChunk
        let end = min(start + perChunk, agStart + agBlocks, superblock.dataBlocks)
        cacheLock.lock()
        let cached = inodeChunks[start]
        cacheLock.unlock()
        let data: [UInt8]
        if let cached {
            data = cached
        } else {
            data = try device.read(at: start * UInt64(blockSize), count: Int(end - start) * blockSize)
            cacheLock.lock()
            if inodeChunks.count >= Self.maxCachedChunks { inodeChunks.removeAll(keepingCapacity: true) }
            inodeChunks[start] = data
            cacheLock.unlock()
        }
        let at = Int(block - start) * blockSize + index * superblock.inodeSize
        return Array(data[at..<(at + superblock.inodeSize)])
    }

    /// The validated inode `ino`: magic, version, self-reference (v5), fork offset and format.
    func inode(_ ino: UInt64) throws(GuestFSError) -> XFSInode {
        let raw = try rawInode(ino)
        let i = XFSInode(number: ino, raw: raw)
        guard i.magic == Self.inodeMagic else {
            throw GuestFSError("xfs: inode \(ino): magic 0x\(String(i.magic, radix: 16)) is not IN")
        }
        let expected = superblock.isV5 ? 3 : 2
        guard Int(i.version) == expected else {
            throw GuestFSError("xfs: inode \(ino): version \(i.version), expected \(expected)")
        }
        if i.isV3 && raw.be64(152) != ino {
            throw GuestFSError("xfs: inode \(ino): core records inode number \(raw.be64(152))")
        }
        guard i.mode != 0 else { throw GuestFSError("xfs: inode \(ino) is not in use") }
        guard i.forkOffsetBytes < raw.count - i.literalOffset else {
            throw GuestFSError("xfs: inode \(ino): attribute fork offset \(i.forkOffsetBytes) outside the literal area")
        }
        guard i.size <= UInt64(Int64.max) else {
            throw GuestFSError("xfs: inode \(ino): size \(i.size) is negative")
        }
        let type = FileType(mode: UInt32(i.mode))
        let allowed: [UInt8]
        switch type {
        case .directory, .symlink: allowed = [Self.formatLocal, Self.formatExtents, Self.formatBtree]
        case .regular: allowed = [Self.formatExtents, Self.formatBtree]
        case .characterDevice, .blockDevice, .fifo, .socket: allowed = [Self.formatDev]
        case .unknown: throw GuestFSError("xfs: inode \(ino): mode 0o\(String(i.mode, radix: 8)) has no file type")
        }
        guard allowed.contains(i.format) else {
            throw GuestFSError("xfs: inode \(ino): data fork format \(i.format) is invalid for a \(type)")
        }
        return i
    }

    public func stat(_ ino: UInt64) throws(GuestFSError) -> FileStat {
        let i = try inode(ino)
        let type = FileType(mode: UInt32(i.mode))
        var rdev: UInt32 = 0
        if type == .characterDevice || type == .blockDevice {
            // XFS packs 14 major bits over 18 minor bits; stat reports Linux's new_encode_dev.
            let dev = i.raw.be32(i.literalOffset)
            let major = dev >> 18, minor = dev & 0x3FFFF
            rdev = (minor & 0xFF) | major &<< 8 | (minor & ~0xFF) &<< 12
        }
        let (blocks, overflow) = i.nblocks.multipliedReportingOverflow(by: UInt64(blockSize / 512))
        let bigtime = hasBigtime && i.flags2 & Self.flag2Bigtime != 0
        return FileStat(
            inode: ino, type: type, mode: UInt32(i.mode), nlink: UInt64(i.raw.be32(16)),
            uid: i.raw.be32(8), gid: i.raw.be32(12), size: i.size, blocks: overflow ? .max : blocks,
            atime: i.time(32, bigtime: bigtime), mtime: i.time(40, bigtime: bigtime),
            ctime: i.time(48, bigtime: bigtime), rdev: rdev)
    }

    // MARK: Extent maps

    /// The data fork's extents, sorted by file offset and validated against the device.
    func extents(_ i: XFSInode) throws(GuestFSError) -> [XFSExtent] {
        cacheLock.lock()
        let cached = extentCache[i.number]
        cacheLock.unlock()
        if let cached { return cached }
        let fork = i.dataFork
        let count = i.dataExtentCount
        var out: [XFSExtent] = []
        switch i.format {
        case Self.formatExtents:
            guard count <= UInt64(fork.count / 16) else {
                throw GuestFSError("xfs: inode \(i.number): \(count) extents do not fit a \(fork.count)-byte fork")
            }
            out.reserveCapacity(Int(count))
            for k in 0..<Int(count) { try out.append(decodeExtent(fork, k * 16, i)) }
        case Self.formatBtree:
            try bmbtRoot(i, fork, expected: count, into: &out)
        default:
            return []
        }
        for k in out.indices.dropFirst() where out[k].offset < out[k - 1].offset + out[k - 1].count {
            throw GuestFSError("xfs: inode \(i.number): extent at file block \(out[k].offset) overlaps or precedes the one before it")
        }
        cacheLock.lock()
        extentCacheRecords += out.count
        if extentCacheRecords > Self.maxCachedExtents {
            extentCache.removeAll(keepingCapacity: true)
            extentCacheRecords = out.count
        }
        extentCache[i.number] = out
        cacheLock.unlock()
        return out
    }

    /// One 128-bit extent record: unwritten flag, 54-bit file offset, 52-bit block, 21-bit length.
    private func decodeExtent(_ b: [UInt8], _ p: Int, _ i: XFSInode) throws(GuestFSError) -> XFSExtent {
        let l0 = b.be64(p), l1 = b.be64(p + 8)
        let offset = (l0 & 0x7FFF_FFFF_FFFF_FFFF) >> 9
        let fsb = (l0 & 0x1FF) << 43 | l1 >> 21
        let count = l1 & 0x1F_FFFF
        guard count > 0 else {
            throw GuestFSError("xfs: inode \(i.number): extent at file block \(offset) has length 0")
        }
        let block = try linearBlock(fsb, count: count, "inode \(i.number): extent at file block \(offset)")
        return XFSExtent(offset: offset, block: block, count: count, unwritten: l0 >> 63 != 0)
    }

    /// The B+tree root in the inode: level, record count, then keys and pointers sized to the fork.
    private func bmbtRoot(_ i: XFSInode, _ fork: [UInt8], expected: UInt64, into out: inout [XFSExtent]) throws(GuestFSError) {
        let level = Int(fork.be16(0)), records = Int(fork.be16(2))
        let maxRecords = (fork.count - 4) / 16
        guard (1...Self.maxBmbtLevels).contains(level), records >= 1, records <= maxRecords else {
            throw GuestFSError("xfs: inode \(i.number): extent B+tree root has level \(level), \(records) records (at most \(Self.maxBmbtLevels) levels, \(maxRecords) records)")
        }
        var visited = Set<UInt64>()
        for k in 0..<records {
            try bmbtBlock(i, fork.be64(4 + maxRecords * 8 + k * 8), level: level - 1, expected: expected,
                          visited: &visited, into: &out)
        }
        guard UInt64(out.count) == expected else {
            throw GuestFSError("xfs: inode \(i.number): extent B+tree holds \(out.count) extents, the inode says \(expected)")
        }
    }

    private func bmbtBlock(_ i: XFSInode, _ fsb: UInt64, level: Int, expected: UInt64,
                           visited: inout Set<UInt64>, into out: inout [XFSExtent]) throws(GuestFSError) {
        let block = try linearBlock(fsb, "inode \(i.number): extent B+tree block")
        guard visited.insert(block).inserted else {
            throw GuestFSError("xfs: inode \(i.number): extent B+tree block \(fsb) is referenced twice")
        }
        let b = try device.read(at: block * UInt64(blockSize), count: blockSize)
        let v5 = superblock.isV5
        let magic = b.be32(0)
        guard magic == (v5 ? 0x424D_4133 : 0x424D_4150) else {  // "BMA3" / "BMAP"
            throw GuestFSError("xfs: inode \(i.number): extent B+tree block \(fsb) has magic 0x\(String(magic, radix: 16))")
        }
        let header = v5 ? 72 : 24
        let blockLevel = Int(b.be16(4)), records = Int(b.be16(6))
        let maxRecords = (blockSize - header) / 16
        guard blockLevel == level, records >= 1, records <= maxRecords else {
            throw GuestFSError("xfs: inode \(i.number): extent B+tree block \(fsb) has level \(blockLevel) (expected \(level)), \(records) records (at most \(maxRecords))")
        }
        if v5 && b.be64(56) != i.number {
            throw GuestFSError("xfs: inode \(i.number): extent B+tree block \(fsb) belongs to inode \(b.be64(56))")
        }
        if level == 0 {
            guard UInt64(out.count + records) <= expected else {
                throw GuestFSError("xfs: inode \(i.number): extent B+tree holds more than the \(expected) extents the inode records")
            }
            for k in 0..<records { try out.append(decodeExtent(b, header + k * 16, i)) }
        } else {
            for k in 0..<records {
                try bmbtBlock(i, b.be64(header + maxRecords * 8 + k * 8), level: level - 1, expected: expected,
                              visited: &visited, into: &out)
            }
        }
    }

    // MARK: File data

    public func read(_ ino: UInt64, at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        let i = try inode(ino)
        guard FileType(mode: UInt32(i.mode)) == .regular else {
            throw GuestFSError("xfs: inode \(ino) is not a regular file")
        }
        guard i.flags & Self.flagRealtime == 0 else {
            throw GuestFSError("xfs: inode \(ino): file data is on the realtime device, which is not supported")
        }
        guard count > 0, offset < i.size else { return [] }
        return try readMapped(i, extents(i), at: offset, count: Int(min(UInt64(count), i.size - offset)))
    }

    /// `count` bytes at byte `offset` through extent map `map`; holes and unwritten extents are zeros.
    func readMapped(_ i: XFSInode, _ map: [XFSExtent], at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return out }
        let bs = UInt64(blockSize)
        let end = offset + UInt64(count)
        let first = offset / bs, last = (end - 1) / bs
        // The first extent ending after `first`.
        var lo = 0, hi = map.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if map[mid].offset + map[mid].count <= first { lo = mid + 1 } else { hi = mid }
        }
        var k = lo
        while k < map.count, map[k].offset <= last {
            let e = map[k]
            k += 1
            if e.unwritten { continue }
            let from = max(e.offset * bs, offset), to = min((e.offset + e.count) * bs, end)
            guard from < to else { continue }
            let data = try device.read(at: e.block * bs + (from - e.offset * bs), count: Int(to - from))
            let at = Int(from - offset)
            out.replaceSubrange(at..<(at + data.count), with: data)
        }
        return out
    }

    // MARK: Symlinks

    public func readlink(_ ino: UInt64) throws(GuestFSError) -> [UInt8] {
        let i = try inode(ino)
        guard FileType(mode: UInt32(i.mode)) == .symlink else {
            throw GuestFSError("xfs: inode \(ino) is not a symbolic link")
        }
        guard i.size > 0, i.size <= Self.maxSymlinkLength else {
            throw GuestFSError("xfs: inode \(ino): symlink length \(i.size) is outside 1-\(Self.maxSymlinkLength)")
        }
        let size = Int(i.size)
        if i.format == Self.formatLocal {
            let fork = i.dataFork
            guard size <= fork.count else {
                throw GuestFSError("xfs: inode \(ino): inline symlink of \(size) bytes exceeds its \(fork.count)-byte fork")
            }
            return Array(fork[0..<size])
        }
        // Remote: on v5 each block starts with an XSLM header naming its byte range and owner.
        let map = try extents(i)
        let header = superblock.isV5 ? 56 : 0
        var target: [UInt8] = []
        var logical: UInt64 = 0
        while target.count < size {
            guard let e = map.first(where: { $0.offset <= logical && logical < $0.offset + $0.count }), !e.unwritten else {
                throw GuestFSError("xfs: inode \(ino): remote symlink block \(logical) is not mapped")
            }
            let b = try device.read(at: (e.block + logical - e.offset) * UInt64(blockSize), count: blockSize)
            var n = min(blockSize - header, size - target.count)
            if superblock.isV5 {
                let magic = b.be32(0)
                guard magic == 0x5853_4C4D, Int(b.be32(4)) == target.count, b.be64(32) == ino else {  // "XSLM"
                    throw GuestFSError("xfs: inode \(ino): remote symlink block \(logical) has a bad header (magic 0x\(String(magic, radix: 16)), offset \(b.be32(4)), owner \(b.be64(32)))")
                }
                let bytes = Int(b.be32(8))
                guard bytes > 0, bytes <= n else {
                    throw GuestFSError("xfs: inode \(ino): remote symlink block \(logical) claims \(bytes) bytes")
                }
                n = bytes
            }
            target += b[header..<(header + n)]
            logical += 1
        }
        return target
    }

    // MARK: Space

    /// What Linux's xfs_fs_statfs reports for a read-only mount:
    /// - f_blocks = sb_dblocks minus the log when it is internal (sb_logstart != 0);
    /// - f_bfree = f_bavail = free blocks minus the allocator's set-aside of
    ///   agcount × (XFS_ALLOCBT_AGFL_RESERVE 4 + 4 for a bmbt split). Free blocks are summed over the
    ///   AGFs (free extents + AGFL + free-space btree blocks), as Linux does at mount when the log is
    ///   dirty, since the superblock counter is only current after a clean unmount. A read-write
    ///   mount would also hide the reserve pool (min(5%, 8192 blocks)) and per-AG btree reservations;
    ///   a read-only one does not.
    /// - f_files = min(icount + free blocks × inodes per block, the imax_pct cap rounded down to whole
    ///   inode chunks), at least icount; f_ffree = f_files − inodes in use. Counts from the AGIs.
    public func statfs() throws(GuestFSError) -> FilesystemUsage {
        let sb = superblock
        var free: UInt64 = 0, icount: UInt64 = 0, ifree: UInt64 = 0
        let agBlocks = UInt64(sb.agBlocks)
        for ag in 0..<UInt64(sb.agCount) {
            let base = ag * agBlocks * UInt64(blockSize)
            let length = min(agBlocks, sb.dataBlocks - ag * agBlocks)
            let agf = try device.read(at: base + UInt64(sb.sectorSize), count: sb.sectorSize)
            guard agf.be32(0) == 0x5841_4746, UInt64(agf.be32(8)) == ag, UInt64(agf.be32(12)) == length else {  // "XAGF"
                throw GuestFSError("xfs: AG \(ag): free space header is invalid (magic 0x\(String(agf.be32(0), radix: 16)), number \(agf.be32(8)), length \(agf.be32(12)))")
            }
            let agFree = UInt64(agf.be32(52)) + UInt64(agf.be32(48)) + UInt64(agf.be32(60))
            guard agFree <= length else {
                throw GuestFSError("xfs: AG \(ag): \(agFree) free blocks exceed its \(length) blocks")
            }
            free += agFree
            let agi = try device.read(at: base + 2 * UInt64(sb.sectorSize), count: sb.sectorSize)
            guard agi.be32(0) == 0x5841_4749, UInt64(agi.be32(8)) == ag else {  // "XAGI"
                throw GuestFSError("xfs: AG \(ag): inode header is invalid (magic 0x\(String(agi.be32(0), radix: 16)), number \(agi.be32(8)))")
            }
            let count = UInt64(agi.be32(16)), freeCount = UInt64(agi.be32(28))
            guard freeCount <= count else {
                throw GuestFSError("xfs: AG \(ag): \(freeCount) free inodes exceed its \(count) inodes")
            }
            icount += count; ifree += freeCount
        }
        let blocks = sb.dataBlocks - (sb.internalLog ? UInt64(sb.logBlocks) : 0)
        let setAside = UInt64(sb.agCount) * 8
        let bfree = min(free > setAside ? free - setAside : 0, blocks)
        let perBlockLog = UInt64(sb.inodesPerBlockLog)
        var files = min(icount + (bfree << perBlockLog), (1 << 56) - 1)
        if sb.imaxPct > 0 {
            // Inodes are allocated in chunks of 64 (or one block if that holds more).
            let chunkBlocks = UInt64(max(64, sb.inodesPerBlock) >> sb.inodesPerBlockLog)
            let maxBlocks = sb.dataBlocks * UInt64(sb.imaxPct) / 100 / chunkBlocks * chunkBlocks
            files = min(files, maxBlocks << perBlockLog)
        }
        files = max(files, icount)
        let used = icount - ifree
        return FilesystemUsage(blockSize: UInt64(blockSize), blocks: blocks, freeBlocks: bfree,
                               availableBlocks: bfree, files: files, freeFiles: files > used ? files - used : 0)
    }
}

/// A run of `count` blocks at file block `offset`, stored at linear device block `block`.
struct XFSExtent: Equatable {
    var offset: UInt64
    var block: UInt64
    var count: UInt64
    var unwritten: Bool
}

/// A decoded view over a raw on-disk inode (v2 core of 100 bytes, v3 of 176).
struct XFSInode {
    let number: UInt64
    let raw: [UInt8]

    var magic: UInt16 { raw.be16(0) }
    var mode: UInt16 { raw.be16(2) }
    var version: UInt8 { raw.byte(4) }
    var format: UInt8 { raw.byte(5) }
    var size: UInt64 { raw.be64(56) }
    var nblocks: UInt64 { raw.be64(64) }
    var flags: UInt16 { raw.be16(90) }
    var isV3: Bool { version >= 3 }
    var flags2: UInt64 { isV3 ? raw.be64(120) : 0 }
    var literalOffset: Int { isV3 ? 176 : 100 }
    var forkOffsetBytes: Int { Int(raw.byte(82)) * 8 }
    /// With nrext64 the data fork's count is 64 bits where v3 had padding.
    var dataExtentCount: UInt64 {
        flags2 & XFSFilesystem.flag2Nrext64 != 0 ? raw.be64(24) : UInt64(raw.be32(76))
    }
    /// The data fork: the literal area up to the attribute fork, if any.
    var dataFork: [UInt8] {
        let end = forkOffsetBytes != 0 ? literalOffset + forkOffsetBytes : raw.count
        return Array(raw[literalOffset..<min(end, raw.count)])
    }

    /// Bigtime: nanoseconds since 1901-12-13 20:45:52 UTC (the most negative 32-bit time), else
    /// signed 32-bit seconds and 32-bit nanoseconds.
    func time(_ offset: Int, bigtime: Bool) -> FileTime {
        if bigtime {
            let ns = raw.be64(offset)
            return FileTime(seconds: Int64(ns / 1_000_000_000) - (1 << 31), nanoseconds: UInt32(ns % 1_000_000_000))
        }
        return FileTime(seconds: Int64(Int32(bitPattern: raw.be32(offset))), nanoseconds: raw.be32(offset + 4))
    }
}
