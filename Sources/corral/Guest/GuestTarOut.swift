import ArgumentParser
import Foundation
import GuestFS

/// `corral guest tar-out`: virt-tar-out. Packs a guest directory as `tar -C DIR -cf - .` would in
/// the appliance (entries "./", "./etc/", "./etc/fstab", ...), in ustar format with pax extended
/// headers for what ustar cannot hold (long names and link targets, sizes of 8 GiB and more, big
/// ids, times before 1970). Kept: modes, owners, mtimes, symlinks, hard links, device nodes, FIFOs;
/// sockets are skipped, as tar does.
struct GuestTarOut: GuestSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "tar-out", abstract: "Pack a guest directory into a tar file (virt-tar-out).")

    @OptionGroup var disk: GuestDiskOptions
    @OptionGroup var mount: GuestMountOptions

    @Flag(name: [.customShort("z"), .customLong("gzip")], help: "Compress the output with gzip.")
    var gzip = false

    @Argument(help: "The guest directory.")
    var directory: String
    @Argument(help: "The tar file to write, - for stdout.")
    var tarfile: String

    func validate() throws {
        guard directory.hasPrefix("/") else { throw ValidationError("\(directory): the path must be absolute (start with /)") }
    }

    func run(globalURI: String?, out: GuestOutput) async throws {
        let vfs = try await mount.open(disk, globalURI: globalURI, command: "tar-out")
        try pack(vfs)
    }

    /// Synchronous: see GuestCopyOut.copy (a Swift 6.3 release-build crash).
    private func pack(_ vfs: VFS) throws {
        let fd: Int32 = tarfile == "-" ? 1 : open(tarfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw GuestFSError("\(tarfile): \(String(cString: strerror(errno)))") }
        defer { if fd != 1 { close(fd) } }
        let sink = try ByteSink(fd: fd, gzip: gzip)
        var failed = false
        let tar = TarWriter(sink: sink)
        try GuestWalk(vfs: vfs).tar(directory, into: tar) { msg in
            failed = true
            GuestOutput.error("tar-out", msg)
        } warning: { GuestOutput.warning("tar-out", $0) }
        try tar.finish()
        try sink.close()
        if failed { throw ExitCode.failure }
    }
}

extension GuestWalk {
    /// Writes the tree under `directory` as tar entries named "./...".
    func tar(_ directory: String, into tar: TarWriter, failure: (String) -> Void, warning: (String) -> Void) throws {
        // The first name each multiply-linked inode was written under.
        struct Key: Hashable { var mount: Int; var inode: UInt64 }
        var linked: [Key: [UInt8]] = [:]
        var writeError: GuestFSError?
        // A trailing slash makes the walk start at the directory a symlink points to.
        let start = directory.hasSuffix("/") ? directory : directory + "/"
        try walk(start, visit: { e in
            // A name holding "/" (hostile or corrupt) would land elsewhere on extraction.
            if e.depth > 0, !HostTreeWriter.safeName(e.name) {
                failure(String(decoding: e.path, as: UTF8.self) + ": unusable file name, skipped")
                return false
            }
            var name: [UInt8] = [0x2E, 0x2F]
            name += e.relative
            var header = TarWriter.Header(name: name, stat: e.stat)
            switch e.stat.type {
            case .directory:
                if e.depth > 0 { header.name.append(0x2F) }
                header.type = 0x35
            case .regular:
                if e.stat.nlink > 1, e.depth > 0 {
                    let key = Key(mount: e.node.mount, inode: e.node.inode)
                    if let first = linked[key] {
                        header.type = 0x31; header.linkName = first; header.size = 0
                    } else {
                        linked[key] = header.name
                    }
                }
            case .symlink:
                header.type = 0x32; header.size = 0
                do throws(GuestFSError) { header.linkName = try filesystem(e.node).readlink(e.node.inode) } catch {
                    failure(String(decoding: e.path, as: UTF8.self) + ": " + error.message)
                    return false
                }
            case .characterDevice, .blockDevice:
                header.type = e.stat.type == .characterDevice ? 0x33 : 0x34; header.size = 0
                let d = e.stat.rdev
                header.devMajor = (d >> 8) & 0xfff
                header.devMinor = (d & 0xff) | ((d >> 12) & 0xfff00)
            case .fifo:
                header.type = 0x36; header.size = 0
            case .socket, .unknown:
                warning(String(decoding: e.path, as: UTF8.self) + ": \(e.stat.type.rawValue) ignored")
                return false
            }
            do throws(GuestFSError) {
                try tar.write(header)
                if header.type == 0x30, header.size > 0 {
                    try tar.writeContents(filesystem(e.node), inode: e.node.inode, size: header.size)
                }
            } catch {
                // A header already written promises its contents: stop rather than write a corrupt archive.
                writeError = error
                return false
            }
            return e.stat.type == .directory && writeError == nil
        }, failure: failure)
        if let writeError { throw writeError }
    }
}

