// Read-only ext2/ext3/ext4 reader. Layout per the kernel.org "ext4 Disk Layout" document.
// Every block number read from the image is checked against the filesystem size before use, every
// tree walk is bounded by depth and by the byte range asked for, so a hostile image can only make
// us throw.

import Foundation

public final class Ext4Filesystem: Filesystem, @unchecked Sendable {
    // @unchecked: everything is immutable after init except the caches, guarded by `cacheLock`.
    public let superblock: Ext4Superblock
    public let typeName: String
    public let rootInode: UInt64 = 2
    let device: any BlockDevice
    let blockSize: Int
    let blocksCount: UInt64
    /// Inode table start block per group, and whether the group's inodes were never initialised.
    let inodeTables: [UInt64]
    let inodeUninit: [Bool]
    let hasFiletype: Bool
    let hugeFile: Bool

    private let cacheLock = NSLock()
    private var inodeCache: [UInt64: [UInt8]] = [:]
    private let directoryIndexes = DirectoryIndexCache()
    /// Inode tables are read in chunks of this many bytes, so walking a tree costs one device read
    /// per chunk rather than one per inode.
    private static let inodeChunk = 64 * 1024
    private static let maxCachedChunks = 256
    static let maxExtentDepth = 5
    static let maxSymlinkLength: UInt64 = 4096

    public init(device: any BlockDevice) throws(GuestFSError) {
        guard device.size >= Ext4Superblock.offset + 1024 else {
            throw GuestFSError("ext4: device of \(device.size) bytes is too small for a superblock")
        }
        let sb = try Ext4Superblock(device.read(at: Ext4Superblock.offset, count: 1024))
        try sb.checkSupported()
        guard sb.kind != "jbd" else { throw GuestFSError("ext4: this is an external journal device, not a filesystem") }
        superblock = sb
        typeName = sb.kind
        self.device = device
        blockSize = sb.blockSize
        blocksCount = sb.blocksCount
        hasFiletype = sb.featureIncompat & Ext4Superblock.incompatFiletype != 0
        hugeFile = sb.featureRoCompat & Ext4Superblock.roCompatHugeFile != 0
        let deviceBlocks = device.size / UInt64(sb.blockSize)
        guard sb.blocksCount <= deviceBlocks else {
            throw GuestFSError("ext4: filesystem claims \(sb.blocksCount) blocks but the device holds only \(deviceBlocks) (truncated image?)")
        }
        let groups = sb.groupCount
        let (capacity, overflow) = groups.multipliedReportingOverflow(by: UInt64(sb.inodesPerGroup))
        guard !overflow, UInt64(sb.inodesCount) <= capacity else {
            throw GuestFSError("ext4: superblock: \(sb.inodesCount) inodes exceed \(groups) groups of \(sb.inodesPerGroup)")
        }
        (inodeTables, inodeUninit) = try Self.readGroupDescriptors(device: device, sb: sb, groups: Int(groups))
    }

    /// Reads all group descriptors once, one device read per descriptor block.
    private static func readGroupDescriptors(device: any BlockDevice, sb: Ext4Superblock, groups: Int)
        throws(GuestFSError) -> ([UInt64], [Bool])
    {
        let csum = sb.featureRoCompat & (Ext4Superblock.roCompatGdtCsum | Ext4Superblock.roCompatMetadataCsum) != 0
        var tables = [UInt64](); tables.reserveCapacity(groups)
        var uninit = [Bool](); uninit.reserveCapacity(groups)
        try forEachGroupDescriptor(device: device, sb: sb, groups: groups) { (g, block, d) throws(GuestFSError) in
            var table = UInt64(block.le32(d + 0x8))
            if sb.descSize >= 64 { table |= UInt64(block.le32(d + 0x28)) << 32 }
            guard table > 0, table < sb.blocksCount else {
                throw GuestFSError("ext4: group descriptor \(g): inode table block \(table) outside the filesystem (\(sb.blocksCount) blocks)")
            }
            tables.append(table)
            uninit.append(csum && block.le16(d + 0x12) & 0x1 != 0)
        }
        return (tables, uninit)
    }

