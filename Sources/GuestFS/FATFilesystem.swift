// Read-only FAT12/FAT16/FAT32 reader with VFAT long names, showing what Linux's vfat driver shows
// when libguestfs mounts it with default options: owner 0:0, umask 022 (files 0755, read-only
// files 0555, directories 0755), local times taken as UTC, codepage 437, UTF-8 names,
// shortname=mixed, ASCII-case-insensitive lookups.
//
// FAT has no inodes: the root is inode 1 and every other file is named by the byte position of
// its 8.3 directory entry divided by 32, so readdir, lookup and stat agree and stay stable.
// Every cluster number read from the image is range-checked, and every chain walk is bounded by
// the cluster count with loop detection, so a hostile image can only make us throw.

import Foundation

public final class FATFilesystem: Filesystem, @unchecked Sendable {
    // @unchecked: everything is immutable after init except the caches, guarded by `lock`.
    public let typeName = "vfat"
    public let rootInode: UInt64 = 1
    public let boot: FATBootSector
    let device: any BlockDevice
    let clusterSize: UInt64
    /// The first FAT value meaning "end of chain"; the one below it marks a bad cluster.
    let endOfChain: UInt32

    private let lock = NSLock()
    private var fatChunks: [UInt64: [UInt8]] = [:]
    private var directories: [UInt64: Directory] = [:]
    private var rawEntries: [UInt64: [UInt8]] = [:]
    private var chains: [UInt64: Chain] = [:]
    private var freeClusterCount: UInt64?

    /// A multiple of 3 and 4, so neither a FAT12 entry pair nor a FAT32 entry straddles two chunks.
    static let fatChunkBytes: UInt64 = 96 * 1024
    static let maxCachedFatChunks = 64
    /// FAT's own limit of 65536 entries per directory; larger chains are refused, not read.
    static let maxDirectoryBytes: UInt64 = 65536 * 32
    static let maxCachedEntries = 200_000
    static let maxCachedChains = 32

    public init(device: any BlockDevice) throws(GuestFSError) {
        guard device.size >= 512 else {
            throw GuestFSError("fat: device of \(device.size) bytes is too small for a boot sector")
        }
        boot = try FATBootSector(device.read(at: 0, count: 512), deviceSize: device.size)
        self.device = device
        clusterSize = UInt64(boot.clusterSize)
        endOfChain = switch boot.kind {
        case .fat12: 0xFF8
        case .fat16: 0xFFF8
        case .fat32: 0x0FFF_FFF8
        }
    }

    // MARK: The FAT

    /// The FAT entry of cluster `n` (2 ≤ n < clusterCount + 2, checked by the caller).
    func fatEntry(_ n: UInt32) throws(GuestFSError) -> UInt32 {
        let offset = fatOffset(UInt64(n))
        return fatValue(try fatChunk(offset / Self.fatChunkBytes, cache: true), at: Int(offset % Self.fatChunkBytes), cluster: UInt64(n))
    }

    /// Where cluster `n`'s entry starts within the FAT.
    private func fatOffset(_ n: UInt64) -> UInt64 {
        switch boot.kind {
        case .fat12: n * 3 / 2
        case .fat16: n * 2
        case .fat32: n * 4
        }
    }

    /// Decodes cluster `n`'s entry found at `at` in `data` (FAT12 packs two entries in 3 bytes).
    private func fatValue(_ data: [UInt8], at: Int, cluster n: UInt64) -> UInt32 {
        switch boot.kind {
        case .fat12:
            let v = UInt32(data.le16(at))
            return n & 1 == 1 ? v >> 4 : v & 0xFFF
        case .fat16: return UInt32(data.le16(at))
        case .fat32: return data.le32(at) & 0x0FFF_FFFF
        }
    }

