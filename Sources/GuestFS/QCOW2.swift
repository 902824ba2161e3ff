#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The parsed, validated qcow2 header (QEMU docs/interop/qcow2.txt), versions 2 and 3.
public struct QCOW2Header: Sendable, Equatable {
    public enum Compression: String, Sendable { case zlib, zstd }

    public var version: UInt32
    public var clusterBits: Int
    public var virtualSize: UInt64
    public var l1Size: Int
    public var l1TableOffset: UInt64
    public var backingFile: String?
    public var backingFormat: String?
    public var compression: Compression
    public var extendedL2: Bool
    public var dirty: Bool

    public var clusterSize: Int { 1 << clusterBits }
    /// Bytes per L2 entry: 16 with extended L2 (entry plus subcluster bitmap), else 8.
    var l2EntryBytes: Int { extendedL2 ? 16 : 8 }
    var l2Entries: Int { clusterSize / l2EntryBytes }

    static let magic: UInt32 = 0x5146_49fb
    // L1 tables above 32 MiB are rejected by QEMU too; this bounds what a header can make us read.
    static let maxL1Bytes = 32 << 20

    /// Parses the header and its extensions from the start of `file`.
    public static func parse(_ file: any BlockDevice, name: String) throws(GuestFSError) -> QCOW2Header {
        guard file.size >= 72 else { throw GuestFSError("qcow2: \(name): file of \(file.size) bytes is too short for a header") }
        let fixed = try file.read(at: 0, count: Int(min(file.size, 112)))
        var b = ImageBytes(fixed)
        guard b.be32(0) == magic else { throw GuestFSError("qcow2: \(name): bad magic") }
        let version = b.be32(4)
        guard version == 2 || version == 3 else {
            throw GuestFSError("qcow2: \(name): version \(version) is not supported (only 2 and 3)")
        }
        let clusterBits = Int(b.be32(20))
        guard (9...21).contains(clusterBits) else {
            throw GuestFSError("qcow2: \(name): cluster_bits \(clusterBits) outside 9...21")
        }
        let clusterSize = 1 << clusterBits
        let cryptMethod = b.be32(32)
        guard cryptMethod == 0 else {
            throw GuestFSError("qcow2: \(name): encrypted images (crypt_method \(cryptMethod)) are not supported")
        }

        // The header and its extensions live in the first cluster.
        let headerArea = Int(min(UInt64(clusterSize), file.size))
        let area = try file.read(at: 0, count: headerArea)
        b = ImageBytes(area)

        var headerLength = 72
        var incompatible: UInt64 = 0
        var compression = Compression.zlib
        if version == 3 {
            guard area.count >= 104 else { throw GuestFSError("qcow2: \(name): v3 header truncated") }
            incompatible = b.be64(72)
            headerLength = Int(b.be32(100))
            guard headerLength >= 104, headerLength <= area.count else {
                throw GuestFSError("qcow2: \(name): header_length \(headerLength) invalid")
            }
            if incompatible & (1 << 3) != 0 {
                guard headerLength > 104 else {
                    throw GuestFSError("qcow2: \(name): compression type bit set but header has no compression_type field")
                }
                switch area[104] {
                case 0: compression = .zlib
                case 1: compression = .zstd
                case let other: throw GuestFSError("qcow2: \(name): unknown compression type \(other)")
                }
            }
        }

        // Header extensions: type, length, data padded to 8 bytes, ending with type 0.
        var backingFormat: String?
        var featureNames: [Int: String] = [:]
        var hasExternalDataFile = false
        var pos = headerLength
        while pos + 8 <= area.count {
            let type = b.be32(pos), length = Int(b.be32(pos + 4))
            if type == 0 { break }
            guard length <= area.count - pos - 8 else {
                throw GuestFSError("qcow2: \(name): header extension 0x\(hex(type)) of \(length) bytes overruns the header cluster")
            }
            let data = Array(area[(pos + 8)..<(pos + 8 + length)])
            switch type {
            case 0xe279_2aca:
                backingFormat = ImageBytes.string(data)
            case 0x6803_f857:
                var e = 0
                while e + 48 <= data.count {
                    if data[e] == 0 { featureNames[Int(data[e + 1])] = ImageBytes.string(Array(data[(e + 2)..<(e + 48)])) }
                    e += 48
                }
            case 0x4441_5441:
                hasExternalDataFile = true
            case 0x0537_be77:
                throw GuestFSError("qcow2: \(name): encrypted images (LUKS header extension) are not supported")
            default:
                break  // bitmaps and unknown extensions do not change how data is read
            }
            pos += 8 + (length + 7) & ~7
        }

        if version == 3 {
            if incompatible & (1 << 2) != 0 || hasExternalDataFile {
                throw GuestFSError("qcow2: \(name): images with an external data file are not supported")
            }
            let known: UInt64 = 0b11011  // dirty, corrupt, compression type, extended L2
            let unknown = incompatible & ~known
            if unknown != 0 {
                let bit = unknown.trailingZeroBitCount
                let label = featureNames[bit].map { "\"\($0)\"" } ?? "bit \(bit)"
                throw GuestFSError("qcow2: \(name): unsupported incompatible feature \(label)")
            }
        }
        let extendedL2 = incompatible & (1 << 4) != 0

        let backingOffset = b.be64(8), backingLength = Int(b.be32(16))
        var backingFile: String?
        if backingOffset != 0 {
            guard backingLength <= 1023, backingOffset < UInt64(area.count),
                  backingLength <= area.count - Int(backingOffset) else {
                throw GuestFSError("qcow2: \(name): backing file name (\(backingLength) bytes at 0x\(hex(backingOffset))) lies outside the header cluster")
            }
            let start = Int(backingOffset)
            backingFile = String(decoding: area[start..<(start + backingLength)], as: UTF8.self)
        }

        var header = QCOW2Header(
            version: version, clusterBits: clusterBits, virtualSize: b.be64(24), l1Size: Int(b.be32(36)),
            l1TableOffset: b.be64(40), backingFile: backingFile, backingFormat: backingFormat,
            compression: compression, extendedL2: extendedL2, dirty: incompatible & 1 != 0)
        try header.validateL1(fileSize: file.size, name: name)
        if header.backingFile == "" { header.backingFile = nil }
        return header
    }