    /// Calls `body(group, descriptorBlock, offsetInBlock)` for groups 0..<groups in order, reading
    /// each descriptor block once.
    static func forEachGroupDescriptor(device: any BlockDevice, sb: Ext4Superblock, groups: Int,
                                       _ body: (Int, [UInt8], Int) throws(GuestFSError) -> Void) throws(GuestFSError) {
        let bs = sb.blockSize
        let perBlock = bs / sb.descSize
        let metaBg = sb.featureIncompat & Ext4Superblock.incompatMetaBg != 0
        var group = 0
        while group < groups {
            let descBlock: UInt64
            if metaBg && UInt64(group / perBlock) >= UInt64(sb.firstMetaBg) {
                // meta_bg: each run of `perBlock` groups keeps its descriptors in its first group.
                let first = UInt64(group - group % perBlock)
                let start = UInt64(sb.firstDataBlock) + first * UInt64(sb.blocksPerGroup)
                descBlock = start + (sb.hasSuperBackup(group: first) ? 1 : 0)
            } else {
                // Right after the superblock's block (not first_data_block: bigalloc sets it to 0 with 1K blocks).
                descBlock = Ext4Superblock.offset / UInt64(bs) + 1 + UInt64(group / perBlock)
            }
            guard descBlock < sb.blocksCount else {
                throw GuestFSError("ext4: group descriptor block \(descBlock) for group \(group) beyond \(sb.blocksCount) blocks")
            }
            let block = try device.read(at: descBlock * UInt64(bs), count: bs)
            let inBlock = min(perBlock - group % perBlock, groups - group)
            for i in 0..<inBlock {
                try body(group + i, block, (group % perBlock + i) * sb.descSize)
            }
            group += inBlock
        }
    }

    // MARK: Inodes

    /// The raw on-disk inode (`inodeSize` bytes).
    func rawInode(_ ino: UInt64) throws(GuestFSError) -> [UInt8] {
        guard ino >= 1, ino <= UInt64(superblock.inodesCount) else {
            throw GuestFSError("ext4: inode \(ino) out of range 1-\(superblock.inodesCount)")
        }
        let ipg = UInt64(superblock.inodesPerGroup)
        let group = Int((ino - 1) / ipg)
        let index = Int((ino - 1) % ipg)
        let isz = superblock.inodeSize
        if inodeUninit[group] { return [UInt8](repeating: 0, count: isz) }
        let tableBytes = Int(ipg) * isz
        let table = inodeTables[group]
        let tableBlocks = UInt64((tableBytes + blockSize - 1) / blockSize)
        guard table + tableBlocks <= blocksCount else {
            throw GuestFSError("ext4: group \(group): inode table at block \(table) runs past the end of the filesystem")
        }
        let chunk = index * isz / Self.inodeChunk
        let key = UInt64(group) << 24 | UInt64(chunk)
        cacheLock.lock()
        let cached = inodeCache[key]
        cacheLock.unlock()
        let data: [UInt8]
        if let cached {
            data = cached
        } else {
            let start = chunk * Self.inodeChunk
            let length = min(Self.inodeChunk, tableBytes - start)
            data = try device.read(at: table * UInt64(blockSize) + UInt64(start), count: length)
            cacheLock.lock()
            if inodeCache.count >= Self.maxCachedChunks { inodeCache.removeAll(keepingCapacity: true) }
            inodeCache[key] = data
            cacheLock.unlock()
        }
        let at = index * isz - chunk * Self.inodeChunk
        return Array(data[at..<(at + isz)])
    }

    func inode(_ ino: UInt64) throws(GuestFSError) -> Ext4Inode {
        let raw = try rawInode(ino)
        let inode = Ext4Inode(number: ino, raw: raw)
        guard inode.mode != 0 || inode.linksCount != 0 else {
            throw GuestFSError("ext4: inode \(ino) is not in use")
        }
        return inode
    }

