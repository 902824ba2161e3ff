// Read-only ISO 9660 reader with Rock Ridge and Joliet, answering as Linux's isofs does when mounted
// with default options (what libguestfs does):
// - Rock Ridge is used when the root's "." record carries an ER entry; otherwise a Joliet
//   supplementary tree is used when present; otherwise plain names (lower case, ";1" dropped).
// - Without Rock Ridge every file and directory is r-xr-xr-x, owned by 0:0, with one link.
// - Inode numbers are Linux's: the byte offset of the directory record divided by 32, with a
//   directory numbered by its own "." record (block << 6), so stat, lookup and readdir agree and
//   `ls -i` under Linux shows the same numbers. Hard links recorded by Rock Ridge keep their own
//   inode numbers and report PX's link count, as Linux shows them.
// - statfs is Linux's isofs_statfs: 2048-byte blocks, the volume space size, nothing free, and
//   f_files = f_ffree = 0 (the kernel sets s_ninodes to 0: "no way to figure this out easily").
// Every location is checked against the volume before it is read; continuation areas, file
// sections and directory sizes are bounded, and relocated directories are checked against loops.
// zisofs files are decompressed (ISO9660Zisofs.swift). Where this differs from Linux 6.1 (checked
// with virt-ls): times are 64-bit (Linux wraps dates past 2038 through an int), TF long-form
// (17-byte) times are decoded, interleaved files are refused on read rather than shown empty, and
// lookups are exact (Linux matches Joliet names case-insensitively).

import Foundation

public final class ISO9660Filesystem: Filesystem, @unchecked Sendable {
    // @unchecked: immutable after init except the caches, guarded by `cacheLock`.
    public enum Names: String, Sendable { case rockRidge, joliet, plain }

    public let typeName = "iso9660"
    // Set once in init (vars only because detection reads blocks through `self`).
    public private(set) var rootInode: UInt64 = 0
    /// Which names (and attributes) the reader presents.
    public private(set) var names: Names = .plain
    public let volumeLabel: String?
    /// The primary volume descriptor's creation and modification dates.
    public let creationTime: FileTime?
    public let modificationTime: FileTime?
    let device: any BlockDevice
    let volumeBlocks: UInt64
    private(set) var rootExtent: UInt64 = 0
    /// Linux decodes Rock Ridge entries everywhere except in a Joliet tree, even without an ER.
    private(set) var useRockRidge = false
    private(set) var suspSkip = 0

    static let blockSize: UInt64 = 2048
    /// Linux refuses files of more than 100 sections.
    static let maxSections = 100
    /// Bounds the work of listing one directory (about 400,000 entries).
    static let maxDirectoryBytes: UInt64 = 64 << 20
    private static let descriptorStart: UInt64 = 16
    /// Linux looks at volume descriptors in blocks 16 to 99.
    private static let descriptorEnd: UInt64 = 100

    private let cacheLock = NSLock()
    private var blockCache: [UInt64: [UInt8]] = [:]
    private static let maxCachedBlocks = 512
    private let directoryIndexes = DirectoryIndexCache()