    private func validateL1(fileSize: UInt64, name: String) throws(GuestFSError) {
        // Each L1 entry maps one L2 table's worth of clusters; the table must cover the whole disk.
        let bytesPerL1Entry = UInt64(clusterSize) * UInt64(l2Entries)
        let needed = virtualSize / bytesPerL1Entry + (virtualSize % bytesPerL1Entry == 0 ? 0 : 1)
        guard UInt64(l1Size) >= needed else {
            throw GuestFSError("qcow2: \(name): L1 table of \(l1Size) entries is too small for a virtual size of \(virtualSize) bytes")
        }
        guard l1Size * 8 <= QCOW2Header.maxL1Bytes else {
            throw GuestFSError("qcow2: \(name): L1 table of \(l1Size) entries exceeds the 32 MiB limit")
        }
        guard l1TableOffset % UInt64(clusterSize) == 0 else {
            throw GuestFSError("qcow2: \(name): L1 table offset 0x\(hex(l1TableOffset)) is not cluster-aligned")
        }
        guard l1TableOffset <= fileSize, UInt64(l1Size * 8) <= fileSize - l1TableOffset else {
            throw GuestFSError("qcow2: \(name): L1 table offset 0x\(hex(l1TableOffset)) (\(l1Size) entries) beyond end of file")
        }
    }
}

/// A qcow2 image as a BlockDevice: L1/L2 lookups with a bounded L2 cache, zero and unallocated
/// clusters and subclusters, compressed clusters, and reads falling through to `backing`.
public final class QCOW2Image: BlockDevice, @unchecked Sendable {
    public let header: QCOW2Header
    public let file: ImageFile
    public let backing: (any BlockDevice)?
    public var size: UInt64 { header.virtualSize }

    private let l1: [UInt64]
    private let clusterMask: UInt64
    // Mutable caches behind one lock; every other property is immutable (hence @unchecked Sendable).
    private let lock = ImageLock()
    // L2 tables stay as read (big-endian bytes): a lookup decodes only the entry it needs.
    private var l2Cache: [(offset: UInt64, table: [UInt8], used: UInt64)] = []
    private var l2Clock: UInt64 = 0
    private let l2CacheCapacity: Int
    private var lastCompressed: (descriptor: UInt64, data: [UInt8])?

    static let offsetMask: UInt64 = 0x00ff_ffff_ffff_fe00  // bits 9-55 of L1 and L2 entries
    static let compressedFlag: UInt64 = 1 << 62