    public func stat(_ ino: UInt64) throws(GuestFSError) -> FileStat {
        let i = try inode(ino)
        var blocks = UInt64(i.raw.le32(0x1C))
        if hugeFile {
            blocks |= UInt64(i.raw.le16(0x74)) << 32
            if i.flags & Ext4Inode.flagHugeFile != 0 { blocks *= UInt64(blockSize / 512) }
        }
        let mode = UInt32(i.mode)
        let type = FileType(mode: mode)
        var rdev: UInt32 = 0
        if type == .characterDevice || type == .blockDevice {
            rdev = i.raw.le32(0x28) != 0 ? i.raw.le32(0x28) : i.raw.le32(0x2C)
        }
        return FileStat(
            inode: ino, type: type, mode: mode, nlink: UInt64(i.linksCount),
            uid: UInt32(i.raw.le16(0x2)) | UInt32(i.raw.le16(0x78)) << 16,
            gid: UInt32(i.raw.le16(0x18)) | UInt32(i.raw.le16(0x7A)) << 16,
            size: i.size, blocks: blocks,
            atime: i.time(0x8, extra: 0x8C), mtime: i.time(0x10, extra: 0x88), ctime: i.time(0xC, extra: 0x84),
            rdev: rdev)
    }

    // MARK: File data

    /// A contiguous piece of a file: `count` blocks from logical `logical` at physical `physical`.
    struct Run: Equatable {
        var logical: UInt64
        var physical: UInt64
        var count: UInt64
        var initialized: Bool
    }

    public func read(_ ino: UInt64, at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        try read(inode(ino), at: offset, count: count)
    }

    func read(_ i: Ext4Inode, at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        guard count > 0, offset < i.size else { return [] }
        let n = Int(min(UInt64(count), i.size - offset))
        if i.flags & Ext4Inode.flagInlineData != 0 {
            let data = try inlineData(i)
            guard offset < UInt64(data.count) else { return [UInt8](repeating: 0, count: n) }
            var out = data.bytes(Int(offset), n)
            if out.count < n { out += [UInt8](repeating: 0, count: n - out.count) }
            return out
        }
        let bs = UInt64(blockSize)
        let first = offset / bs
        let end = (offset + UInt64(n) - 1) / bs + 1
        let runs = try mapBlocks(i, first..<end)
        var out = [UInt8](repeating: 0, count: n)
        let rangeEnd = offset + UInt64(n)
        for run in runs where run.initialized {
            guard run.physical <= blocksCount, run.count <= blocksCount - run.physical else {
                throw GuestFSError("ext4: inode \(i.number): data at block \(run.physical) (+\(run.count)) past the end of the filesystem (\(blocksCount) blocks)")
            }
            let lo = max(run.logical * bs, offset)
            let hi = min((run.logical + run.count) * bs, rangeEnd)
            guard lo < hi else { continue }
            let data = try device.read(at: run.physical * bs + (lo - run.logical * bs), count: Int(hi - lo))
            let at = Int(lo - offset)
            out.replaceSubrange(at..<(at + data.count), with: data)
        }
        return out
    }

    /// Physical runs for logical blocks in `range`, sorted, adjacent runs merged; holes are absent.
    func mapBlocks(_ i: Ext4Inode, _ range: Range<UInt64>) throws(GuestFSError) -> [Run] {
        var runs: [Run] = []
        if i.flags & Ext4Inode.flagInlineData != 0 {
            return []  // the data lives in the inode itself
        } else if i.flags & Ext4Inode.flagExtents != 0 {
            let root = i.iBlock
            let depth = Int(root.le16(6))
            var budget = 1 << 16
            try extentNode(i, root, isRoot: true, expectedDepth: depth, range: range, into: &runs, budget: &budget)
        } else {
            try indirectRuns(i, range: range, into: &runs)
        }
        return runs
    }

    private static func append(_ run: Run, to runs: inout [Run]) {
        if var last = runs.last, last.initialized == run.initialized,
           last.logical + last.count == run.logical, last.physical + last.count == run.physical {
            last.count += run.count
            runs[runs.count - 1] = last
        } else {
            runs.append(run)
        }
    }