    public init(device: any BlockDevice) throws(GuestFSError) {
        self.device = device
        let bs = Self.blockSize
        guard device.size >= (Self.descriptorStart + 1) * bs else {
            throw GuestFSError("iso9660: device of \(device.size) bytes is too small for a volume descriptor")
        }
        var primary: [UInt8]?
        var joliet: [UInt8]?
        var sector = Self.descriptorStart
        scan: while sector < Self.descriptorEnd, (sector + 1) * bs <= device.size {
            let d = try device.read(at: sector * bs, count: Int(bs))
            guard d[1..<6].elementsEqual("CD001".utf8) else {
                if sector == Self.descriptorStart {
                    throw GuestFSError("iso9660: no volume descriptor (CD001) at block 16")
                }
                break
            }
            switch d[0] {
            case 255: break scan
            case 1: if primary == nil { primary = d }
            case 2:
                // Joliet: escape sequence %/@, %/C or %/E (UCS-2 levels 1 to 3).
                if joliet == nil, d[88] == 0x25, d[89] == 0x2F, [0x40, 0x43, 0x45].contains(d[90]) { joliet = d }
            default: break
            }
            sector += 1
        }
        guard let descriptor = primary ?? joliet else {
            throw GuestFSError("iso9660: no primary or Joliet volume descriptor in blocks 16-\(sector)")
        }
        let logical = descriptor.le16(128)
        guard UInt64(logical) == bs else {
            throw GuestFSError("iso9660: logical block size \(logical) is not supported (only 2048)")
        }
        volumeBlocks = UInt64(descriptor.le32(80))
        let deviceBlocks = device.size / bs
        guard volumeBlocks > Self.descriptorStart, volumeBlocks <= deviceBlocks else {
            throw GuestFSError("iso9660: volume of \(volumeBlocks) blocks does not fit a device of \(deviceBlocks) blocks (truncated image?)")
        }
        let label = String(decoding: descriptor.bytes(40, 32), as: UTF8.self).trimmingSpaces()
        volumeLabel = label.isEmpty ? nil : label
        creationTime = ISODate.long(descriptor.bytes(813, 17))
        modificationTime = ISODate.long(descriptor.bytes(830, 17))

        var names: Names = primary == nil ? .joliet : .plain
        var skip = 0
        var root = try Self.rootDirectory(of: descriptor, volumeBlocks: volumeBlocks)
        if primary != nil {
            // Rock Ridge is announced by an ER entry in the root's "." (found through CE if need be).
            let info = try rockRidge(dotRecord(root), skip: nil)
            skip = info.spSkip ?? 0
            if info.hasExtensionReference {
                names = .rockRidge
            } else if let joliet {
                names = .joliet
                root = try Self.rootDirectory(of: joliet, volumeBlocks: volumeBlocks)
            }
        }
        _ = try dotRecord(root)
        self.names = names
        rootExtent = root
        suspSkip = skip
        useRockRidge = names != .joliet
        rootInode = root << 6
    }

    /// The root directory's first block, from a volume descriptor's root record.
    private static func rootDirectory(of descriptor: [UInt8], volumeBlocks: UInt64) throws(GuestFSError) -> UInt64 {
        guard let root = try ISORecord(sector: descriptor, at: 156, sectorPosition: 0), root.isDirectory,
              root.extent < volumeBlocks else {
            throw GuestFSError("iso9660: volume descriptor's root directory record is invalid or outside the volume")
        }
        return root.extent
    }

    // MARK: Blocks and records

    /// One logical block of the volume, cached.
    func block(_ n: UInt64) throws(GuestFSError) -> [UInt8] {
        guard n < volumeBlocks else {
            throw GuestFSError("iso9660: block \(n) lies outside the volume (\(volumeBlocks) blocks)")
        }
        cacheLock.lock()
        let cached = blockCache[n]
        cacheLock.unlock()
        if let cached { return cached }
        let data = try device.read(at: n * Self.blockSize, count: Int(Self.blockSize))
        cacheLock.lock()
        if blockCache.count >= Self.maxCachedBlocks { blockCache.removeAll(keepingCapacity: true) }
        blockCache[n] = data
        cacheLock.unlock()
        return data
    }

    /// Throws unless `length` bytes from block `extent` lie inside the volume.
    private func checkExtent(_ extent: UInt64, _ length: UInt64, _ what: @autoclosure () -> String) throws(GuestFSError) {
        let blocks = length / Self.blockSize + (length % Self.blockSize == 0 ? 0 : 1)
        guard extent < volumeBlocks, blocks <= volumeBlocks - extent else {
            throw GuestFSError("iso9660: \(what()): \(length) bytes at block \(extent) run past the end of the volume (\(volumeBlocks) blocks)")
        }
    }

    /// The record an inode number names: the one starting in block `ino >> 6` at an offset whose
    /// 32-byte slot is `ino & 63`.
    func record(_ ino: UInt64) throws(GuestFSError) -> ISORecord {
        let blk = ino >> 6, slot = Int(ino & 63)
        guard blk < volumeBlocks else { throw GuestFSError("iso9660: inode \(ino) lies outside the volume") }
        let s = try block(blk)
        var p = 0
        // Step over the records before the slot by their length bytes; only the one asked for is decoded.
        while p < s.count, p >> 5 <= slot, s[p] >= 34 {
            if p >> 5 == slot, let r = try ISORecord(sector: s, at: p, sectorPosition: blk * Self.blockSize) { return r }
            p += Int(s[p])
        }
        throw GuestFSError("iso9660: no directory record for inode \(ino)")
    }