    public init(file: ImageFile, header: QCOW2Header, backing: (any BlockDevice)?) throws(GuestFSError) {
        self.file = file
        self.header = header
        self.backing = backing
        self.clusterMask = UInt64(header.clusterSize - 1)
        l1 = ImageBytes.bigEndianWords(try file.read(at: header.l1TableOffset, count: header.l1Size * 8))
        // Enough tables to map several GiB with 64 KiB clusters, and never more than ~8 MiB of them.
        l2CacheCapacity = max(4, min(64, (8 << 20) / header.clusterSize))
    }

    private enum Extent {
        case data(host: UInt64)
        case zero
        case unallocated
        case compressed(descriptor: UInt64)
    }

    public func read(at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else {
            throw GuestFSError("qcow2: \(file.path): read of \(count) bytes at \(offset) past the end of a \(size)-byte disk")
        }
        var out = [UInt8](repeating: 0, count: count)
        // Runs of physically contiguous data, and runs of unallocated clusters, become one read each.
        var dataRun: (host: UInt64, at: Int, length: Int)?
        var backingRun: (at: Int, length: Int)?
        var done = 0
        while done < count {
            let pos = offset + UInt64(done)
            let (extent, available) = try lookup(pos)
            let n = min(available, count - done)
            switch extent {
            case .data(let host):
                if let r = dataRun, r.host + UInt64(r.length) == host {
                    dataRun = (r.host, r.at, r.length + n)
                } else {
                    try flush(&dataRun, &backingRun, into: &out, offset: offset)
                    dataRun = (host, done, n)
                }
            case .unallocated:
                if let r = backingRun {
                    backingRun = (r.at, r.length + n)
                } else {
                    try flush(&dataRun, &backingRun, into: &out, offset: offset)
                    backingRun = (done, n)
                }
            case .zero:
                try flush(&dataRun, &backingRun, into: &out, offset: offset)  // `out` starts zeroed
            case .compressed(let descriptor):
                try flush(&dataRun, &backingRun, into: &out, offset: offset)
                let cluster = try decompress(descriptor)
                let inCluster = Int(pos & clusterMask)
                out.replaceSubrange(done..<(done + n), with: cluster[inCluster..<(inCluster + n)])
            }
            done += n
        }
        try flush(&dataRun, &backingRun, into: &out, offset: offset)
        return out
    }

    private func flush(_ dataRun: inout (host: UInt64, at: Int, length: Int)?, _ backingRun: inout (at: Int, length: Int)?,
                       into out: inout [UInt8], offset: UInt64) throws(GuestFSError) {
        if let r = dataRun { try readData(host: r.host, length: r.length, into: &out, at: r.at) }
        if let r = backingRun, let backing {
            // Past the end of a shorter backing image the disk reads as zeros.
            let pos = offset + UInt64(r.at)
            if pos < backing.size {
                let m = Int(min(UInt64(r.length), backing.size - pos))
                out.replaceSubrange(r.at..<(r.at + m), with: try backing.read(at: pos, count: m))
            }
        }
        dataRun = nil
        backingRun = nil
    }

    /// Where guest offset `pos` lives, and how many bytes from `pos` share that fate.
    private func lookup(_ pos: UInt64) throws(GuestFSError) -> (Extent, Int) {
        let inCluster = Int(pos & clusterMask)
        let toClusterEnd = header.clusterSize - inCluster
        let clusterIndex = pos >> UInt64(header.clusterBits)
        let l1Index = Int(clusterIndex / UInt64(header.l2Entries))
        let l2Index = Int(clusterIndex % UInt64(header.l2Entries))
        guard l1Index < l1.count else {
            throw GuestFSError("qcow2: \(file.path): offset \(pos) has no L1 entry")
        }
        let l2Offset = l1[l1Index] & QCOW2Image.offsetMask
        if l2Offset == 0 {  // no L2 table: the whole range it would map is unallocated
            let span = UInt64(header.clusterSize) * UInt64(header.l2Entries)
            return (.unallocated, Int(span - pos % span))
        }
        let table = try l2Table(at: l2Offset)
        let entry = QCOW2Image.word(table, l2Index * (header.extendedL2 ? 2 : 1))

        if entry & QCOW2Image.compressedFlag != 0 { return (.compressed(descriptor: entry), toClusterEnd) }
        let host = entry & QCOW2Image.offsetMask
        if host & clusterMask != 0 {
            throw GuestFSError("qcow2: \(file.path): L2 entry for offset \(pos) points to unaligned cluster 0x\(hex(host))")
        }
        if header.extendedL2 {
            let bitmap = QCOW2Image.word(table, l2Index * 2 + 1)
            let subclusterSize = header.clusterSize / 32
            let sub = inCluster / subclusterSize
            let toSubEnd = subclusterSize - inCluster % subclusterSize
            let allocated = bitmap >> UInt64(sub) & 1 != 0
            let zero = bitmap >> UInt64(32 + sub) & 1 != 0
            switch (allocated, zero) {
            case (true, true):
                throw GuestFSError("qcow2: \(file.path): subcluster \(sub) at offset \(pos) is both allocated and zero")
            case (false, true): return (.zero, toSubEnd)
            case (false, false): return (.unallocated, toSubEnd)
            case (true, false):
                guard host != 0 else {
                    throw GuestFSError("qcow2: \(file.path): allocated subcluster at offset \(pos) has no host cluster")
                }
                return (.data(host: host + UInt64(inCluster)), toSubEnd)
            }
        }
        if header.version >= 3 && entry & 1 != 0 { return (.zero, toClusterEnd) }
        if host == 0 { return (.unallocated, toClusterEnd) }
        return (.data(host: host + UInt64(inCluster)), toClusterEnd)
    }