    private func extentNode(_ i: Ext4Inode, _ node: [UInt8], isRoot: Bool, expectedDepth: Int,
                            range: Range<UInt64>, into runs: inout [Run], budget: inout Int) throws(GuestFSError) {
        let magic = node.le16(0)
        guard magic == 0xF30A else {
            throw GuestFSError("ext4: inode \(i.number): extent header magic 0x\(String(magic, radix: 16, uppercase: false).leftPad(4))")
        }
        let entries = Int(node.le16(2)), maxEntries = Int(node.le16(4)), depth = Int(node.le16(6))
        guard depth == expectedDepth, depth <= Self.maxExtentDepth else {
            throw GuestFSError("ext4: inode \(i.number): extent tree depth \(depth) (expected \(expectedDepth), limit \(Self.maxExtentDepth))")
        }
        guard entries <= maxEntries, 12 + maxEntries * 12 <= node.count else {
            throw GuestFSError("ext4: inode \(i.number): extent node claims \(entries)/\(maxEntries) entries in \(node.count) bytes")
        }
        budget -= 1
        guard budget > 0 else { throw GuestFSError("ext4: inode \(i.number): extent tree too large") }
        if depth == 0 {
            for e in 0..<entries {
                let p = 12 + e * 12
                let logical = UInt64(node.le32(p))
                var len = UInt64(node.le16(p + 4))
                let initialized = len <= 32768
                if !initialized { len -= 32768 }
                let physical = UInt64(node.le16(p + 6)) << 32 | UInt64(node.le32(p + 8))
                let lo = max(logical, range.lowerBound), hi = min(logical + len, range.upperBound)
                guard lo < hi else { continue }
                Self.append(Run(logical: lo, physical: physical + (lo - logical), count: hi - lo,
                                initialized: initialized), to: &runs)
            }
            return
        }
        for e in 0..<entries {
            let p = 12 + e * 12
            let start = UInt64(node.le32(p))
            // An index entry covers logical blocks up to the next entry's start; clipping the child's
            // range to that span keeps the walk proportional to the range asked for.
            let next = e + 1 < entries ? UInt64(node.le32(p + 12)) : UInt64(UInt32.max) + 1
            let lo = max(start, range.lowerBound), hi = min(next, range.upperBound)
            guard lo < hi else { continue }
            let child = UInt64(node.le16(p + 8)) << 32 | UInt64(node.le32(p + 4))
            guard child > UInt64(superblock.firstDataBlock), child < blocksCount else {
                throw GuestFSError("ext4: inode \(i.number): extent index points to block \(child) outside the filesystem")
            }
            let block = try device.read(at: child * UInt64(blockSize), count: blockSize)
            try extentNode(i, block, isRoot: false, expectedDepth: depth - 1, range: lo..<hi, into: &runs, budget: &budget)
        }
    }

    /// ext2/ext3 block maps: 12 direct pointers, then single, double and triple indirect blocks.
    private func indirectRuns(_ i: Ext4Inode, range: Range<UInt64>, into runs: inout [Run]) throws(GuestFSError) {
        let iBlock = i.iBlock
        let per = UInt64(blockSize / 4)
        for l in range.clamped(to: 0..<12) {
            let p = UInt64(iBlock.le32(Int(l) * 4))
            if p != 0 { Self.append(Run(logical: l, physical: p, count: 1, initialized: true), to: &runs) }
        }
        var base: UInt64 = 12
        var span = per
        for level in 1...3 {
            let r = range.clamped(to: base..<(base + span))
            let ptr = UInt64(iBlock.le32((11 + level) * 4))
            if !r.isEmpty && ptr != 0 {
                try indirectBlock(i, ptr, level: level, base: base, range: r, per: per, into: &runs)
            }
            base += span
            span *= per
        }
    }

    private func indirectBlock(_ i: Ext4Inode, _ block: UInt64, level: Int, base: UInt64, range: Range<UInt64>,
                               per: UInt64, into runs: inout [Run]) throws(GuestFSError) {
        guard block > UInt64(superblock.firstDataBlock), block < blocksCount else {
            throw GuestFSError("ext4: inode \(i.number): indirect block \(block) outside the filesystem")
        }
        let buf = try device.read(at: block * UInt64(blockSize), count: blockSize)
        var entrySpan: UInt64 = 1
        for _ in 1..<level { entrySpan *= per }
        let firstIndex = (range.lowerBound - base) / entrySpan
        let lastIndex = (range.upperBound - 1 - base) / entrySpan
        for index in firstIndex...lastIndex {
            let p = UInt64(buf.le32(Int(index) * 4))
            guard p != 0 else { continue }
            let childBase = base + index * entrySpan
            if level == 1 {
                Self.append(Run(logical: childBase, physical: p, count: 1, initialized: true), to: &runs)
            } else {
                try indirectBlock(i, p, level: level - 1, base: childBase,
                                  range: range.clamped(to: childBase..<(childBase + entrySpan)), per: per, into: &runs)
            }
        }
    }