    private func fatChunk(_ index: UInt64, cache: Bool) throws(GuestFSError) -> [UInt8] {
        if cache {
            lock.lock()
            let hit = fatChunks[index]
            lock.unlock()
            if let hit { return hit }
        }
        let start = index * Self.fatChunkBytes
        guard start < boot.fatBytes else { throw GuestFSError("fat: FAT offset \(start) past the FAT's \(boot.fatBytes) bytes") }
        let data = try device.read(at: boot.fatOffset + start, count: Int(min(Self.fatChunkBytes, boot.fatBytes - start)))
        if cache {
            lock.lock()
            if fatChunks.count >= Self.maxCachedFatChunks { fatChunks.removeAll(keepingCapacity: true) }
            fatChunks[index] = data
            lock.unlock()
        }
        return data
    }

    /// Clusters in a chain as contiguous runs; `failure` says why the chain stopped short.
    struct Chain {
        var runs: [(first: UInt32, count: UInt64)] = []
        /// Index of each run's first cluster within the chain, for binary search.
        var starts: [UInt64] = []
        var clusters: UInt64 = 0
        var failure: GuestFSError?

        mutating func append(_ c: UInt32) {
            if let last = runs.last, UInt64(last.first) + last.count == UInt64(c) {
                runs[runs.count - 1].count += 1
            } else {
                runs.append((c, 1)); starts.append(clusters)
            }
            clusters += 1
        }
    }

    /// Clusters already seen in one chain walk: a set while small, a bitmap over all clusters once
    /// the chain is long, so memory stays bounded by the volume's cluster count.
    struct VisitedClusters {
        private var small = Set<UInt32>()
        private var bits: [UInt64] = []
        let capacity: UInt32

        init(capacity: UInt32) { self.capacity = capacity }

        mutating func insert(_ c: UInt32) -> Bool {
            if bits.isEmpty {
                if small.count < 1 << 16 { return small.insert(c).inserted }
                bits = [UInt64](repeating: 0, count: Int(capacity / 64) + 1)
                for s in small { bits[Int(s / 64)] |= 1 << UInt64(s % 64) }
                small = []
            }
            let word = Int(c / 64), bit: UInt64 = 1 << UInt64(c % 64)
            if bits[word] & bit != 0 { return false }
            bits[word] |= bit
            return true
        }
    }

    /// Follows the chain from `start` for at most `limit` clusters. Files stop there (a longer
    /// chain is harmless, as in Linux); for a directory (`untilEnd`) reaching the limit is an error.
    func walkChain(from start: UInt32, limit: UInt64, untilEnd: Bool, what: String) throws(GuestFSError) -> Chain {
        var chain = Chain()
        var visited = VisitedClusters(capacity: boot.clusterCount + 2)
        let maxCluster = boot.clusterCount + 1
        var c = start
        while true {
            guard c >= 2, c <= maxCluster else {
                chain.failure = GuestFSError("fat: cluster chain of \(what) points to cluster \(c), outside 2-\(maxCluster)")
                break
            }
            guard visited.insert(c) else {
                chain.failure = GuestFSError("fat: cluster chain of \(what) loops at cluster \(c)")
                break
            }
            chain.append(c)
            if chain.clusters >= limit {
                if untilEnd, try fatEntry(c) < endOfChain {
                    chain.failure = GuestFSError("fat: directory \(what) is longer than \(limit) clusters")
                }
                break
            }
            let next = try fatEntry(c)
            if next >= endOfChain {
                if !untilEnd {
                    chain.failure = GuestFSError("fat: cluster chain of \(what) ends after \(chain.clusters) clusters, its size needs \(limit)")
                }
                break
            }
            if next == endOfChain - 1 {
                chain.failure = GuestFSError("fat: cluster chain of \(what) reaches a bad-cluster mark after cluster \(c)")
                break
            }
            if next == 0 {
                chain.failure = GuestFSError("fat: cluster chain of \(what) continues from cluster \(c) to a free cluster")
                break
            }
            c = next
        }
        return chain
    }