    /// Reads guest data clusters; like QEMU, bytes of a last cluster that the file ends inside read as zeros.
    private func readData(host: UInt64, length: Int, into out: inout [UInt8], at index: Int) throws(GuestFSError) {
        // Clusters starting at or after the first cluster boundary past EOF are missing, not short.
        let fileEnd = (file.size + clusterMask) & ~clusterMask
        guard host < file.size, UInt64(length) <= fileEnd - host else {
            let missing = max(host & ~clusterMask, fileEnd)
            throw GuestFSError("qcow2: \(file.path): data cluster 0x\(hex(missing)) beyond end of file")
        }
        let m = Int(min(UInt64(length), file.size - host))
        try file.readFully(into: &out, range: index..<(index + m), at: host)
    }

    /// Big-endian word `index` of an L2 table (always in range: indexes come from `l2Entries`).
    private static func word(_ table: [UInt8], _ index: Int) -> UInt64 {
        table.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)) }
    }

    private func l2Table(at offset: UInt64) throws(GuestFSError) -> [UInt8] {
        if let hit = lock.withLock({ () -> [UInt8]? in
            guard let i = l2Cache.firstIndex(where: { $0.offset == offset }) else { return nil }
            l2Clock += 1
            l2Cache[i].used = l2Clock
            return l2Cache[i].table
        }) { return hit }

        let bytes = header.clusterSize
        guard offset & clusterMask == 0 else {
            throw GuestFSError("qcow2: \(file.path): L2 table offset 0x\(hex(offset)) is not cluster-aligned")
        }
        guard offset < file.size, UInt64(bytes) <= file.size - offset else {
            throw GuestFSError("qcow2: \(file.path): L2 table offset 0x\(hex(offset)) beyond end of file")
        }
        let table = try file.read(at: offset, count: bytes)
        lock.withLock {
            l2Clock += 1
            if l2Cache.count >= l2CacheCapacity,
               let victim = l2Cache.indices.min(by: { l2Cache[$0].used < l2Cache[$1].used }) {
                l2Cache.remove(at: victim)
            }
            l2Cache.append((offset, table, l2Clock))
        }
        return table
    }

    private func decompress(_ descriptor: UInt64) throws(GuestFSError) -> [UInt8] {
        if let cached = lock.withLock({ lastCompressed?.descriptor == descriptor ? lastCompressed?.data : nil }) {
            return cached
        }
        // Descriptor: host offset in the low x bits, (additional 512-byte sectors) in bits x...61.
        let x = UInt64(62 - (header.clusterBits - 8))
        let host = descriptor & ((1 << x) - 1)
        let sectors = (descriptor >> x) & ((1 << UInt64(header.clusterBits - 8)) - 1)
        let length = (sectors + 1) * 512 - (host & 511)
        guard host < file.size else {
            throw GuestFSError("qcow2: \(file.path): compressed cluster at 0x\(hex(host)) beyond end of file")
        }
        let input = try file.read(at: host, count: Int(min(length, file.size - host)))
        let data: [UInt8]
        switch header.compression {
        case .zlib: data = try QCOW2Decompress.inflateRaw(input, outputSize: header.clusterSize)
        case .zstd: data = try QCOW2Decompress.zstd(input, outputSize: header.clusterSize)
        }
        lock.withLock { lastCompressed = (descriptor, data) }
        return data
    }
}

/// A pthread mutex usable from Sendable classes (Synchronization.Mutex needs macOS 15).
final class ImageLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }
}
