import Foundation
import Testing
@testable import GuestFS

// FileMagic against the host's file(1) (`file -zb`, as libguestfs runs it), on host binaries and
// libraries and on made-up texts, gzip streams and boot sectors.

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/file"), "needs file(1)"))
struct FileMagicTests {
    static func hostFile(_ path: String) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/file")
        p.arguments = ["-zb", path]
        let pipe = Pipe()
        p.standardOutput = pipe
        guard (try? p.run()) != nil else { return "" }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
    }

    static func ours(_ path: String) throws -> String {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        return try FileMagic.describe(size: UInt64(bytes.count)) { (offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] in
            Array(bytes[Int(offset)..<min(bytes.count, Int(offset) + count)])
        }
    }

    @Test(arguments: ["/usr/bin/ls", "/bin/sh", "/usr/bin/gzip", "/usr/lib/x86_64-linux-gnu/libc.so.6",
                      "/usr/lib/x86_64-linux-gnu/libz.so.1", "/etc/passwd", "/etc/services", "/usr/bin/ldd",
                      "/usr/share/common-licenses/GPL-3", "/etc/ssl/certs/ca-certificates.crt"])
    func hostFiles(_ path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        // file(1) without -L names a symlink as such; the contents are what is compared.
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        #expect(try Self.ours(real) == Self.hostFile(real))
    }

    @Test func madeUpFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("magic-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var samples: [String: [UInt8]] = [
            "crlf": Array("a\r\nb\r\n".utf8), "cr": Array("a\rb\r".utf8), "mixed": Array("a\r\nb\nc\rd\n".utf8),
            "long": Array((String(repeating: "x", count: 400) + "\n").utf8), "latin1": [0xE9, 0x74, 0xE9, 0x0A],
            "bom": [0xEF, 0xBB, 0xBF] + Array("bom\n".utf8), "utf8": Array("héllo\n".utf8),
            "py": Array("#!/usr/bin/env python3\nprint(1)\n".utf8), "bash": Array("#!/bin/bash\necho\n".utf8),
            "esc": Array("esc\u{1b}[0m\n".utf8), "nonl": Array("no end".utf8), "binary": (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7919) },
            "extended": [0x41, 0x81, 0x42, 0x0A],
        ]
        var mbr = [UInt8](repeating: 0, count: 1024)
        mbr[446] = 0x80; mbr[446 + 4] = 0x83; mbr[446 + 8] = 0x00; mbr[446 + 9] = 0x08; mbr[446 + 12] = 0x00; mbr[446 + 13] = 0x10
        mbr[462 + 4] = 0x0C; mbr[462 + 8] = 0x00; mbr[462 + 9] = 0x18; mbr[462 + 12] = 0x00; mbr[462 + 13] = 0x08
        mbr[446 + 1] = 0x20; mbr[446 + 2] = 0x21; mbr[446 + 5] = 0x61; mbr[446 + 6] = 0x21
        mbr[510] = 0x55; mbr[511] = 0xAA
        samples["mbr"] = mbr
        for (name, bytes) in samples {
            try Data(bytes).write(to: dir.appendingPathComponent(name))
        }
        // gzip with a name and a time, and an ELF inside gzip (file -z sees only its header).
        let gz = Process()
        gz.executableURL = URL(fileURLWithPath: "/bin/sh")
        gz.arguments = ["-c", "cd '\(dir.path)' && cp utf8 named && touch -d '2020-02-02 02:02:02 UTC' named && gzip -9 named && gzip -1 -c /usr/bin/ls > ls.gz"]
        try gz.run(); gz.waitUntilExit()
        for name in samples.keys.sorted() + ["named.gz", "ls.gz"] {
            let path = dir.appendingPathComponent(name).path
            #expect(try Self.ours(path) == Self.hostFile(path), "\(name)")
        }
    }

    @Test func hostileELFHeadersStayBounded() throws {
        // Program and section tables pointing far outside the file, absurd counts, a note loop.
        var elf = [UInt8](repeating: 0, count: 256)
        elf.replaceSubrange(0..<8, with: [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0])
        elf.putLE(3, at: 16, width: 2); elf.putLE(62, at: 18, width: 2)
        elf.putLE(0xFFFF_FFFF_FFFF_FF00, at: 32, width: 8); elf.putLE(56, at: 54, width: 2); elf.putLE(0xFFFF, at: 56, width: 2)
        elf.putLE(64, at: 40, width: 8); elf.putLE(64, at: 58, width: 2); elf.putLE(3, at: 60, width: 2); elf.putLE(7, at: 62, width: 2)
        let text = try FileMagic.describe(size: UInt64(elf.count)) { (o: UInt64, n: Int) throws(GuestFSError) -> [UInt8] in
            guard o < UInt64(elf.count) else { return [] }
            return Array(elf[Int(o)..<min(elf.count, Int(o) + n)])
        }
        #expect(text.hasPrefix("ELF 64-bit LSB shared object, x86-64, version 1 (SYSV)"))
    }
}