    /// Reads `count` bytes at `byteOffset` of the chain's data (the caller checked the chain is long enough).
    private func readClusters(_ chain: Chain, from byteOffset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        var pos = byteOffset
        let end = byteOffset + UInt64(count)
        // The run holding `pos`: the last one starting at or before its cluster index.
        var lo = 0, hi = chain.runs.count - 1
        let target = pos / clusterSize
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if chain.starts[mid] <= target { lo = mid } else { hi = mid - 1 }
        }
        var r = lo
        while pos < end, r < chain.runs.count {
            let run = chain.runs[r]
            let runStart = chain.starts[r] * clusterSize
            let runEnd = runStart + run.count * clusterSize
            let piece = min(end, runEnd) - pos
            let physical = boot.dataOffset + (UInt64(run.first) - 2) * clusterSize + (pos - runStart)
            out += try device.read(at: physical, count: Int(piece))
            pos += piece
            r += 1
        }
        return out
    }

    // MARK: Entries and inodes

    /// The 32-byte 8.3 entry behind inode `ino`, checked to be a live file or directory entry.
    func entry(_ ino: UInt64) throws(GuestFSError) -> [UInt8] {
        lock.lock()
        let cached = rawEntries[ino]
        lock.unlock()
        if let cached { return cached }
        let (pos, overflow) = ino.multipliedReportingOverflow(by: 32)
        let rootEnd = boot.rootDirOffset + UInt64(boot.rootDirEntries) * 32
        let dataEnd = boot.dataOffset + UInt64(boot.clusterCount) * clusterSize
        guard !overflow, (pos >= boot.rootDirOffset && pos < rootEnd) || (pos >= boot.dataOffset && pos < dataEnd) else {
            throw GuestFSError("fat: inode \(ino) does not name a directory entry")
        }
        let e = try device.read(at: pos, count: 32)
        guard e[0] != 0, e[0] != 0xE5, e[11] & 0x08 == 0 else {
            throw GuestFSError("fat: inode \(ino) is not a live directory entry")
        }
        return e
    }

    private static func startCluster(_ e: [UInt8], fat32: Bool) -> UInt32 {
        UInt32(e.le16(26)) | (fat32 ? UInt32(e.le16(20)) << 16 : 0)
    }

    private func describe(_ ino: UInt64, _ e: [UInt8]) -> String {
        "\(String(decoding: FATNames.shortName(e), as: UTF8.self)) (inode \(ino))"
    }

    public func stat(_ ino: UInt64) throws(GuestFSError) -> FileStat {
        let epoch = FileTime(seconds: 0)
        if ino == rootInode {
            let dir = try directory(ino)
            return FileStat(inode: ino, type: .directory, mode: 0o40755, nlink: dir.subdirectories + 2,
                            uid: 0, gid: 0, size: dir.size, blocks: blocks(dir.size),
                            atime: epoch, mtime: epoch, ctime: epoch, rdev: 0)
        }
        let e = try entry(ino)
        let mtime = Self.time(date: e.le16(24), time: e.le16(22))
        let atime = Self.time(date: e.le16(18), time: 0)
        if e[11] & 0x10 != 0 {
            let dir = try directory(ino)
            return FileStat(inode: ino, type: .directory, mode: 0o40755, nlink: dir.subdirectories,
                            uid: 0, gid: 0, size: dir.size, blocks: blocks(dir.size),
                            atime: atime, mtime: mtime, ctime: mtime, rdev: 0)
        }
        let size = UInt64(e.le32(28))
        // Linux drops the write bits of files with the read-only attribute.
        let mode: UInt32 = e[11] & 0x01 != 0 ? 0o100555 : 0o100755
        return FileStat(inode: ino, type: .regular, mode: mode, nlink: 1, uid: 0, gid: 0,
                        size: size, blocks: blocks(size), atime: atime, mtime: mtime, ctime: mtime, rdev: 0)
    }

    /// st_blocks as Linux computes it: the size rounded up to whole clusters, in 512-byte units.
    private func blocks(_ size: UInt64) -> UInt64 {
        (size + clusterSize - 1) / clusterSize * clusterSize / 512
    }

    /// A FAT date and time as Linux's fat_time_fat2unix reads them (tz offset 0, the appliance's),
    /// including its clamping of month and day 0 to 1 and its treatment of 2100 as no leap year.
    static func time(date: UInt16, time: UInt16) -> FileTime {
        let year = Int64(date >> 9)
        let month = max(1, Int(date >> 5 & 0xF))
        let day = max(1, Int64(date & 0x1F)) - 1
        let daysBeforeMonth: [Int64] = [0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 0, 0, 0]
        var leapDays = (year + 3) / 4
        if year > 120 { leapDays -= 1 }
        if year & 3 == 0 && year != 120 && month > 2 { leapDays += 1 }
        var seconds = Int64(time & 0x1F) * 2 + Int64(time >> 5 & 0x3F) * 60 + Int64(time >> 11) * 3600
        seconds += (year * 365 + leapDays + daysBeforeMonth[month] + day + 3652) * 86400
        return FileTime(seconds: seconds)
    }

    // MARK: Directories

    struct Directory {
        var entries: [DirEntry] = []
        /// ASCII-folded long and 8.3 names to inodes; the first entry with a name wins.
        var index: [[UInt8]: UInt64] = [:]
        var size: UInt64 = 0
        /// Entries with the directory attribute, "." and ".." included (Linux's fat_subdirs).
        var subdirectories: UInt64 = 0
    }

    func directory(_ ino: UInt64) throws(GuestFSError) -> Directory {
        lock.lock()
        let cached = directories[ino]
        lock.unlock()
        if let cached { return cached }
        let (data, positions) = try directoryBytes(ino)
        let size = UInt64(data.count)
        var dir = Directory()
        dir.size = size
        var raws: [(UInt64, [UInt8])] = []
        var segment = 0
        Self.parse(data) { k, name, short, e in
            while segment + 1 < positions.count && positions[segment + 1].index <= k { segment += 1 }
            let ino = (positions[segment].offset + UInt64(k - positions[segment].index) * 32) / 32
            if e[11] & 0x10 != 0 { dir.subdirectories += 1 }
            guard let name, name != [0x2E], name != [0x2E, 0x2E] else { return }
            raws.append((ino, e))
            dir.entries.append(DirEntry(nameBytes: name, inode: ino, type: e[11] & 0x10 != 0 ? .directory : .regular))
            let key = FATNames.foldKey(name), shortKey = FATNames.foldKey(short)
            if dir.index[key] == nil { dir.index[key] = ino }
            if dir.index[shortKey] == nil { dir.index[shortKey] = ino }
        }
        lock.lock()
        if rawEntries.count + raws.count > Self.maxCachedEntries {
            rawEntries.removeAll(keepingCapacity: true)
            directories.removeAll(keepingCapacity: true)
        }
        for (i, e) in raws { rawEntries[i] = e }
        directories[ino] = dir
        lock.unlock()
        return dir
    }

    /// The 11-byte volume label stored as an entry of the root directory, found as blkid finds it:
    /// the first live entry with the volume attribute (not a long-name slot, not a directory, no
    /// clusters) before the end-of-directory mark. Volumes relabelled by Windows keep "NO NAME" in
    /// the boot sector and the label only here.
    public func rootDirectoryLabel() throws(GuestFSError) -> [UInt8]? {
        let data = try directoryBytes(rootInode).0
        for k in 0..<(data.count / 32) {
            let e = Array(data[(k * 32)..<(k * 32 + 32)])
            if e[0] == 0 { break }
            if e[0] == 0xE5 || e.le16(20) != 0 || e.le16(26) != 0 || e[11] & 0x3F == 0x0F { continue }
            if e[11] & 0x18 == 0x08 { return Array(e[0..<11]) }
        }
        return nil
    }

    /// A directory's bytes and where its pieces lie on the device (entry index → byte offset).
    private func directoryBytes(_ ino: UInt64) throws(GuestFSError) -> ([UInt8], [(index: Int, offset: UInt64)]) {
        var segments: [(offset: UInt64, length: UInt64)] = []
        var size: UInt64 = 0
        if ino == rootInode && boot.kind != .fat32 {
            size = UInt64(boot.rootDirEntries) * 32
            segments = [(boot.rootDirOffset, size)]
        } else {
            let start: UInt32
            let what: String
            if ino == rootInode {
                start = boot.rootCluster; what = "/"
            } else {
                let e = try entry(ino)
                guard e[11] & 0x10 != 0 else { throw GuestFSError("fat: \(describe(ino, e)) is not a directory") }
                start = Self.startCluster(e, fat32: boot.kind == .fat32)
                what = describe(ino, e)
            }
            // A subdirectory without clusters is empty rather than an alias of the root.
            if start != 0 {
                let chain = try walkChain(from: start, limit: max(1, Self.maxDirectoryBytes / clusterSize),
                                          untilEnd: true, what: what)
                if let failure = chain.failure { throw failure }
                size = chain.clusters * clusterSize
                for run in chain.runs {
                    segments.append((boot.dataOffset + (UInt64(run.first) - 2) * clusterSize, run.count * clusterSize))
                }
            }
        }
        var data: [UInt8] = []
        data.reserveCapacity(Int(size))
        var positions: [(index: Int, offset: UInt64)] = []
        for s in segments {
            positions.append((data.count / 32, s.offset))
            data += try device.read(at: s.offset, count: Int(s.length))
        }
        return (data, positions)
    }

    /// Walks directory bytes the way Linux's __fat_readdir and fat_parse_long do, calling `body`
    /// with each live 8.3 entry's index, displayed name (nil when it has no 8.3 name to show), 8.3
    /// name and bytes. Long-name slots count only when their sequence and checksum hold; otherwise
    /// the 8.3 name is shown. Like Linux, a 0x00 first byte does not end the directory.
    static func parse(_ data: [UInt8], _ body: (Int, [UInt8]?, [UInt8], [UInt8]) -> Void) {
        let n = data.count / 32
        func entry(_ k: Int) -> [UInt8] { Array(data[(k * 32)..<(k * 32 + 32)]) }
        var k = 0
        outer: while k < n {
            let first = entry(k)
            if first[0] == 0xE5 { k += 1; continue }
            var longName: [UInt8]?
            if first[11] == 0x0F {
                var start = k, e = first
                parse: while true {
                    let id = e[0]
                    let slots = Int(id & 0xBF)
                    guard id & 0x40 != 0, slots >= 1, slots <= 20 else { k = start + 1; continue outer }
                    let sum = e[13]
                    var units = [UInt16](repeating: 0, count: slots * 13 + 1)
                    var slot = slots, j = start, current = e
                    while true {
                        slot -= 1
                        units.replaceSubrange((slot * 13)..<(slot * 13 + 13), with: FATNames.slotUnits(current))
                        if current[0] & 0x40 != 0 { units[slot * 13 + 13] = 0 }
                        j += 1
                        guard j < n else { break outer }
                        if slot == 0 { break }
                        current = entry(j)
                        if current[11] != 0x0F { k = j; continue outer }
                        if Int(current[0] & 0xBF) != slot || current[13] != sum { start = j; e = current; continue parse }
                    }
                    let short = entry(j)
                    if short[0] == 0xE5 { k = j + 1; continue outer }
                    if short[11] == 0x0F { start = j; e = short; continue parse }
                    if short[0] == 0 || short[11] & 0x08 != 0 { k = j + 1; continue outer }
                    k = j
                    if FATNames.checksum(short) == sum {
                        let name = FATNames.utf8(fromUTF16: units)
                        if !name.isEmpty { longName = name }
                    }
                    break parse
                }
            }
            let e = entry(k)
            k += 1
            if e[0] == 0 || e[0] == 0xE5 || e[11] & 0x08 != 0 { continue }
            let short = FATNames.shortName(e)
            body(k - 1, short.isEmpty ? nil : longName ?? short, short, e)
        }
    }

    public func readdir(_ ino: UInt64) throws(GuestFSError) -> [DirEntry] {
        try directory(ino).entries
    }

    public func lookup(_ directory: UInt64, name: [UInt8]) throws(GuestFSError) -> UInt64? {
        // Like vfat, trailing dots are ignored ("name." finds "name").
        var key = name
        while key.last == 0x2E { key.removeLast() }
        guard !key.isEmpty else { return nil }
        return try self.directory(directory).index[FATNames.foldKey(key)]
    }

    // MARK: File data

    public func read(_ ino: UInt64, at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        guard ino != rootInode else { throw GuestFSError("fat: / is a directory") }
        let e = try entry(ino)
        guard e[11] & 0x10 == 0 else { throw GuestFSError("fat: \(describe(ino, e)) is a directory") }
        let size = UInt64(e.le32(28))
        guard count > 0, offset < size else { return [] }
        let n = min(UInt64(count), size - offset)
        let chain = try fileChain(ino, e, size: size)
        let lastCluster = (offset + n - 1) / clusterSize
        guard lastCluster < chain.clusters else {
            throw chain.failure ?? GuestFSError("fat: \(describe(ino, e)): cluster chain too short")
        }
        return try readClusters(chain, from: offset, count: Int(n))
    }

    private func fileChain(_ ino: UInt64, _ e: [UInt8], size: UInt64) throws(GuestFSError) -> Chain {
        lock.lock()
        let cached = chains[ino]
        lock.unlock()
        if let cached { return cached }
        let start = Self.startCluster(e, fat32: boot.kind == .fat32)
        let needed = (size + clusterSize - 1) / clusterSize
        var chain = Chain()
        if start == 0 {
            chain.failure = GuestFSError("fat: \(describe(ino, e)) has \(size) bytes but no clusters")
        } else {
            chain = try walkChain(from: start, limit: needed, untilEnd: false, what: describe(ino, e))
        }
        lock.lock()
        if chains.count >= Self.maxCachedChains { chains.removeAll(keepingCapacity: true) }
        chains[ino] = chain
        lock.unlock()
        return chain
    }

    public func readlink(_ ino: UInt64) throws(GuestFSError) -> [UInt8] {
        throw GuestFSError("fat: inode \(ino) is not a symbolic link (FAT has none)")
    }

    // MARK: Space

    /// As Linux's fat_statfs: cluster-sized blocks, every data cluster, free clusters counted in
    /// the FAT (FSInfo's hint is not trusted), no inode counts.
    public func statfs() throws(GuestFSError) -> FilesystemUsage {
        lock.lock()
        let known = freeClusterCount
        lock.unlock()
        var free: UInt64 = 0
        if let known {
            free = known
        } else {
            let end = UInt64(boot.clusterCount) + 2
            var chunkIndex = UInt64.max
            var chunk: [UInt8] = []
            for n in UInt64(2)..<end {
                let offset = fatOffset(n)
                if offset / Self.fatChunkBytes != chunkIndex {
                    chunkIndex = offset / Self.fatChunkBytes
                    chunk = try fatChunk(chunkIndex, cache: false)
                }
                let value = fatValue(chunk, at: Int(offset % Self.fatChunkBytes), cluster: n)
                if value == 0 { free += 1 }
            }
            lock.lock()
            freeClusterCount = free
            lock.unlock()
        }
        return FilesystemUsage(blockSize: clusterSize, blocks: UInt64(boot.clusterCount), freeBlocks: free,
                               availableBlocks: free, files: 0, freeFiles: 0)
    }
}