    /// The "." record that starts directory extent `extent`: the directory's own attributes and size.
    func dotRecord(_ extent: UInt64) throws(GuestFSError) -> ISORecord {
        let s = try block(extent)
        guard let dot = try ISORecord(sector: s, at: 0, sectorPosition: extent * Self.blockSize),
              dot.isDot, dot.isDirectory, dot.extent == extent else {
            throw GuestFSError("iso9660: directory at block \(extent) does not begin with its own \".\" record")
        }
        try checkExtent(extent, dot.dataLength, "directory at block \(extent)")
        guard dot.dataLength <= Self.maxDirectoryBytes else {
            throw GuestFSError("iso9660: directory at block \(extent) claims \(dot.dataLength) bytes (limit \(Self.maxDirectoryBytes))")
        }
        return dot
    }

    func susp(_ r: ISORecord) throws(GuestFSError) -> RockRidgeInfo {
        useRockRidge ? try rockRidge(r, skip: suspSkip) : RockRidgeInfo()
    }

    /// The "." of the directory a CL entry stands for. Like Linux, a relocated directory that is
    /// itself relocated is refused; the root can never be a relocation target.
    private func relocatedDot(_ target: UInt64, from r: ISORecord) throws(GuestFSError) -> (ISORecord, RockRidgeInfo) {
        guard target != rootExtent else {
            throw GuestFSError("iso9660: record at byte \(r.position): CL points to the root directory")
        }
        let dot = try dotRecord(target)
        let info = try susp(dot)
        guard info.childLink == nil else {
            throw GuestFSError("iso9660: relocated directory at block \(target) is itself relocated (recursive relocation)")
        }
        return (dot, info)
    }

    /// A directory inode's "." record: the inode's own record for a directory, or the relocated
    /// directory a CL placeholder stands for.
    private func directoryDot(_ ino: UInt64) throws(GuestFSError) -> ISORecord {
        let r = try record(ino)
        if r.isDirectory { return try dotRecord(r.extent) }
        if let target = try susp(r).childLink { return try relocatedDot(target, from: r).0 }
        throw GuestFSError("iso9660: inode \(ino) is not a directory")
    }

    /// The records of a multi-extent file, first to last (Linux: at most 100), which follow one
    /// another in the directory, possibly into its next block.
    private func sections(_ first: ISORecord) throws(GuestFSError) -> [ISORecord] {
        var out = [first]
        var current = first
        var pos = first.position + UInt64(first.length)
        var emptyBlocks = 0
        while current.isMultiExtent {
            guard out.count < Self.maxSections else {
                throw GuestFSError("iso9660: file at byte \(first.position) has more than \(Self.maxSections) sections")
            }
            let blk = pos / Self.blockSize, off = Int(pos % Self.blockSize)
            let s = try block(blk)
            guard let next = try ISORecord(sector: s, at: off, sectorPosition: blk * Self.blockSize) else {
                emptyBlocks += 1
                guard emptyBlocks <= Self.maxSections else {
                    throw GuestFSError("iso9660: file at byte \(first.position): its next section is missing")
                }
                pos = (blk + 1) * Self.blockSize
                continue
            }
            out.append(next)
            current = next
            pos = next.position + UInt64(next.length)
        }
        return out
    }

    // MARK: Filesystem

    public func stat(_ ino: UInt64) throws(GuestFSError) -> FileStat {
        let r = try record(ino)
        let info = try susp(r)
        if let target = info.childLink, !r.isDirectory {
            // Linux copies every attribute of the relocated directory into the placeholder.
            let (dot, dotInfo) = try relocatedDot(target, from: r)
            return try stat(dot, dotInfo, inode: ino)
        }
        if r.isDirectory && !r.isDot {
            let dot = try dotRecord(r.extent)
            return try stat(dot, susp(dot), inode: ino)
        }
        return try stat(r, info, inode: ino)
    }

