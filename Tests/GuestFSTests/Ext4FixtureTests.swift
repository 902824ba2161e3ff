// Shared fixtures for the ext4 and VFS tests: a source tree with every feature the reader must
// handle, filesystems made from it by mke2fs -d, and devices over image files or memory.

import Foundation
import Testing
@testable import GuestFS

/// A raw image file read with pread (the real image devices live in the image stack).
final class Ext4TestFileDevice: BlockDevice {
    let fd: Int32
    let size: UInt64

    init(path: String) throws {
        fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw GuestFSError("cannot open \(path)") }
        var st = stat()
        fstat(fd, &st)
        size = UInt64(st.st_size)
    }

    deinit { close(fd) }

    func read(at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else {
            throw GuestFSError("read of \(count) bytes at \(offset) past the end of a \(size)-byte file")
        }
        var buf = [UInt8](repeating: 0, count: count)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        guard n == count else { throw GuestFSError("short read at \(offset)") }
        return buf
    }
}

/// An image held in memory, for mutation tests.
struct Ext4TestMemoryDevice: BlockDevice {
    let bytes: [UInt8]
    var size: UInt64 { UInt64(bytes.count) }

    func read(at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else {
            throw GuestFSError("read of \(count) bytes at \(offset) past the end of a \(size)-byte buffer")
        }
        return Array(bytes[Int(offset)..<(Int(offset) + count)])
    }
}

@discardableResult
func ext4TestShell(_ script: String, _ args: [String] = []) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", script, "sh"] + args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard p.terminationStatus == 0 else { throw GuestFSError("shell failed (\(p.terminationStatus)): \(script)\n\(text)") }
    return text
}

enum Ext4Fixture {
    static let slowTarget = String(repeating: "./", count: 40) + "hello.txt"

    /// The source tree, built once per test run.
    static let source: Result<String, any Error> = Result {
        // Fixed names inside this checkout's .build: each run replaces the previous run's tree and
        // images instead of adding to them, and other checkouts' runs cannot overwrite them.
        let dir = ImageFixtures.root + "/.build/ext4-fixture"
        try? FileManager.default.removeItem(atPath: dir)
        try ext4TestShell("""
            set -e
            mkdir -p "$1" && cd "$1"
            mkdir -p etc big dir1/sub tmp deep
            printf 'NAME="Test Linux"\\nID=testos\\nVERSION_ID=1.0\\n' > etc/os-release
            echo hello > hello.txt
            ln hello.txt hardlink.txt
            : > empty
            for n in 1023 1024 1025 4095 4096 4097 12288 65536 300000; do head -c $n /dev/urandom > size-$n; done
            head -c 100 /dev/urandom > small100
            head -c 150 /dev/urandom > small150
            truncate -s 80M sparse
            printf start | dd of=sparse conv=notrunc status=none
            printf middle | dd of=sparse bs=1 seek=73400320 conv=notrunc status=none
            printf end | dd of=sparse bs=1 seek=83886077 conv=notrunc status=none
            : > frag
            # Ends in data: mke2fs 1.47.0 -O inline_data records a wrong size for a file ending in a hole.
            i=0; while [ $i -lt 20 ]; do printf "island-$i" | dd of=frag bs=65536 seek=$i conv=notrunc status=none; i=$((i+2)); done
            ln -s hello.txt fastlink
            ln -s "$2" slowlink
            ln -s /etc/os-release abslink
            ln -s ../../../../../etc/os-release escapelink
            ln -s etc etcdir
            ln -s /etc dir1/abs-etc
            ln -s ../hello.txt dir1/up
            ln -s nowhere dangling
            ln -s loopB loopA
            ln -s loopA loopB
            ln -s self self
            mkfifo fifo
            echo '#!/bin/sh' > setuid.sh && chmod 4755 setuid.sh
            echo secret > secret && chmod 0600 secret
            chmod 1777 tmp
            echo owned > owned && chown 100000:200000 owned
            echo cafe > 'héllo wörld ✓.txt'
            echo nihongo > '日本語'
            touch -d '1960-01-01 00:00:00' old
            echo sub > dir1/sub/file
            i=0; while [ $i -lt 5000 ]; do : > big/entry-$i; i=$((i+1)); done
            p=deep; i=1; while [ $i -le 50 ]; do p=$p/d$i; i=$((i+1)); done
            mkdir -p $p && echo bottom > $p/leaf
            """, [dir, slowTarget])
        return dir
    }

    struct Variant: Sendable, CustomStringConvertible {
        var name: String
        var options: String
        var kind: String
        var description: String { name }
    }

    static let variants: [Variant] = [
        Variant(name: "ext4-4k", options: "-t ext4 -b 4096", kind: "ext4"),
        Variant(name: "ext4-1k", options: "-t ext4 -b 1024", kind: "ext4"),
        Variant(name: "ext4-64k", options: "-t ext4 -b 65536", kind: "ext4"),
        Variant(name: "ext2-1k", options: "-t ext2 -b 1024", kind: "ext2"),
        Variant(name: "ext2-nofiletype", options: "-t ext2 -b 4096 -O ^filetype", kind: "ext2"),
        Variant(name: "ext3-4k", options: "-t ext3 -b 4096", kind: "ext3"),
        Variant(name: "ext4-inline", options: "-t ext4 -O inline_data", kind: "ext4"),
        Variant(name: "ext4-noextent", options: "-t ext4 -b 1024 -O ^extent,^64bit", kind: "ext4"),
        Variant(name: "ext4-64bit-csum", options: "-t ext4 -b 1024 -O 64bit,metadata_csum", kind: "ext4"),
        Variant(name: "ext4-metabg", options: "-t ext4 -b 1024 -O meta_bg,^resize_inode", kind: "ext4"),
        Variant(name: "ext4-128inode", options: "-t ext4 -I 128", kind: "ext4"),
        Variant(name: "ext4-bigalloc", options: "-t ext4 -O bigalloc -C 16384", kind: "ext4"),
    ]

    private static let imageLock = NSLock()
    nonisolated(unsafe) private static var images: [String: String] = [:]

    /// The image for `variant`, made on first use.
    static func image(_ variant: Variant) throws -> String {
        imageLock.lock(); defer { imageLock.unlock() }
        if let path = images[variant.name] { return path }
        let src = try source.get()
        let path = ImageFixtures.root + "/.build/ext4-fixture-\(variant.name).img"
        try? FileManager.default.removeItem(atPath: path)
        try ext4TestShell("mke2fs -q -F \(variant.options) -N 8000 -L test-\(variant.name) "
            + "-U 01234567-89ab-cdef-0123-456789abcdef -d \"$1\" \"$2\" 96M", [src, path])
        images[variant.name] = path
        return path
    }

    static func open(_ variant: Variant) throws -> Ext4Filesystem {
        try Ext4Filesystem(device: Ext4TestFileDevice(path: image(variant)))
    }
}