    /// Inline data: the 60 bytes of i_block followed by the value of the in-inode "system.data" xattr.
    func inlineData(_ i: Ext4Inode) throws(GuestFSError) -> [UInt8] {
        var data = i.iBlock
        if let extra = try inlineXattr(i) { data += extra }
        return data
    }

    private func inlineXattr(_ i: Ext4Inode) throws(GuestFSError) -> [UInt8]? {
        let raw = i.raw
        guard raw.count > 128 else { return nil }
        let start = 128 + Int(raw.le16(0x80))
        guard start + 4 <= raw.count, raw.le32(start) == 0xEA02_0000 else { return nil }
        let entries = start + 4
        var p = entries
        while p + 16 <= raw.count {
            let nameLen = Int(raw[p])
            if nameLen == 0 && raw.le32(p) == 0 { break }
            let index = raw[p + 1]
            let valueOffset = Int(raw.le16(p + 2))
            let valueInode = raw.le32(p + 4)
            let valueSize = Int(raw.le32(p + 8))
            guard p + 16 + nameLen <= raw.count else { break }
            if index == 7 && raw[(p + 16)..<(p + 16 + nameLen)].elementsEqual("data".utf8) {
                guard valueInode == 0 else {
                    throw GuestFSError("ext4: inode \(i.number): inline data stored in an xattr inode is not supported")
                }
                guard entries + valueOffset + valueSize <= raw.count else {
                    throw GuestFSError("ext4: inode \(i.number): inline data xattr value (\(valueSize) bytes at \(valueOffset)) outside the inode")
                }
                return Array(raw[(entries + valueOffset)..<(entries + valueOffset + valueSize)])
            }
            p += (16 + nameLen + 3) & ~3
        }
        return nil
    }

    // MARK: Directories

    public func readdir(_ ino: UInt64) throws(GuestFSError) -> [DirEntry] {
        var out: [DirEntry] = []
        try scanDirectory(ino) { entry in out.append(entry); return false }
        if !hasFiletype {
            // One unreadable inode should not hide the rest of the listing.
            for k in out.indices { out[k].type = (try? stat(out[k].inode).type) ?? .unknown }
        }
        return out
    }

    public func lookup(_ directory: UInt64, name: [UInt8]) throws(GuestFSError) -> UInt64? {
        try directoryIndexes.lookup(directory, name) { (add: (DirEntry) -> Void) throws(GuestFSError) in
            try scanDirectory(directory) { add($0); return false }
        }
    }

    /// Calls `body` for each live entry except "." and ".." until it returns true.
    private func scanDirectory(_ ino: UInt64, _ body: (DirEntry) -> Bool) throws(GuestFSError) {
        let i = try inode(ino)
        guard FileType(mode: UInt32(i.mode)) == .directory else {
            throw GuestFSError("ext4: inode \(ino) is not a directory")
        }
        if i.flags & Ext4Inode.flagInlineData != 0 {
            // i_block starts with the parent's inode number; entries follow, then continue in the xattr.
            let iBlock = i.iBlock
            if try parseEntries(i, iBlock, 4..<iBlock.count, body) { return }
            if let extra = try inlineXattr(i), !extra.isEmpty {
                _ = try parseEntries(i, extra, 0..<extra.count, body)
            }
            return
        }
        let bs = UInt64(blockSize)
        let blocks = i.size / bs + (i.size % bs == 0 ? 0 : 1)
        let chunkBlocks: UInt64 = 64
        var b: UInt64 = 0
        while b < blocks {
            let n = min(chunkBlocks, blocks - b)
            let data = try read(i, at: b * bs, count: Int(n * bs))
            var at = 0
            while at < data.count {
                let end = min(at + blockSize, data.count)
                if try parseEntries(i, data, at..<end, body) { return }
                at = end
            }
            b += n
        }
    }

