// Paths over one or more mounted filesystems, resolved entirely inside the guest tree: absolute
// symlink targets restart at the guest root, ".." at the root stays there, and nothing ever reaches
// the host filesystem.

public struct VFS: Sendable {
    public struct Mount: Sendable {
        /// Guest path components of the mount point ([] for "/").
        public var components: [[UInt8]]
        public var filesystem: any Filesystem
        public var path: String { "/" + components.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/") }
    }

    /// A file: which mount it lives on and its inode there.
    public struct Node: Sendable, Equatable {
        public var mount: Int
        public var inode: UInt64
        public init(mount: Int, inode: UInt64) { self.mount = mount; self.inode = inode }
    }

    public static let maxSymlinkHops = 40
    /// Bounds the work of resolving one path (components queued by symlink expansion included).
    static let maxComponents = 4096

    public private(set) var mounts: [Mount] = []

    public init() {}

    /// Mounts `filesystem` at the guest path `path`; "/" must be mounted before anything else is
    /// reachable. A later mount at the same path hides the earlier one.
    public mutating func mount(_ filesystem: any Filesystem, at path: String) {
        let components = Self.split(Array(path.utf8)).filter { $0 != [0x2E] && !$0.isEmpty }
        mounts.removeAll { $0.components == components }
        mounts.append(Mount(components: components, filesystem: filesystem))
    }

    public func stat(_ path: String) throws(GuestFSError) -> FileStat {
        let node = try resolve(path, followLast: true)
        return try fs(node).stat(node.inode)
    }

    public func lstat(_ path: String) throws(GuestFSError) -> FileStat {
        let node = try resolve(path, followLast: false)
        return try fs(node).stat(node.inode)
    }

    /// Entries in directory order, without "." and "..".
    public func readdir(_ path: String) throws(GuestFSError) -> [DirEntry] {
        let node = try resolve(path, followLast: true)
        let fs = fs(node)
        guard try fs.stat(node.inode).type == .directory else {
            throw GuestFSError("\(path): not a directory (ENOTDIR)")
        }
        return try fs.readdir(node.inode)
    }

    public func readlink(_ path: String) throws(GuestFSError) -> String {
        let node = try resolve(path, followLast: false)
        let fs = fs(node)
        guard try fs.stat(node.inode).type == .symlink else {
            throw GuestFSError("\(path): not a symbolic link (EINVAL)")
        }
        return String(decoding: try fs.readlink(node.inode), as: UTF8.self)
    }

    /// Streams a regular file in chunks of at most `chunkSize` bytes, so large files never sit in
    /// memory whole.
    public func readFile(_ path: String, chunkSize: Int = 1 << 20,
                         _ body: ([UInt8]) throws(GuestFSError) -> Void) throws(GuestFSError) {
        let node = try resolve(path, followLast: true)
        let fs = fs(node)
        let st = try fs.stat(node.inode)
        guard st.type == .regular else {
            throw GuestFSError("\(path): not a regular file (\(st.type.rawValue))")
        }
        var offset: UInt64 = 0
        let chunk = max(chunkSize, 1)
        while offset < st.size {
            let data = try fs.read(node.inode, at: offset, count: Int(min(UInt64(chunk), st.size - offset)))
            guard !data.isEmpty else { throw GuestFSError("\(path): short read at \(offset) of \(st.size)") }
            try body(data)
            offset += UInt64(data.count)
        }
    }

    /// The whole file, refused above `limit` bytes (images are untrusted and sizes can be huge).
    public func readFile(_ path: String, limit: UInt64 = 64 << 20) throws(GuestFSError) -> [UInt8] {
        let size = try stat(path).size
        guard size <= limit else { throw GuestFSError("\(path): \(size) bytes exceeds the \(limit)-byte limit") }
        var out: [UInt8] = []
        out.reserveCapacity(Int(size))
        try readFile(path) { out += $0 }
        return out
    }

    // MARK: Resolution

    func fs(_ node: Node) -> any Filesystem { mounts[node.mount].filesystem }

    static func split(_ path: [UInt8]) -> [[UInt8]] {
        path.split(separator: 0x2F, omittingEmptySubsequences: true).map(Array.init)
    }

    private func mountIndex(at components: [[UInt8]]) -> Int? {
        mounts.lastIndex { $0.components == components }
    }

    /// Resolves `path` (always from the guest root) to a node, following symlinks in every
    /// component and in the last one only when `followLast`.
    public func resolve(_ path: String, followLast: Bool) throws(GuestFSError) -> Node {
        guard let rootMount = mountIndex(at: []) else { throw GuestFSError("no filesystem mounted at /") }
        let root = Node(mount: rootMount, inode: mounts[rootMount].filesystem.rootInode)
        // The stack holds the directories walked so far (name, node): ".." pops it, so a path can
        // never climb above the guest root.
        var stack: [([UInt8], Node)] = []
        var pending = Array(Self.split(Array(path.utf8)).reversed())
        var hops = 0
        var steps = 0
        // A trailing slash makes the last component a directory, so its symlink is followed.
        let trailingSlash = path.utf8.last == 0x2F
        while let name = pending.popLast() {
            steps += 1
            guard steps <= Self.maxComponents else { throw GuestFSError("\(path): path too long (ENAMETOOLONG)") }
            if name == [0x2E] { continue }
            if name == [0x2E, 0x2E] { _ = stack.popLast(); continue }
            let dir = stack.last?.1 ?? root
            let dirFS = fs(dir)
            guard try dirFS.stat(dir.inode).type == .directory else {
                throw GuestFSError("\(path): not a directory (ENOTDIR)")
            }
            let components = stack.map(\.0) + [name]
            let node: Node
            if let m = mountIndex(at: components) {
                node = Node(mount: m, inode: mounts[m].filesystem.rootInode)
            } else if let ino = try dirFS.lookup(dir.inode, name: name) {
                node = Node(mount: dir.mount, inode: ino)
            } else {
                throw GuestFSError("\(path): no such file or directory (ENOENT)")
            }
            let isLast = pending.allSatisfy { $0 == [0x2E] }
            if (!isLast || followLast || trailingSlash), try fs(node).stat(node.inode).type == .symlink {
                hops += 1
                guard hops <= Self.maxSymlinkHops else {
                    throw GuestFSError("\(path): too many levels of symbolic links (ELOOP)")
                }
                let target = try fs(node).readlink(node.inode)
                guard !target.isEmpty else { throw GuestFSError("\(path): empty symbolic link (ENOENT)") }
                if target.first == 0x2F { stack.removeAll() }
                pending.append(contentsOf: Self.split(target).reversed())
                continue
            }
            stack.append((name, node))
        }
        return stack.last?.1 ?? root
    }
}
