// XFS directories: short-form (in the inode), block (one XDB3 block with its hash leaf), and
// leaf/node (XDD3 data blocks below 32 GiB, hash leaves and free index above). Lookups and
// listings scan the data blocks linearly, so the hash leaves and the da-btree are never needed.

extension XFSFilesystem {
    /// Directory data blocks live below this byte offset; leaf and free-index blocks above it.
    static let directoryLeafOffset: UInt64 = 32 << 30
    /// No directory has more data blocks than this (32 GiB of 64 KiB blocks would be 2^19).
    static let maxDirectoryBlocks = 1 << 19

    public func readdir(_ ino: UInt64) throws(GuestFSError) -> [DirEntry] {
        var out: [DirEntry] = []
        try scanDirectory(ino) { out.append($0) }
        if !superblock.hasFtype {
            // One unreadable inode should not hide the rest of the listing.
            for k in out.indices { out[k].type = (try? stat(out[k].inode).type) ?? .unknown }
        }
        return out
    }

    public func lookup(_ directory: UInt64, name: [UInt8]) throws(GuestFSError) -> UInt64? {
        try directoryIndexes.lookup(directory, name) { (add: (DirEntry) -> Void) throws(GuestFSError) in
            try scanDirectory(directory, add)
        }
    }

    /// Calls `body` for each entry except "." and "..", in on-disk order.
    private func scanDirectory(_ ino: UInt64, _ body: (DirEntry) -> Void) throws(GuestFSError) {
        let i = try inode(ino)
        guard FileType(mode: UInt32(i.mode)) == .directory else {
            throw GuestFSError("xfs: inode \(ino) is not a directory")
        }
        if i.format == Self.formatLocal {
            try shortForm(i, body)
            return
        }
        let map = try extents(i)
        let bs = UInt64(blockSize)
        let perDirBlock = UInt64(1) << UInt64(superblock.directoryBlockLog)
        let dataEnd = min(Self.directoryLeafOffset / bs, (i.size + bs - 1) / bs)
        // Logical start of every directory block that has at least one mapped block.
        var starts: [UInt64] = []
        for e in map where e.offset < dataEnd {
            guard !e.unwritten else {
                throw GuestFSError("xfs: inode \(ino): directory has an unwritten extent at block \(e.offset)")
            }
            var b = e.offset / perDirBlock * perDirBlock
            let end = min(e.offset + e.count, dataEnd)
            while b < end {
                if starts.last != b { starts.append(b) }
                guard starts.count <= Self.maxDirectoryBlocks else {
                    throw GuestFSError("xfs: inode \(ino): directory has more than \(Self.maxDirectoryBlocks) data blocks")
                }
                b += perDirBlock
            }
        }
        let size = superblock.directoryBlockSize
        for start in starts {
            let block = try readMapped(i, map, at: start * bs, count: size)
            try dataBlock(i, block, at: start, single: starts.count == 1, body)
        }
    }

    /// Short-form: count, count of 8-byte inode numbers, parent; then entries of name length,
    /// 2-byte offset hint, name, file type (with ftype), and a 4- or 8-byte inode number.
    private func shortForm(_ i: XFSInode, _ body: (DirEntry) -> Void) throws(GuestFSError) {
        let fork = i.dataFork
        guard i.size >= 6, i.size <= UInt64(fork.count) else {
            throw GuestFSError("xfs: inode \(i.number): short-form directory of \(i.size) bytes does not fit its \(fork.count)-byte fork")
        }
        let d = Array(fork[0..<Int(i.size)])
        let count = Int(d[0]), wide = d[1] != 0
        let inoSize = wide ? 8 : 4
        let ftype = superblock.hasFtype ? 1 : 0
        var p = 2 + inoSize
        for n in 0..<count {
            let nameLen = Int(d.byte(p))
            let end = p + 3 + nameLen + ftype + inoSize
            guard nameLen > 0, end <= d.count else {
                throw GuestFSError("xfs: inode \(i.number): short-form entry \(n) at offset \(p) (name length \(nameLen)) runs past the directory's \(d.count) bytes")
            }
            let name = Array(d[(p + 3)..<(p + 3 + nameLen)])
            let at = p + 3 + nameLen + ftype
            let child = wide ? d.be64(at) & 0x00FF_FFFF_FFFF_FFFF : UInt64(d.be32(at))
            let type = ftype == 1 ? Ext4Filesystem.direntType(d[p + 3 + nameLen]) : .unknown
            body(DirEntry(nameBytes: name, inode: child, type: type))
            p = end
        }
    }

    /// A data block: header (with the owner on v5), then 8-byte-aligned entries and free spaces,
    /// each ending in a tag holding its own offset. A block-form directory's only block ends in a
    /// hash leaf and a tail giving the leaf's length.
    private func dataBlock(_ i: XFSInode, _ b: [UInt8], at logical: UInt64, single: Bool,
                           _ body: (DirEntry) -> Void) throws(GuestFSError) {
        let v5 = superblock.isV5
        let magic = b.be32(0)
        let blockMagic: UInt32 = v5 ? 0x5844_4233 : 0x5844_3242  // "XDB3" / "XD2B"
        let dataMagic: UInt32 = v5 ? 0x5844_4433 : 0x5844_3244  // "XDD3" / "XD2D"
        let what = "inode \(i.number): directory block \(logical)"
        guard magic == dataMagic || (magic == blockMagic && single && logical == 0) else {
            throw GuestFSError("xfs: \(what) has magic 0x\(String(magic, radix: 16))")
        }
        if v5 && b.be64(40) != i.number {
            throw GuestFSError("xfs: \(what) belongs to inode \(b.be64(40))")
        }
        let header = v5 ? 64 : 16
        var end = b.count
        if magic == blockMagic {
            let leaves = Int(b.be32(b.count - 8))
            guard leaves <= (b.count - header - 8) / 8 else {
                throw GuestFSError("xfs: \(what): \(leaves) hash entries do not fit the block")
            }
            end = b.count - 8 - leaves * 8
        }
        let ftype = superblock.hasFtype ? 1 : 0
        var p = header
        while p < end {
            if b.be16(p) == 0xFFFF {
                let length = Int(b.be16(p + 2))
                guard length >= 8, length % 8 == 0, p + length <= end, Int(b.be16(p + length - 2)) == p else {
                    throw GuestFSError("xfs: \(what): free space at offset \(p) has length \(length)")
                }
                p += length
                continue
            }
            let nameLen = Int(b.byte(p + 8))
            let length = (8 + 1 + nameLen + ftype + 2 + 7) / 8 * 8
            guard nameLen > 0, p + length <= end, Int(b.be16(p + length - 2)) == p else {
                throw GuestFSError("xfs: \(what): entry at offset \(p) (name length \(nameLen)) is corrupt")
            }
            let name = Array(b[(p + 9)..<(p + 9 + nameLen)])
            if name != [0x2E] && name != [0x2E, 0x2E] {
                let type = ftype == 1 ? Ext4Filesystem.direntType(b[p + 9 + nameLen]) : .unknown
                body(DirEntry(nameBytes: name, inode: b.be64(p), type: type))
            }
            p += length
        }
    }
}