    private func parseEntries(_ i: Ext4Inode, _ buf: [UInt8], _ region: Range<Int>,
                              _ body: (DirEntry) -> Bool) throws(GuestFSError) -> Bool {
        var p = region.lowerBound
        while p + 8 <= region.upperBound {
            let child = UInt64(buf.le32(p))
            var recLen = Int(buf.le16(p + 4))
            if blockSize >= 65536 && (recLen == 0 || recLen == 65535) { recLen = blockSize }
            let nameLen = hasFiletype ? Int(buf[p + 6]) : Int(buf.le16(p + 6))
            guard recLen >= 8, recLen % 4 == 0, p + recLen <= region.upperBound, 8 + nameLen <= recLen else {
                throw GuestFSError("ext4: inode \(i.number): directory entry at offset \(p) has record length \(recLen), name length \(nameLen)")
            }
            if child != 0 {
                guard child <= UInt64(superblock.inodesCount) else {
                    throw GuestFSError("ext4: inode \(i.number): directory entry points to inode \(child) beyond \(superblock.inodesCount)")
                }
                let name = Array(buf[(p + 8)..<(p + 8 + nameLen)])
                let isDot = name == [0x2E] || name == [0x2E, 0x2E]
                if !isDot && !name.isEmpty {
                    let type: FileType = hasFiletype ? Self.direntType(buf[p + 7]) : .unknown
                    if body(DirEntry(nameBytes: name, inode: child, type: type)) { return true }
                }
            }
            p += recLen
        }
        return false
    }

    static func direntType(_ t: UInt8) -> FileType {
        switch t {
        case 1: .regular
        case 2: .directory
        case 3: .characterDevice
        case 4: .blockDevice
        case 5: .fifo
        case 6: .socket
        case 7: .symlink
        default: .unknown
        }
    }

    // MARK: Symlinks

    public func readlink(_ ino: UInt64) throws(GuestFSError) -> [UInt8] {
        let i = try inode(ino)
        guard FileType(mode: UInt32(i.mode)) == .symlink else {
            throw GuestFSError("ext4: inode \(ino) is not a symbolic link")
        }
        guard i.size <= Self.maxSymlinkLength else {
            throw GuestFSError("ext4: inode \(ino): symlink length \(i.size) exceeds \(Self.maxSymlinkLength)")
        }
        let eaBlocks: UInt64 = i.raw.le32(0x68) != 0 || i.raw.le16(0x76) != 0 ? UInt64(blockSize / 512) : 0
        let used = UInt64(i.raw.le32(0x1C))
        // A fast symlink keeps its target in i_block and owns no data blocks.
        if i.flags & Ext4Inode.flagInlineData == 0, i.size < 60, used <= eaBlocks {
            return Array(i.iBlock[0..<Int(i.size)])
        }
        return try read(i, at: 0, count: Int(i.size))
    }
}

/// A decoded view over a raw on-disk inode.
struct Ext4Inode {
    static let flagHugeFile: UInt32 = 0x40000
    static let flagExtents: UInt32 = 0x80000
    static let flagInlineData: UInt32 = 0x1000_0000

    let number: UInt64
    let raw: [UInt8]

    var mode: UInt16 { raw.le16(0x0) }
    var linksCount: UInt16 { raw.le16(0x1A) }
    var flags: UInt32 { raw.le32(0x20) }
    var size: UInt64 { UInt64(raw.le32(0x4)) | UInt64(raw.le32(0x6C)) << 32 }
    var iBlock: [UInt8] { Array(raw[0x28..<0x64]) }
    var extraSize: Int { raw.count > 128 ? Int(raw.le16(0x80)) : 0 }

    /// A 32-bit signed seconds field plus, when the inode is large enough to hold it, the extra
    /// field: 2 epoch bits extending the seconds and 30 bits of nanoseconds.
    func time(_ offset: Int, extra: Int) -> FileTime {
        var seconds = Int64(Int32(bitPattern: raw.le32(offset)))
        var nanos: UInt32 = 0
        if extra + 4 <= 128 + extraSize, extra + 4 <= raw.count {
            let x = raw.le32(extra)
            seconds += Int64(x & 3) << 32
            nanos = x >> 2
        }
        return FileTime(seconds: seconds, nanoseconds: nanos)
    }
}

extension String {
    func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

extension Ext4Filesystem {
    /// From the superblock's counters. Linux also subtracts the metadata overhead it computes when
    /// s_overhead_clusters is 0 and sums the group descriptors' free counts.
}
