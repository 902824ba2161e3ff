// statfs for ext2/3/4 as Linux's ext4_statfs computes it (which is what df and virt-df print):
// the size excludes filesystem overhead (ext4_calculate_overhead), free counts come from the group
// descriptors (the superblock's counters may be stale), and "available" also holds back the
// root-reserved blocks and the kernel's own reserve (s_resv_clusters).

extension Ext4Filesystem {
    public func statfs() throws(GuestFSError) -> FilesystemUsage {
        let raw = try device.read(at: Ext4Superblock.offset, count: 1024)
        let sb = superblock
        let is64 = sb.featureIncompat & Ext4Superblock.incompat64bit != 0
        let bigalloc = sb.featureRoCompat & Ext4Superblock.roCompatBigalloc != 0
        let clusterBits = sb.clusterBits  // validated: at most 16
        let ratio = UInt64(1) << UInt64(clusterBits)
        let groups = Int(sb.groupCount)

        var freeClusters: UInt64 = 0
        var freeInodes: UInt64 = 0
        var metadata: [(blockBitmap: UInt64, inodeBitmap: UInt64, inodeTable: UInt64)] = []
        if bigalloc { metadata.reserveCapacity(groups) }
        try Self.forEachGroupDescriptor(device: device, sb: sb, groups: groups) { (_, block, d) throws(GuestFSError) in
            let wide = sb.descSize >= 64
            freeClusters &+= UInt64(block.le16(d + 0xC)) | (wide ? UInt64(block.le16(d + 0x2C)) << 16 : 0)
            freeInodes &+= UInt64(block.le16(d + 0xE)) | (wide ? UInt64(block.le16(d + 0x2E)) << 16 : 0)
            if bigalloc {
                func at(_ lo: Int, _ hi: Int) -> UInt64 { UInt64(block.le32(d + lo)) | (wide ? UInt64(block.le32(d + hi)) << 32 : 0) }
                metadata.append((at(0x0, 0x20), at(0x4, 0x24), at(0x8, 0x28)))
            }
        }

        // Blocks of inode table per group (s_itb_per_group).
        let itb = (UInt64(sb.inodesPerGroup) * UInt64(sb.inodeSize) + UInt64(sb.blockSize) - 1) / UInt64(sb.blockSize)
        var overhead: UInt64
        let stored = UInt64(raw.le32(0x248))
        if bigalloc && stored != 0 && stored <= sb.blocksCount {
            // Only with bigalloc does the kernel trust s_overhead_clusters; otherwise it recounts.
            overhead = stored
        } else {
            overhead = UInt64(sb.firstDataBlock) >> UInt64(clusterBits)
            if bigalloc {
                overhead &+= bigallocOverhead(metadata, itb: itb, clusterBits: clusterBits)
            } else {
                let reservedGdt = UInt64(raw.le16(0xCE))
                for g in 0..<UInt64(groups) {
                    let hasSuper = sb.hasSuperBackup(group: g)
                    overhead &+= (hasSuper ? 1 &+ reservedGdt : 0) &+ descriptorBlocks(group: g, hasSuper: hasSuper, groups: UInt64(groups))
                        &+ itb &+ 2
                }
            }
            overhead &+= (journalBlocks(inode: UInt64(raw.le32(0xE0))) + ratio - 1) >> UInt64(clusterBits)
        }

        let overheadBlocks = overhead.multipliedReportingOverflow(by: ratio)
        let blocks = overheadBlocks.overflow || overheadBlocks.partialValue > sb.blocksCount ? 0 : sb.blocksCount - overheadBlocks.partialValue
        let freeBlocks = freeClusters.multipliedReportingOverflow(by: ratio).overflow ? UInt64.max : freeClusters * ratio
        let rBlocks = UInt64(raw.le32(0x08)) | (is64 ? UInt64(raw.le32(0x154)) << 32 : 0)
        // ext4_calculate_resv_clusters: 2% of the clusters, at most 4096, and none without extents.
        let resvClusters = sb.featureIncompat & Ext4Superblock.incompatExtents != 0
            ? min((sb.blocksCount >> UInt64(clusterBits)) / 50, 4096) : 0
        let held = rBlocks &+ resvClusters * ratio
        return FilesystemUsage(blockSize: UInt64(blockSize), blocks: blocks, freeBlocks: freeBlocks,
                               availableBlocks: freeBlocks > held ? freeBlocks - held : 0,
                               files: UInt64(sb.inodesCount), freeFiles: freeInodes)
    }

