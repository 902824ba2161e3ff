import Foundation
import DomainXML
#if canImport(Glibc)
import Glibc
#endif

/// Parsed domain XML files, reused while a file is unchanged. The files under the state root stay
/// the truth shared with other processes; this only avoids re-parsing them on every call, which
/// made lookups cost time proportional to the number of defined domains.
/// Every write under the root is an atomic rename, so a changed file has a new inode or ctime.
struct ParsedFileCache {
    private var entries: [String: (stamp: FileStamp, domain: Domain)] = [:]

    /// The parsed document at `path`; nil when it is missing or does not parse.
    mutating func domain(at path: String) -> Domain? {
        guard let stamp = FileStamp(path) else { entries[path] = nil; return nil }
        if let hit = entries[path], hit.stamp == stamp { return hit.domain }
        guard let text = FileIO.readString(path), let parsed = try? Domain(xml: text) else {
            entries[path] = nil
            return nil
        }
        entries[path] = stamp.isSettled ? (stamp, parsed) : nil
        return parsed
    }

    /// Forgets files not in `paths` (deleted domains), so the cache never outgrows the root.
    mutating func retain(only paths: Set<String>) {
        if entries.count > paths.count { entries = entries.filter { paths.contains($0.key) } }
    }
}

/// A file's (or directory's) identity and change times: equal stamps mean unchanged content,
/// given that every write under the root is an atomic rename (new inode, new directory mtime).
struct FileStamp: Equatable {
    var inode: UInt64, size: Int64
    var mtime: (Int, Int), ctime: (Int, Int)

    init?(_ path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        inode = UInt64(st.st_ino); size = Int64(st.st_size)
        mtime = (st.st_mtim.tv_sec, st.st_mtim.tv_nsec); ctime = (st.st_ctim.tv_sec, st.st_ctim.tv_nsec)
    }

    /// File times come from the kernel's coarse clock (a tick of a few ms), so two renames in one
    /// tick can leave equal stamps. As git does with racy index entries, trust a stamp only once
    /// it is clearly older than a tick.
    var isSettled: Bool {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let newest = max(mtime.0 * 1_000_000_000 + mtime.1, ctime.0 * 1_000_000_000 + ctime.1)
        return now.tv_sec * 1_000_000_000 + now.tv_nsec - newest >= 100_000_000
    }

    static func == (a: FileStamp, b: FileStamp) -> Bool {
        a.inode == b.inode && a.size == b.size && a.mtime == b.mtime && a.ctime == b.ctime
    }
}