    private func stat(_ r: ISORecord, _ info: RockRidgeInfo, inode: UInt64) throws(GuestFSError) -> FileStat {
        let isDir = r.isDirectory
        var size = r.dataLength
        if !isDir && r.isMultiExtent {
            size = try sections(r).reduce(0) { $0 + $1.dataLength }
        }
        let t = ISODate.short(r.date)
        var st = FileStat(inode: inode, type: isDir ? .directory : .regular, mode: isDir ? 0o040555 : 0o100555,
                          nlink: 1, uid: 0, gid: 0, size: size, blocks: (size + 511) >> 9,
                          atime: t, mtime: t, ctime: t, rdev: 0)
        if let mode = info.mode {
            let type = FileType(mode: mode)
            guard (type == .directory) == isDir else {
                throw GuestFSError("iso9660: record at byte \(r.position): Rock Ridge mode 0o\(String(mode, radix: 8)) contradicts its directory flag")
            }
            st.mode = mode
            st.type = type
        }
        if let n = info.nlink { st.nlink = UInt64(n) }
        if let u = info.uid { st.uid = u }
        if let g = info.gid { st.gid = g }
        if let c = info.ctime { st.ctime = c }
        if let m = info.mtime { st.mtime = m }
        if let a = info.atime { st.atime = a }
        if st.type == .characterDevice || st.type == .blockDevice, let dev = info.device {
            // Kernel dev_t (major << 20 | minor) to the new userspace encoding stat(2) returns.
            let major = dev >> 20, minor = dev & 0xFFFFF
            st.rdev = (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)
        }
        if st.type == .symlink { st.size = UInt64(info.symlink?.count ?? 0) }
        // Linux shows a zisofs file's uncompressed size (st_blocks stays that of the stored data).
        if st.type == .regular, let z = info.zisofs { st.size = z.size }
        return st
    }

    public func readdir(_ ino: UInt64) throws(GuestFSError) -> [DirEntry] {
        var out: [DirEntry] = []
        try scanDirectory(ino) { out.append($0) }
        return out
    }

    public func lookup(_ directory: UInt64, name: [UInt8]) throws(GuestFSError) -> UInt64? {
        try directoryIndexes.lookup(directory, name) { (add: (DirEntry) -> Void) throws(GuestFSError) in
            try scanDirectory(directory, add)
        }
    }

    /// Every visible entry of a directory, as Linux's readdir shows them: no "." and "..", no
    /// associated files, no Rock Ridge RE entries (relocated directories shown at their CL
    /// placeholders instead), and a multi-extent file once, under its first section's inode.
    private func scanDirectory(_ ino: UInt64, _ body: (DirEntry) -> Void) throws(GuestFSError) {
        let dir = try directoryDot(ino)
        var first: ISORecord?
        try records(of: dir) { r throws(GuestFSError) in
            if r.isMultiExtent {
                if first == nil { first = r }
                return
            }
            let head = first ?? r
            first = nil
            guard !r.isDot, !r.isDotDot, r.flags & ISORecord.flagAssociated == 0 else { return }
            var name: [UInt8]
            var type: FileType = r.isDirectory ? .directory : .regular
            var inode = r.isDirectory ? r.extent << 6 : head.inode
            switch names {
            case .joliet:
                name = r.jolietName
            case .rockRidge, .plain:
                let info = try susp(r)
                guard !info.relocated else { return }
                name = info.name.flatMap { $0.isEmpty ? nil : $0 } ?? r.mappedName
                if let target = info.childLink, !r.isDirectory {
                    try checkRelocation(target, placeholder: r, parent: dir)
                    type = .directory
                    inode = r.inode
                } else if let mode = info.mode {
                    type = FileType(mode: mode)
                }
            }
            guard !name.isEmpty else { return }
            body(DirEntry(nameBytes: name, inode: inode, type: type))
        }
    }