    /// Descriptor blocks counted in a group (ext4_bg_num_gdb): the primary table and its backups,
    /// or with meta_bg one block in the first, second and last group of each meta group.
    private func descriptorBlocks(group: UInt64, hasSuper: Bool, groups: UInt64) -> UInt64 {
        let sb = superblock
        let perBlock = UInt64(sb.blockSize / sb.descSize)
        let metaBg = sb.featureIncompat & Ext4Superblock.incompatMetaBg != 0
        let metaGroup = group / perBlock
        if !metaBg || metaGroup < UInt64(sb.firstMetaBg) {
            guard hasSuper else { return 0 }
            return metaBg ? UInt64(sb.firstMetaBg) : (groups + perBlock - 1) / perBlock
        }
        let first = metaGroup * perBlock
        return group == first || group == first + 1 || group == first + perBlock - 1 ? 1 : 0
    }

    /// With bigalloc several metadata blocks can share a cluster, so the kernel counts the distinct
    /// clusters each group's metadata occupies (count_overhead). Metadata is bucketed by the group it
    /// lies in first, so this is linear in the number of groups.
    private func bigallocOverhead(_ metadata: [(blockBitmap: UInt64, inodeBitmap: UInt64, inodeTable: UInt64)],
                                  itb: UInt64, clusterBits: Int) -> UInt64 {
        let sb = superblock
        let bpg = UInt64(sb.blocksPerGroup)
        let first = UInt64(sb.firstDataBlock)
        var inGroup: [Int: Set<UInt64>] = [:]
        func mark(_ block: UInt64, length: UInt64, table: Bool) {
            guard block >= first, block < sb.blocksCount, length > 0 else { return }
            let g = (block - first) / bpg
            let start = first + g * bpg
            // As in the kernel: a bitmap counts in the group it lies in, an inode table only if it
            // ends before that group's last block.
            guard length <= bpg, block - start + length <= bpg - (table ? 1 : 0) else { return }
            let firstCluster = (block - start) >> UInt64(clusterBits)
            let lastCluster = (block - start + length - 1) >> UInt64(clusterBits)
            for c in firstCluster...lastCluster { inGroup[Int(g), default: []].insert(c) }
        }
        for m in metadata {
            mark(m.blockBitmap, length: 1, table: false)
            mark(m.inodeBitmap, length: 1, table: false)
            mark(m.inodeTable, length: itb, table: true)
        }
        var total: UInt64 = 0
        for g in 0..<UInt64(metadata.count) {
            var clusters = inGroup[Int(g)] ?? []
            var s: UInt64 = 0
            if sb.hasSuperBackup(group: g) { clusters.insert(0); s = 1 }
            let gdb = min(descriptorBlocks(group: g, hasSuper: s == 1, groups: UInt64(metadata.count)), bpg - s)
            for b in s..<(s + gdb) { clusters.insert(b >> UInt64(clusterBits)) }
            total &+= UInt64(clusters.count)
        }
        return total
    }

    /// Blocks of the internal journal (its inode's size), 0 without one or if it cannot be read.
    private func journalBlocks(inode inum: UInt64) -> UInt64 {
        guard superblock.featureCompat & Ext4Superblock.compatHasJournal != 0, inum != 0,
              let journal = try? inode(inum) else { return 0 }
        return journal.size >> UInt64(10 + superblock.logBlockSize)
    }
}