/// Where output bytes go: a file descriptor, optionally through gzip; buffered.
final class ByteSink {
    private let fd: Int32
    private let gzip: GzipCompressor?
    private var buffer: [UInt8] = []

    init(fd: Int32, gzip: Bool) throws(GuestFSError) {
        self.fd = fd
        self.gzip = gzip ? try GzipCompressor() : nil
        buffer.reserveCapacity(1 << 20)
    }

    func write(_ bytes: [UInt8]) throws(GuestFSError) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try drain(finish: false) }
    }

    func close() throws(GuestFSError) { try drain(finish: true) }

    private func drain(finish: Bool) throws(GuestFSError) {
        let data = try gzip.map { g throws(GuestFSError) in try g.compress(buffer, finish: finish) } ?? buffer
        buffer.removeAll(keepingCapacity: true)
        var done = 0
        var failure: Int32 = 0
        data.withUnsafeBytes { (buf: UnsafeRawBufferPointer) in
            while done < buf.count {
                let n = Foundation.write(fd, buf.baseAddress! + done, buf.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                done += n
            }
        }
        if failure != 0 { throw GuestFSError("write: \(String(cString: strerror(failure)))") }
    }
}

/// POSIX ustar with pax extended headers ('x') where a field does not fit.
final class TarWriter {
    struct Header {
        var name: [UInt8]
        var mode: UInt32
        var uid: UInt32
        var gid: UInt32
        var size: UInt64
        var mtime: FileTime
        var type: UInt8 = 0x30
        var linkName: [UInt8] = []
        var devMajor: UInt32 = 0
        var devMinor: UInt32 = 0

        init(name: [UInt8], mode: UInt32, uid: UInt32, gid: UInt32, size: UInt64, mtime: FileTime) {
            self.name = name; self.mode = mode; self.uid = uid; self.gid = gid; self.size = size; self.mtime = mtime
        }

        init(name: [UInt8], stat: FileStat) {
            self.init(name: name, mode: stat.permissions, uid: stat.uid, gid: stat.gid,
                      size: stat.type == .regular ? stat.size : 0, mtime: stat.mtime)
        }
    }

    private let sink: ByteSink
    private var written: UInt64 = 0

    init(sink: ByteSink) { self.sink = sink }

    private func emit(_ bytes: [UInt8]) throws(GuestFSError) {
        try sink.write(bytes)
        written &+= UInt64(bytes.count)
    }

    /// `value` as zero-padded octal in a field of `width` bytes (digits, then NUL).
    private static func octal(_ value: UInt64, _ width: Int) -> [UInt8]? {
        var digits = Array(String(value, radix: 8).utf8)
        guard digits.count <= width - 1 else { return nil }
        digits.insert(contentsOf: repeatElement(0x30, count: width - 1 - digits.count), at: 0)
        return digits + [0]
    }

    /// Splits a long name into ustar's prefix (≤ 155) and name (≤ 100) at a slash, if possible.
    private static func split(_ name: [UInt8]) -> (prefix: [UInt8], name: [UInt8])? {
        if name.count <= 100 { return ([], name) }
        guard name.count <= 256 else { return nil }
        for i in stride(from: min(155, name.count - 1), through: 1, by: -1) where name[i] == 0x2F {
            let rest = Array(name[(i + 1)...])
            if rest.count <= 100, !rest.isEmpty { return (Array(name[..<i]), rest) }
            break
        }
        return nil
    }