    /// A CL placeholder must not lead back to its own directory, and the relocated directory's
    /// ".." (PL) must name the directory holding the placeholder: relocations cannot form loops.
    private func checkRelocation(_ target: UInt64, placeholder r: ISORecord, parent dir: ISORecord) throws(GuestFSError) {
        let (dot, _) = try relocatedDot(target, from: r)
        guard target != dir.extent else {
            throw GuestFSError("iso9660: record at byte \(r.position): CL points back to its own directory")
        }
        let s = try block(target)
        if let dotdot = try ISORecord(sector: s, at: dot.length, sectorPosition: target * Self.blockSize), dotdot.isDotDot,
           let parent = try susp(dotdot).parentLink, parent != dir.extent {
            throw GuestFSError("iso9660: relocated directory at block \(target) names block \(parent) as its parent, but is linked from the directory at block \(dir.extent)")
        }
    }

    /// Calls `body` for each record of a directory, reading it 16 blocks at a time.
    private func records(of dir: ISORecord, _ body: (ISORecord) throws(GuestFSError) -> Void) throws(GuestFSError) {
        let bs = Self.blockSize
        let total = dir.dataLength
        let blocks = total / bs + (total % bs == 0 ? 0 : 1)
        var b: UInt64 = 0
        while b < blocks {
            let n = min(16, blocks - b)
            let data = try device.read(at: (dir.extent + b) * bs, count: Int(n * bs))
            for i in 0..<Int(n) {
                let blk = b + UInt64(i)
                let sector = Array(data[(i * Int(bs))..<((i + 1) * Int(bs))])
                let limit = Int(min(bs, total - blk * bs))
                var p = 0
                while p < limit, let r = try ISORecord(sector: sector, at: p, sectorPosition: (dir.extent + blk) * bs) {
                    try body(r)
                    p += r.length
                }
            }
            b += n
        }
    }

    public func read(_ ino: UInt64, at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        let r = try record(ino)
        guard !r.isDirectory else { throw GuestFSError("iso9660: inode \(ino) is a directory") }
        let info = try susp(r)
        guard info.childLink == nil else { throw GuestFSError("iso9660: inode \(ino) is a directory") }
        guard r.fileUnitSize == 0, r.interleaveGap == 0 else {
            throw GuestFSError("iso9660: inode \(ino): interleaved files (unit size \(r.fileUnitSize), gap \(r.interleaveGap)) are not supported")
        }
        let parts = try sections(r)
        if let z = info.zisofs { return try readZisofs(ino, parts, z, at: offset, count: count) }
        return try readStored(ino, parts, at: offset, count: count)
    }

    /// Bytes as stored in the file's sections.
    func readStored(_ ino: UInt64, _ parts: [ISORecord], at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        let total = parts.reduce(UInt64(0)) { $0 + $1.dataLength }
        guard count > 0, offset < total else { return [] }
        let end = offset + min(UInt64(count), total - offset)
        var out: [UInt8] = []
        out.reserveCapacity(Int(end - offset))
        var base: UInt64 = 0
        for (k, part) in parts.enumerated() {
            // Linux maps every section but the last in whole blocks; a ragged one would shift data.
            guard k == parts.count - 1 || part.dataLength % Self.blockSize == 0 else {
                throw GuestFSError("iso9660: inode \(ino): section \(k) of \(part.dataLength) bytes is not a whole number of blocks")
            }
            let lo = max(offset, base), hi = min(end, base + part.dataLength)
            if lo < hi {
                try checkExtent(part.extent, part.dataLength, "inode \(ino) section \(k)")
                out += try device.read(at: part.extent * Self.blockSize + (lo - base), count: Int(hi - lo))
            }
            base += part.dataLength
        }
        return out
    }

    public func readlink(_ ino: UInt64) throws(GuestFSError) -> [UInt8] {
        let st = try stat(ino)
        guard st.type == .symlink, let target = try susp(record(ino)).symlink else {
            throw GuestFSError("iso9660: inode \(ino) is not a symbolic link")
        }
        return target
    }

    public func statfs() throws(GuestFSError) -> FilesystemUsage {
        FilesystemUsage(blockSize: Self.blockSize, blocks: volumeBlocks, freeBlocks: 0, availableBlocks: 0,
                        files: 0, freeFiles: 0)
    }
}
