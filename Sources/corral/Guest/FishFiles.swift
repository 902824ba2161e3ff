import Foundation
import GuestFS

// The file commands of `corral guest fish`, with the call names and messages libguestfs's daemon
// uses for each (cat is its download, ls its ls0, find its find0, stat its statns).

enum FishFiles {
    /// Bounds a single line held while head/tail look for its end (the daemon's protocol limit is 4 MiB).
    static let maxLine = 16 << 20
    /// Bounds find and du on hostile images with absurd trees.
    static let maxWalkEntries = 10_000_000

    static func ls(_ s: FishSession, _ path: String) throws {
        try s.needRoot("ls0", path)
        let entries: [DirEntry]
        do { entries = try s.vfs.readdir(path) } catch { throw FishSession.pathError("ls0", "opendir", path, error) }
        for name in entries.map(\.nameBytes).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            s.out.write(bytes: name + [0x0A])
        }
    }

    /// guestfish's ll runs `ls -la` on the path with its symlinks resolved; a non-directory is one
    /// line named by its appliance path (/sysroot/...).
    static func ll(_ s: FishSession, _ path: String) throws {
        try s.needRoot("ll", path)
        let now = Int64(Date().timeIntervalSince1970)
        do {
            let real = try s.vfs.realpath(path)
            let node = try s.vfs.resolve(real, followLast: false)
            let fs = s.vfs.filesystem(node)
            let st = try fs.stat(node.inode)
            guard st.type == .directory else {
                let line = FishListing.Line(name: Array(("/sysroot" + (real == "/" ? "" : real)).utf8), stat: st,
                                            target: st.type == .symlink ? try fs.readlink(node.inode) : nil)
                s.out.write(bytes: FishListing.long([line], now: now, total: false) + [0x0A])
                return
            }
            let components = VFS.components(real)
            // At the guest root ".." is the root itself (libguestfs shows its appliance's / there).
            let parent = components.isEmpty ? node : try s.vfs.resolve(real + "/..", followLast: true)
            var lines = [FishListing.Line(name: [0x2E], stat: st, target: nil),
                         FishListing.Line(name: [0x2E, 0x2E], stat: try s.vfs.filesystem(parent).stat(parent.inode), target: nil)]
            for child in try s.vfs.children(of: node, at: components) {
                let cfs = s.vfs.filesystem(child.node)
                let cst = try cfs.stat(child.node.inode)
                lines.append(FishListing.Line(name: child.entry.nameBytes, stat: cst,
                                              target: cst.type == .symlink ? try cfs.readlink(child.node.inode) : nil))
            }
            s.out.write(bytes: FishListing.long(lines, now: now, total: true) + [0x0A])
        } catch {
            throw FishSession.pathError("ll", nil, path, error)
        }
    }

    /// Every path below the directory, sorted, each relative to it as written (so "/usr" gives
    /// "/bin" and "/" gives "bin", as libguestfs's find strips the argument's length).
    static func find(_ s: FishSession, _ path: String) throws {
        try s.needRoot("find0", path)
        let node: VFS.Node
        do {
            node = try s.vfs.resolve(path, followLast: true)
            guard try s.vfs.filesystem(node).stat(node.inode).type == .directory else {
                throw FishCallError("find0", "\(path): not a directory")
            }
        } catch let e as GuestFSError { throw FishSession.pathError("find0", nil, path, e) }
        var found: [[UInt8]] = []
        var visited: Set<VFS.Node> = [node]
        func walk(_ dir: VFS.Node, _ components: [[UInt8]], _ rel: [UInt8]) throws {
            for child in try s.vfs.children(of: dir, at: components) {
                guard found.count < maxWalkEntries else { throw FishCallError("find0", "\(path): too many files") }
                let childRel = rel.isEmpty ? child.entry.nameBytes : rel + [0x2F] + child.entry.nameBytes
                found.append(childRel)
                var type = child.entry.type
                if type == .unknown { type = try s.vfs.filesystem(child.node).stat(child.node.inode).type }
                // A directory met twice is a hard-linked directory or a cycle in a corrupt image.
                if type == .directory, visited.insert(child.node).inserted {
                    try walk(child.node, components + [child.entry.nameBytes], childRel)
                }
            }
        }
        do { try walk(node, VFS.components(path), []) } catch let e as GuestFSError {
            throw FishCallError("find0", e.message)
        }
        let prefix: [UInt8] = path.hasSuffix("/") ? [] : [0x2F]
        for p in found.sorted(by: { $0.lexicographicallyPrecedes($1) }) { s.out.write(bytes: prefix + p + [0x0A]) }
    }

    /// `du -s`: kilobytes allocated below path, each inode counted once (hard links).
    static func du(_ s: FishSession, _ path: String) throws {
        try s.needRoot("du", path)
        do {
            let node = try s.vfs.resolve(path, followLast: false)
            var seen: Set<VFS.Node> = []
            var blocks: UInt64 = 0
            func visit(_ node: VFS.Node, _ components: [[UInt8]]) throws {
                guard seen.count < maxWalkEntries else { throw GuestFSError("\(path): too many files") }
                guard seen.insert(node).inserted else { return }
                let st = try s.vfs.filesystem(node).stat(node.inode)
                blocks &+= st.blocks
                if st.type == .directory {
                    for child in try s.vfs.children(of: node, at: components) {
                        try visit(child.node, components + [child.entry.nameBytes])
                    }
                }
            }
            try visit(node, VFS.components(path))
            s.out.write("\((blocks + 1) / 2)\n")
        } catch let e as GuestFSError { throw FishSession.pathError("du", nil, path, e) }
    }

    /// guestfs_cat returns a C string: output ends at the first zero byte, then a newline.
    static func cat(_ s: FishSession, _ path: String) throws {
        try s.needRoot("download", path)
        try stream(s, path, call: "download") { chunk in
            guard let zero = chunk.firstIndex(of: 0) else { s.out.write(bytes: chunk); return true }
            s.out.write(bytes: Array(chunk[..<zero]))
            return false
        }
        s.out.write("\n")
    }

    /// `hexdump -C` (guestfish prints its output and a newline): repeated lines as one "*".
    static func hexdump(_ s: FishSession, _ path: String) throws {
        try s.needRoot("hexdump", path)
        var offset: UInt64 = 0
        var line: [UInt8] = []
        var previous: [UInt8]?
        var starred = false
        func emit(_ bytes: [UInt8]) {
            if bytes.count == 16, bytes == previous {
                if !starred { s.out.write("*\n"); starred = true }
            } else {
                starred = false
                var hex = ""
                for (i, b) in bytes.enumerated() {
                    hex += (b < 16 ? "0" : "") + String(b, radix: 16) + " " + (i == 7 ? " " : "")
                }
                let ascii = String(bytes.map { (0x20...0x7E).contains($0) ? Character(UnicodeScalar($0)) : "." })
                s.out.write(hexOffset(offset) + "  " + hex.padding(toLength: 49, withPad: " ", startingAt: 0) + " |" + ascii + "|\n")
            }
            previous = bytes
            offset += UInt64(bytes.count)
        }
        try stream(s, path, call: "hexdump") { chunk in
            for b in chunk {
                line.append(b)
                if line.count == 16 { emit(line); line.removeAll(keepingCapacity: true) }
            }
            return true
        }
        if !line.isEmpty { emit(line) }
        if offset > 0 { s.out.write(hexOffset(offset) + "\n") }
        s.out.write("\n")
    }

    static func hexOffset(_ v: UInt64) -> String {
        let h = String(v, radix: 16)
        return h.count >= 8 ? h : String(repeating: "0", count: 8 - h.count) + h
    }

    static func download(_ s: FishSession, _ remote: String, _ local: String) throws {
        var sink: (([UInt8]) -> Void)?
        var handle: FileHandle?
        if local == "-" {
            sink = { s.out.write(bytes: $0) }
        } else {
            let fd = open(local, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o666)
            guard fd >= 0 else { throw FishCallError("", "\(local): \(String(cString: strerror(errno)))") }
            let h = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            handle = h
            sink = { h.write(Data($0)) }
        }
        defer { try? handle?.close() }
        guard let sink else { return }
        if remote.hasPrefix("/dev/"), let device = try? s.disks.device(named: remote) {
            var offset: UInt64 = 0
            while offset < device.size {
                let n = Int(min(UInt64(1 << 20), device.size - offset))
                do { sink(try device.read(at: offset, count: n)) } catch { throw FishCallError("download", "\(remote): \(error.message)") }
                offset += UInt64(n)
            }
            return
        }
        try s.needRoot("download", remote)
        try stream(s, remote, call: "download") { sink($0); return true }
    }

    /// Streams a guest file until `body` returns false; directories and other non-files fail as
    /// the daemon's download does.
    static func stream(_ s: FishSession, _ path: String, call: String, _ body: ([UInt8]) -> Bool) throws {
        let st: FileStat
        do { st = try s.vfs.stat(path) } catch { throw FishSession.pathError(call, nil, path, error) }
        guard st.type == .regular else {
            throw FishCallError(call, st.type == .directory ? "\(path): is a directory" : "\(path): not a regular file")
        }
        var going = true
        do {
            try s.vfs.readFile(path) { (chunk: [UInt8]) throws(GuestFSError) in
                // readFile has no early exit: the rest of the file is skipped by throwing.
                if going, !body(chunk) { going = false; throw GuestFSError(Self.stopped) }
            }
        } catch where error.message == Self.stopped {
        } catch { throw FishCallError(call, "\(path): \(error.message)") }
    }

    private static let stopped = "\u{0}stopped"

    /// The lines of a regular file, streamed; `body` returns false to stop early.
    static func lines(_ s: FishSession, _ path: String, call: String, command: String, _ body: ([UInt8]) -> Bool) throws {
        let st: FileStat
        do { st = try s.vfs.stat(path) } catch { throw FishSession.pathError(call, nil, path, error) }
        guard st.type == .regular else {
            let reason = st.type == .directory ? "Is a directory" : "Invalid argument"
            throw FishCallError(call, "\(command): \(command.split(separator: " ")[0]): error reading 'standard input': \(reason)")
        }
        var pending: [UInt8] = []
        var going = true
        do {
            try s.vfs.readFile(path) { (chunk: [UInt8]) throws(GuestFSError) in
                guard going else { return }
                var start = 0
                for (i, c) in chunk.enumerated() where c == 0x0A {
                    pending += chunk[start..<i]
                    start = i + 1
                    if !body(pending) { going = false; return }
                    pending.removeAll(keepingCapacity: true)
                }
                pending += chunk[start...]
                if pending.count > maxLine { throw GuestFSError("line longer than \(maxLine) bytes") }
            }
        } catch { throw FishCallError(call, "\(path): \(error.message)") }
        if going, !pending.isEmpty { _ = body(pending) }
    }

    static func head(_ s: FishSession, _ n: Int, _ path: String, call: String) throws {
        try s.needRoot(call, path)
        guard n != 0 else { return }
        var kept = 0
        // All but the last -n lines: the newest -n lines are held back.
        var held = LineRing(capacity: n < 0 ? -n : 0)
        try lines(s, path, call: call, command: "head -n \(n)") { line in
            if n > 0 {
                s.out.write(bytes: line + [0x0A])
                kept += 1
                return kept < n
            }
            if let old = held.push(line) { s.out.write(bytes: old + [0x0A]) }
            return true
        }
    }

    static func tail(_ s: FishSession, _ n: Int, _ path: String, call: String) throws {
        try s.needRoot(call, path)
        guard n != 0 else { return }
        var ring = LineRing(capacity: max(n, 0))
        var number = 0
        try lines(s, path, call: call, command: n > 0 ? "tail -n \(n)" : "tail -n +\(-n)") { line in
            number += 1
            if n < 0 {
                // From line -n on.
                if number >= -n { s.out.write(bytes: line + [0x0A]) }
            } else {
                _ = ring.push(line)
            }
            return true
        }
        for l in ring.contents { s.out.write(bytes: l + [0x0A]) }
    }

    /// The last `capacity` lines seen; push returns the line that falls out.
    struct LineRing {
        let capacity: Int
        private var slots: [[UInt8]] = []
        private var start = 0

        init(capacity: Int) { self.capacity = capacity }

        mutating func push(_ line: [UInt8]) -> [UInt8]? {
            guard capacity > 0 else { return line }
            if slots.count < capacity { slots.append(line); return nil }
            let old = slots[start]
            slots[start] = line
            start = (start + 1) % capacity
            return old
        }

        var contents: [[UInt8]] { Array(slots[start...] + slots[..<start]) }
    }

    static func stat(_ s: FishSession, _ path: String, follow: Bool, ns: Bool) throws {
        let call = follow ? "statns" : "lstatns"
        try s.needRoot(call, path)
        do {
            let node = try s.vfs.resolve(path, followLast: follow)
            let st = try s.vfs.filesystem(node).stat(node.inode)
            let dev = s.mountOf(node).map { s.deviceNumber($0.device) } ?? 0
            let blksize = s.blockSize(node)
            s.out.write(ns ? FishListing.statns(st, dev: dev, blksize: blksize) : FishListing.stat(st, dev: dev, blksize: blksize))
        } catch { throw FishSession.pathError(call, nil, path, error) }
    }

    static func file(_ s: FishSession, _ path: String) throws {
        // As in the appliance, /dev/ paths naming a disk device describe the device itself.
        if path.hasPrefix("/dev/"), let device = try? s.disks.device(named: path) {
            do {
                let text = try FileMagic.describe(size: device.size) { (o: UInt64, n: Int) throws(GuestFSError) -> [UInt8] in
                    try device.read(at: o, count: n)
                }
                s.out.write(text + "\n")
            } catch { throw FishCallError("file", "\(path): \(error.message)") }
            return
        }
        if path.hasPrefix("/dev/"), (try? s.vfs.lstat(path)) == nil {
            throw FishCallError("file", "file_stub: \(path): No such file or directory")
        }
        try s.needRoot("file", path)
        do { s.out.write(try FileMagic.describe(s.vfs, path) + "\n") } catch {
            throw FishSession.pathError("file", "lstat", path, error)
        }
    }

    static func isType(_ s: FishSession, _ path: String, _ type: FileType, follow: Bool, call: String) throws {
        try s.needRoot(call, path)
        let st = follow ? try? s.vfs.stat(path) : try? s.vfs.lstat(path)
        s.out.write(st?.type == type ? "true\n" : "false\n")
    }
}