    private static func paxRecord(_ key: String, _ value: [UInt8]) -> [UInt8] {
        let body = Array(" \(key)=".utf8) + value + [0x0A]
        // The length counts its own digits.
        var length = body.count + 1
        while String(length).utf8.count + body.count != length { length += 1 }
        return Array(String(length).utf8) + body
    }

    func write(_ h: Header) throws(GuestFSError) {
        var pax: [UInt8] = []
        let split = Self.split(h.name)
        if split == nil { pax += Self.paxRecord("path", h.name) }
        if h.linkName.count > 100 { pax += Self.paxRecord("linkpath", h.linkName) }
        if h.size > 0o77777777777 { pax += Self.paxRecord("size", Array(String(h.size).utf8)) }
        if h.uid > 0o7777777 { pax += Self.paxRecord("uid", Array(String(h.uid).utf8)) }
        if h.gid > 0o7777777 { pax += Self.paxRecord("gid", Array(String(h.gid).utf8)) }
        if h.mtime.seconds < 0 || h.mtime.seconds > 0o77777777777 {
            pax += Self.paxRecord("mtime", Array(String(h.mtime.seconds).utf8))
        }
        if !pax.isEmpty {
            let base = h.name.split(separator: 0x2F).last.map(Array.init) ?? []
            var paxName = Array("./PaxHeaders/".utf8) + base
            if paxName.count > 100 { paxName = Array(paxName.prefix(100)) }
            var ph = h
            ph.name = paxName; ph.type = 0x78; ph.size = UInt64(pax.count); ph.linkName = []
            try emit(Self.block(ph, prefix: []))
            try emit(pax)
            try pad()
        }
        let parts = split ?? ([], Array(h.name.suffix(100)))
        var main = h
        main.name = parts.name
        try emit(Self.block(main, prefix: parts.prefix))
    }

    private static func block(_ h: Header, prefix: [UInt8]) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], _ at: Int, _ max: Int) {
            for (i, c) in bytes.prefix(max).enumerated() { b[at + i] = c }
        }
        put(h.name, 0, 100)
        put(octal(UInt64(h.mode & 0o7777), 8) ?? [], 100, 8)
        put(octal(UInt64(h.uid), 8) ?? octal(0, 8)!, 108, 8)
        put(octal(UInt64(h.gid), 8) ?? octal(0, 8)!, 116, 8)
        put(octal(h.size, 12) ?? octal(0, 12)!, 124, 12)
        put(octal(UInt64(clamping: h.mtime.seconds), 12) ?? octal(0, 12)!, 136, 12)
        b[156] = h.type
        put(h.linkName, 157, 100)
        put(Array("ustar\u{0}00".utf8), 257, 8)
        // uname and gname stay empty, as from the appliance (which has no passwd entries).
        if h.type == 0x33 || h.type == 0x34 {
            put(octal(UInt64(h.devMajor), 8) ?? [], 329, 8)
            put(octal(UInt64(h.devMinor), 8) ?? [], 337, 8)
        }
        put(prefix, 345, 155)
        // Checksum: sum of the header with the checksum field as spaces; 6 octal digits, NUL, space.
        for i in 148..<156 { b[i] = 0x20 }
        let sum = b.reduce(0) { $0 + Int($1) }
        put((octal(UInt64(sum), 7) ?? []) + [0x20], 148, 8)
        return b
    }

    func writeContents(_ fs: any Filesystem, inode: UInt64, size: UInt64) throws(GuestFSError) {
        var offset: UInt64 = 0
        while offset < size {
            let data = try fs.read(inode, at: offset, count: Int(min(1 << 20, size - offset)))
            guard !data.isEmpty else { throw GuestFSError("short read at \(offset) of \(size)") }
            try emit(data)
            offset += UInt64(data.count)
        }
        try pad()
    }

    private func pad() throws(GuestFSError) {
        let rem = Int(written % 512)
        if rem != 0 { try emit([UInt8](repeating: 0, count: 512 - rem)) }
    }

    /// Two zero blocks, then zeros up to tar's 10240-byte record.
    func finish() throws(GuestFSError) {
        try emit([UInt8](repeating: 0, count: 1024))
        let rem = Int(written % 10240)
        if rem != 0 { try emit([UInt8](repeating: 0, count: 10240 - rem)) }
    }
}
