import GuestFS

// The recursive walk behind `ls -lR`, `ls -R`, copy-out and tar-out: inode-based (one stat per
// entry, no path re-resolution), entering mounted filesystems, never following symlinks, children
// in byte order as guestfs_ls sorts them. Iterative, so a deep or cyclic hostile tree cannot
// overflow the stack or loop: a directory already open on the current path is reported, not entered.

struct GuestWalk {
    /// One visited file.
    struct Entry {
        /// Full guest path bytes ("/etc/fstab"; the start as given, minus one trailing slash).
        var path: [UInt8]
        /// Path relative to the start ("" for the start itself).
        var relative: ArraySlice<UInt8> { path[relativeStart...] }
        var relativeStart: Int
        var name: [UInt8]
        var stat: FileStat
        var node: VFS.Node
        var depth: Int
    }

    let vfs: VFS
    /// Mount index by mount point path bytes, for the mounts other than "/".
    private let mountPoints: [[UInt8]: Int]
    static let maxDepth = 4096

    init(vfs: VFS) {
        self.vfs = vfs
        var points: [[UInt8]: Int] = [:]
        for (i, m) in vfs.mounts.enumerated() where !m.components.isEmpty {
            points[Array(m.path.utf8)] = i
        }
        mountPoints = points
    }

    func filesystem(_ node: VFS.Node) -> any Filesystem { vfs.mounts[node.mount].filesystem }

    /// Sorted entries of a directory node (names as bytes, strcmp order).
    func children(_ node: VFS.Node) throws(GuestFSError) -> [DirEntry] {
        var entries = try filesystem(node).readdir(node.inode)
        entries.sort { $0.nameBytes.lexicographicallyPrecedes($1.nameBytes) }
        return entries
    }

    /// `display` of a user path as virt-ls's full_path prints it: one trailing slash dropped, except "/".
    static func displayPath(_ path: String) -> [UInt8] {
        var bytes = Array(path.utf8)
        if bytes.count > 1, bytes.last == 0x2F { bytes.removeLast() }
        return bytes
    }

    /// Visits `start` (lstat, so a symlink start is shown as the link) and, when it resolves to a
    /// directory, everything below it in pre-order. `visit` returns whether to descend into a
    /// directory entry. Errors inside the tree go to `failure` and the walk goes on; an error on
    /// the start itself is thrown.
    func walk(_ start: String, includeStart: Bool = true,
              visit: (Entry) throws(GuestFSError) -> Bool,
              failure: (String) -> Void) throws(GuestFSError) {
        let display = Self.displayPath(start)
        let relStart = display == [0x2F] ? 1 : display.count + 1
        let top = try vfs.resolve(start, followLast: false)
        let topStat = try filesystem(top).stat(top.inode)
        var root = top
        var rootStat = topStat
        if topStat.type == .symlink {
            root = try vfs.resolve(start, followLast: true)
            rootStat = try filesystem(root).stat(root.inode)
        }
        if includeStart {
            let entry = Entry(path: display, relativeStart: display.count, name: display.split(separator: 0x2F).last.map(Array.init) ?? [],
                              stat: topStat, node: top, depth: 0)
            guard try visit(entry) else { return }
        }
        guard rootStat.type == .directory else { throw GuestFSError("\(start): not a directory (ENOTDIR)") }
        // One frame per open directory: its path, sorted entries and the next index.
        struct Frame { var path: [UInt8]; var node: VFS.Node; var entries: [DirEntry]; var next: Int }
        var stack = [Frame(path: display == [0x2F] ? [] : display, node: root, entries: try children(root), next: 0)]
        while !stack.isEmpty {
            let t = stack.count - 1
            guard stack[t].next < stack[t].entries.count else { stack.removeLast(); continue }
            let dirent = stack[t].entries[stack[t].next]
            stack[t].next += 1
            var path = stack[t].path
            path.reserveCapacity(path.count + 1 + dirent.nameBytes.count)
            path.append(0x2F)
            path.append(contentsOf: dirent.nameBytes)
            var node = VFS.Node(mount: stack[t].node.mount, inode: dirent.inode)
            if !mountPoints.isEmpty, let m = mountPoints[path] {
                node = VFS.Node(mount: m, inode: vfs.mounts[m].filesystem.rootInode)
            }
            let st: FileStat
            do throws(GuestFSError) { st = try filesystem(node).stat(node.inode) } catch {
                failure(String(decoding: path, as: UTF8.self) + ": " + error.message)
                continue
            }
            let entry = Entry(path: path, relativeStart: relStart, name: dirent.nameBytes, stat: st, node: node, depth: stack.count)
            guard try visit(entry), st.type == .directory else { continue }
            if stack.contains(where: { $0.node == node }) {
                failure(String(decoding: path, as: UTF8.self) + ": directory cycle (hard link to an ancestor), not entered")
                continue
            }
            guard stack.count < Self.maxDepth else {
                failure(String(decoding: path, as: UTF8.self) + ": deeper than \(Self.maxDepth) levels, not entered")
                continue
            }
            do throws(GuestFSError) {
                stack.append(Frame(path: path, node: node, entries: try children(node), next: 0))
            } catch {
                failure(String(decoding: path, as: UTF8.self) + ": " + error.message)
            }
        }
    }
}

/// Appends fields to a reusable byte line, without String formatting per number.
struct LineBuilder {
    var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(512) }

    mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    mutating func append(_ s: String) { bytes.append(contentsOf: s.utf8) }
    mutating func append(bytes b: some Collection<UInt8>) { bytes.append(contentsOf: b) }
    mutating func append(byte: UInt8) { bytes.append(byte) }

    mutating func pad(_ count: Int, _ c: UInt8 = 0x20) {
        if count > 0 { bytes.append(contentsOf: repeatElement(c, count: count)) }
    }

    /// Decimal, right-aligned in `width` (padded with `fill`).
    mutating func decimal(_ value: Int64, width: Int = 0, fill: UInt8 = 0x20) {
        var digits: (UInt64, Bool) = (value.magnitude, value < 0)
        var tmp: [UInt8] = []
        tmp.reserveCapacity(20)
        repeat {
            tmp.append(0x30 + UInt8(digits.0 % 10)); digits.0 /= 10
        } while digits.0 > 0
        if digits.1 { tmp.append(0x2D) }
        pad(width - tmp.count, fill)
        bytes.append(contentsOf: tmp.reversed())
    }

    mutating func decimal(_ value: UInt64, width: Int = 0, fill: UInt8 = 0x20) {
        if value <= UInt64(Int64.max) { decimal(Int64(value), width: width, fill: fill) } else { let s = String(value); pad(width - s.utf8.count, fill); append(s) }
    }

    mutating func octal(_ value: UInt32, width: Int) {
        var tmp: [UInt8] = []
        var v = value
        repeat { tmp.append(0x30 + UInt8(v & 7)); v >>= 3 } while v > 0
        pad(width - tmp.count, 0x30)
        bytes.append(contentsOf: tmp.reversed())
    }
}
