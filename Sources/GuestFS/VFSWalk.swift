// Tree walks and canonical paths over a VFS, for tools that list and describe files (guestfish's
// ll, find, du): directory children with mount points crossed, and realpath.

extension VFS.Node: Hashable {

    public func hash(into hasher: inout Hasher) {
        hasher.combine(mount)
        hasher.combine(inode)
    }
}

extension VFS {
    public func filesystem(_ node: Node) -> any Filesystem { mounts[node.mount].filesystem }

    /// Guest path components, "." dropped, ".." applied (never above the root).
    public static func components(_ path: String) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for c in split(Array(path.utf8)) {
            if c == [0x2E] { continue }
            if c == [0x2E, 0x2E] { _ = out.popLast(); continue }
            out.append(c)
        }
        return out
    }

    /// The entries of directory `node`, whose guest path is `components`, each with its node: a
    /// filesystem mounted on an entry replaces it, as the kernel shows mount points.
    public func children(of node: Node, at components: [[UInt8]]) throws(GuestFSError) -> [(entry: DirEntry, node: Node)] {
        try filesystem(node).readdir(node.inode).map { entry in
            let path = components + [entry.nameBytes]
            if let m = mounts.lastIndex(where: { $0.components == path }) {
                var e = entry
                e.inode = mounts[m].filesystem.rootInode
                e.type = .directory
                return (e, Node(mount: m, inode: e.inode))
            }
            return (entry, Node(mount: node.mount, inode: entry.inode))
        }
    }

    /// The canonical path of `path` with every symlink followed (realpath(3) inside the guest).
    public func realpath(_ path: String) throws(GuestFSError) -> String {
        var resolved: [[UInt8]] = []
        var pending = Array(Self.split(Array(path.utf8)).reversed())
        var hops = 0, steps = 0
        while let name = pending.popLast() {
            steps += 1
            guard steps <= Self.maxComponents else { throw GuestFSError("\(path): path too long (ENAMETOOLONG)") }
            if name == [0x2E] { continue }
            if name == [0x2E, 0x2E] { _ = resolved.popLast(); continue }
            let candidate = resolved + [name]
            let st = try lstat(Self.join(candidate))
            if st.type == .symlink {
                hops += 1
                guard hops <= Self.maxSymlinkHops else { throw GuestFSError("\(path): too many levels of symbolic links (ELOOP)") }
                let target = Array(try readlink(Self.join(candidate)).utf8)
                guard !target.isEmpty else { throw GuestFSError("\(path): empty symbolic link (ENOENT)") }
                if target.first == 0x2F { resolved.removeAll() }
                pending.append(contentsOf: Self.split(target).reversed())
                continue
            }
            if !pending.isEmpty, st.type != .directory, pending.contains(where: { $0 != [0x2E] }) {
                throw GuestFSError("\(path): not a directory (ENOTDIR)")
            }
            resolved.append(name)
        }
        return Self.join(resolved)
    }

    static func join(_ components: [[UInt8]]) -> String {
        "/" + components.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/")
    }
}
