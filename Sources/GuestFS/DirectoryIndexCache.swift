import Foundation

/// Name → inode indexes of looked-up directories, bounded by the total number of entries held. Path
/// resolution looks up many names in the same directories, so each directory is scanned once rather
/// than once per name (a 5,000-entry directory would otherwise cost 5,000 scans).
final class DirectoryIndexCache: @unchecked Sendable {
    // @unchecked: all state is guarded by `lock`.
    private let lock = NSLock()
    private var indexes: [UInt64: [[UInt8]: UInt64]] = [:]
    private var entries = 0
    static let maxEntries = 200_000

    /// The inode of `name` in `directory`; `scan` lists the directory's entries on first use (the
    /// first of duplicate names wins, as a linear lookup would find it).
    func lookup(_ directory: UInt64, _ name: [UInt8],
                scan: ((DirEntry) -> Void) throws(GuestFSError) -> Void) throws(GuestFSError) -> UInt64? {
        lock.lock()
        let cached = indexes[directory]
        lock.unlock()
        if let cached { return cached[name] }
        var index: [[UInt8]: UInt64] = [:]
        try scan { entry in
            if index[entry.nameBytes] == nil { index[entry.nameBytes] = entry.inode }
        }
        lock.lock()
        entries += index.count
        if entries > Self.maxEntries {
            indexes.removeAll(keepingCapacity: true)
            entries = index.count
        }
        indexes[directory] = index
        lock.unlock()
        return index[name]
    }
}
