// The FAT boot sector's BIOS parameter block, validated the way Linux's fat_fill_super does
// before anything else is read, plus the checks that the whole layout fits the device.

public struct FATBootSector: Sendable, Equatable {
    public enum Kind: String, Sendable { case fat12 = "FAT12", fat16 = "FAT16", fat32 = "FAT32" }

    public var kind: Kind
    public var bytesPerSector: Int
    public var sectorsPerCluster: Int
    public var clusterSize: Int { bytesPerSector * sectorsPerCluster }
    /// Byte offset and length of the first FAT (the one Linux reads).
    public var fatOffset: UInt64
    public var fatBytes: UInt64
    /// FAT12/16: the fixed root directory region. FAT32: 0, the root is a cluster chain.
    public var rootDirOffset: UInt64
    public var rootDirEntries: Int
    public var rootCluster: UInt32
    public var dataOffset: UInt64
    /// Data clusters; valid cluster numbers are 2 ..< clusterCount + 2.
    public var clusterCount: UInt32

    /// Linux's limits per FAT width (MAX_FAT12/16/32): more clusters than this cannot be addressed.
    static let maxClusters: [Kind: UInt32] = [.fat12: 0xFF4, .fat16: 0xFFF4, .fat32: 0x0FFF_FFF6]

    public init(_ b: [UInt8], deviceSize: UInt64) throws(GuestFSError) {
        guard b.count >= 512 else { throw GuestFSError("fat: boot sector is shorter than 512 bytes") }
        let bps = Int(b.le16(11))
        guard bps >= 512, bps <= 4096, bps & (bps - 1) == 0 else {
            throw GuestFSError("fat: boot sector: \(bps) bytes per sector is not a power of two in 512-4096")
        }
        let spc = Int(b.byte(13))
        guard spc > 0, spc & (spc - 1) == 0 else {
            throw GuestFSError("fat: boot sector: \(spc) sectors per cluster is not a power of two")
        }
        let reserved = UInt64(b.le16(14))
        guard reserved > 0 else { throw GuestFSError("fat: boot sector: no reserved sectors") }
        let fats = UInt64(b.byte(16))
        guard fats > 0 else { throw GuestFSError("fat: boot sector: the number of FATs is 0") }
        let media = b.byte(21)
        guard media == 0xF0 || media >= 0xF8 else {
            throw GuestFSError("fat: boot sector: invalid media byte 0x\(String(media, radix: 16))")
        }
        let rootEntries = Int(b.le16(17))
        let total16 = UInt64(b.le16(19))
        let totalSectors = total16 != 0 ? total16 : UInt64(b.le32(32))
        let fat16Length = UInt64(b.le16(22))
        // Linux decides FAT32 by the 16-bit FAT size being zero (the 32-bit one is then used);
        // FAT12 versus FAT16 by the cluster count, as the specification does.
        let isFat32 = fat16Length == 0
        let fatLength = isFat32 ? UInt64(b.le32(36)) : fat16Length
        guard fatLength > 0 else { throw GuestFSError("fat: boot sector: FAT size is 0 sectors") }
        if isFat32 {
            guard rootEntries == 0 else {
                throw GuestFSError("fat: boot sector: FAT32 volume with \(rootEntries) fixed root directory entries")
            }
        } else {
            guard rootEntries > 0, rootEntries * 32 % bps == 0 else {
                throw GuestFSError("fat: boot sector: \(rootEntries) root directory entries do not fill whole sectors")
            }
        }
        let rootSectors = UInt64(rootEntries * 32 / bps)
        // Every term is at most 2^32 sectors, so the sums below cannot overflow 64 bits.
        let dataStart = reserved + fats * fatLength + rootSectors
        guard totalSectors > dataStart else {
            throw GuestFSError("fat: boot sector: \(totalSectors) sectors leave no room for data after \(dataStart) sectors of metadata")
        }
        let sectorBytes = UInt64(bps)
        guard totalSectors <= deviceSize / sectorBytes else {
            throw GuestFSError("fat: boot sector claims \(totalSectors) sectors of \(bps) bytes but the device holds \(deviceSize) bytes (truncated image?)")
        }
        var clusters = (totalSectors - dataStart) / UInt64(spc)
        let kind: Kind = isFat32 ? .fat32 : clusters > UInt64(Self.maxClusters[.fat12] ?? 0) ? .fat16 : .fat12
        // Like Linux, never use more clusters than the FAT can describe.
        let fatBytes = fatLength * sectorBytes
        let fatEntries: UInt64 = switch kind {
        case .fat12: fatBytes * 2 / 3
        case .fat16: fatBytes / 2
        case .fat32: fatBytes / 4
        }
        guard fatEntries > 2 else { throw GuestFSError("fat: boot sector: the FAT is too small to describe any cluster") }
        clusters = min(clusters, fatEntries - 2)
        let limit = UInt64(Self.maxClusters[kind] ?? 0)
        guard clusters <= limit else {
            throw GuestFSError("fat: boot sector: \(clusters) clusters exceed the \(kind.rawValue) limit of \(limit)")
        }
        var rootCluster: UInt32 = 0
        if isFat32 {
            rootCluster = b.le32(44) & 0x0FFF_FFFF
            guard rootCluster >= 2, UInt64(rootCluster) < clusters + 2 else {
                throw GuestFSError("fat: boot sector: root directory cluster \(rootCluster) is outside 2-\(clusters + 1)")
            }
        }
        self.kind = kind
        bytesPerSector = bps
        sectorsPerCluster = spc
        fatOffset = reserved * sectorBytes
        self.fatBytes = fatBytes
        rootDirOffset = isFat32 ? 0 : (reserved + fats * fatLength) * sectorBytes
        rootDirEntries = rootEntries
        self.rootCluster = rootCluster
        dataOffset = dataStart * sectorBytes
        clusterCount = UInt32(clusters)
    }
}
