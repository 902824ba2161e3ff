import Foundation
import Testing
@testable import GuestFS

/// ISO 9660 images from scripts/guest-images.d/30-iso.sh, checked against the tree they were made
/// from (iso-tree.json, written by Python's os.lstat before xorriso ran).
@Suite(.serialized) struct ISO9660Tests {
    static func open(_ name: String) throws -> ISO9660Filesystem {
        let fs = try openFilesystem(openImage(path: ImageFixtures.path(name)))
        return try #require(fs as? ISO9660Filesystem)
    }

    static func mount(_ name: String) throws -> VFS {
        var vfs = VFS()
        vfs.mount(try open(name), at: "/")
        return vfs
    }

    /// Every path below `dir`, each with its readdir entry, depth-first in directory order.
    static func walk(_ fs: any Filesystem, _ ino: UInt64, _ prefix: String = "", depth: Int = 0) throws -> [(String, DirEntry)] {
        #expect(depth < 32)
        var out: [(String, DirEntry)] = []
        for e in try fs.readdir(ino) {
            let path = prefix + "/" + e.name
            out.append((path, e))
            if e.type == .directory { out += try walk(fs, e.inode, path, depth: depth + 1) }
        }
        return out
    }

    struct Expected: Sendable {
        var mode, uid, gid, size, mtime, nlink: Int
        var target: String?
        var rdev: [Int]?
    }

    static let tree: [String: Expected] = {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: (try? ImageFixtures.path("iso-tree.json")) ?? "")),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: [String: Any]] else { return [:] }
        return obj.mapValues { e in
            Expected(mode: e["mode"] as? Int ?? -1, uid: e["uid"] as? Int ?? -1, gid: e["gid"] as? Int ?? -1,
                     size: e["size"] as? Int ?? -1, mtime: e["mtime"] as? Int ?? -1, nlink: e["nlink"] as? Int ?? -1,
                     target: e["target"] as? String, rdev: e["rdev"] as? [Int])
        }
    }()

    static func text(_ vfs: VFS, _ path: String) throws -> String { String(decoding: try vfs.readFile(path), as: UTF8.self) }

    @Test func rockRidgeMatchesTheSourceTree() throws {
        let fs = try Self.open("rr.iso")
        #expect(fs.names == .rockRidge)
        let vfs = try Self.mount("rr.iso")
        let listed = try Self.walk(fs, fs.rootInode)
        let tree = Self.tree
        #expect(tree.count > 2000)
        // The relocation directory is a Rock Ridge artefact (RE), hidden as Linux hides it.
        #expect(Set(listed.map(\.0)) == Set(tree.keys))
        for (path, entry) in listed {
            let want = try #require(tree[path], "\(path)")
            let st = try vfs.lstat(path)
            #expect(st.mode == UInt32(want.mode), "\(path) mode \(String(st.mode, radix: 8))")
            #expect(st.type == entry.type, "\(path)")
            #expect(st.inode == entry.inode, "\(path)")
            let parent = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
            #expect(try fs.lookup(vfs.resolve(parent, followLast: true).inode, name: entry.nameBytes) == entry.inode)
            #expect(st.uid == UInt32(want.uid) && st.gid == UInt32(want.gid), "\(path)")
            #expect(st.mtime.seconds == Int64(want.mtime), "\(path)")
            if st.type != .directory {
                #expect(st.size == UInt64(want.size), "\(path) size")
                #expect(st.nlink == UInt64(want.nlink), "\(path) nlink")
            }
            if let target = want.target {
                #expect(try vfs.readlink(path) == target)
            }
            if let rdev = want.rdev {
                #expect(st.rdev == UInt32(rdev[0] << 8 | rdev[1]), "\(path) rdev")
            }
        }
    }

    @Test func rockRidgeContentsAndLinks() throws {
        let vfs = try Self.mount("rr.iso")
        #expect(try Self.text(vfs, "/hello.txt") == "hello from iso\n")
        #expect(try vfs.readFile("/dir/big.bin") == ImageFixtures.bytes("iso-big.expected"))
        #expect(try Self.text(vfs, "/link-rel") == "deep file\n")
        #expect(try Self.text(vfs, "/dir/up") == "hello from iso\n")
        #expect(try Self.text(vfs, "/dir/dotty") == "deep file\n")
        #expect(try Self.text(vfs, "/link-abs") == "NAME=\"Corral ISO\"\n")
        #expect(try vfs.readlink("/link-root") == "/")
        #expect(try vfs.stat("/link-root").inode == vfs.stat("/").inode)
        let long = try vfs.readlink("/link-long")
        let a100 = String(repeating: "a", count: 100)
        #expect(long == "/\(a100)/\(String(repeating: "b", count: 240))/../x/\(a100)")
        #expect(try vfs.lstat("/link-long").size == UInt64(long.utf8.count))
        #expect(try Self.text(vfs, "/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12/deep.txt") == "twelve deep\n")
        #expect(try Self.text(vfs, "/ünïcödé-日本語.txt") == "unicode\n")
        #expect(try Self.text(vfs, "/" + String(repeating: "L", count: 200) + ".txt") == "long\n")
        // Hard links: one data extent, PX's link count; Linux keeps each record's own inode number.
        let h1 = try vfs.stat("/hard1"), h2 = try vfs.stat("/dir/hard2")
        #expect(h1.nlink == 2 && h2.nlink == 2)
        #expect(try Self.text(vfs, "/dir/hard2") == "linked\n")
        // Reads at odd offsets and past the end.
        let big = try ImageFixtures.bytes("iso-big.expected")
        let fs = try Self.open("rr.iso")
        let ino = try vfs.stat("/dir/big.bin").inode
        #expect(try fs.read(ino, at: 2047, count: 5000) == Array(big[2047..<7047]))
        #expect(try fs.read(ino, at: UInt64(big.count) - 3, count: 100) == Array(big[(big.count - 3)...]))
        #expect(try fs.read(ino, at: UInt64(big.count), count: 100) == [])
        #expect(try fs.readdir(vfs.stat("/many").inode).map(\.name) == (0..<2000).map { "f" + String(10000 + $0).dropFirst().description })
    }

    @Test func rockRidgeDevicesAndModes() throws {
        let vfs = try Self.mount("rr.iso")
        #expect(try vfs.lstat("/modes/null").type == .characterDevice)
        #expect(try vfs.lstat("/modes/null").rdev == 0x0103)
        #expect(try vfs.lstat("/modes/sda1").type == .blockDevice)
        #expect(try vfs.lstat("/modes/sda1").rdev == 0x0801)
        #expect(try vfs.lstat("/modes/fifo").type == .fifo)
        #expect(try vfs.lstat("/modes/suid").mode == 0o104755)
        #expect(try vfs.lstat("/modes/sticky").mode == 0o041777)
        let p = try vfs.lstat("/modes/private")
        #expect(p.mode == 0o100640 && p.uid == 1000 && p.gid == 1001)
        #expect(try vfs.lstat("/hello.txt").mtime == FileTime(seconds: 981_173_106))
        #expect(try vfs.lstat("/link-rel").mtime == FileTime(seconds: 981_173_106))
        #expect(try vfs.lstat("/dir/big.bin").mtime == FileTime(seconds: 2_225_351_411))
    }

    @Test func jolietNamesWithoutRockRidge() throws {
        let fs = try Self.open("joliet.iso")
        #expect(fs.names == .joliet)
        let vfs = try Self.mount("joliet.iso")
        let listed = try Self.walk(fs, fs.rootInode)
        let paths = Set(listed.map(\.0))
        #expect(paths.contains("/ünïcödé-日本語.txt"))
        #expect(paths.contains("/dir/big.bin"))
        #expect(paths.contains("/many/f1999"))
        #expect(paths.contains("/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12/deep.txt"))
        for (path, entry) in listed {
            let st = try vfs.lstat(path)
            #expect(st.mode == (entry.type == .directory ? 0o040555 : 0o100555), "\(path)")
            #expect(st.uid == 0 && st.gid == 0 && st.nlink == 1, "\(path)")
            #expect(st.inode == entry.inode)
        }
        #expect(try vfs.readFile("/dir/big.bin") == ImageFixtures.bytes("iso-big.expected"))
        #expect(try Self.text(vfs, "/ünïcödé-日本語.txt") == "unicode\n")
    }

    @Test func plainNamesAreMappedLikeLinux() throws {
        for (image, mixed) in [("plain1.iso", "mixed_ca.txt"), ("plain2.iso", "mixed_case_name.txt")] {
            let fs = try Self.open(image)
            #expect(fs.names == .plain)
            let vfs = try Self.mount(image)
            let listed = try Self.walk(fs, fs.rootInode).map(\.0).sorted()
            #expect(listed == ["/dir", "/dir/\(mixed)", "/noext", "/readme.txt"], "\(image)")
            #expect(try Self.text(vfs, "/readme.txt") == "plain one\n")
            #expect(try Self.text(vfs, "/dir/\(mixed)") == "level two name\n")
            #expect(try vfs.stat("/noext").mode == 0o100555)
            #expect(try vfs.stat("/dir").mode == 0o040555)
            #expect(try vfs.stat("/").inode == fs.rootInode)
        }
    }

    @Test func zisofsFilesAreDecompressed() throws {
        let fs = try Self.open("zisofs.iso")
        let vfs = try Self.mount("zisofs.iso")
        let text = try ImageFixtures.bytes("zisofs-text.expected")
        let ino = try vfs.stat("/text.txt").inode
        // Stored compressed (a ZF entry), shown at its real size, like Linux.
        #expect(try fs.susp(fs.record(ino)).zisofs != nil)
        #expect(try vfs.stat("/text.txt").size == UInt64(text.count))
        #expect(try vfs.readFile("/text.txt") == text)
        #expect(try fs.read(ino, at: 32760, count: 70000) == Array(text[32760..<102760]))
        #expect(try fs.read(ino, at: UInt64(text.count) - 5, count: 100) == Array(text[(text.count - 5)...]))
        #expect(try vfs.readFile("/zeros.bin") == [UInt8](repeating: 0, count: 200 * 1024))
        #expect(try vfs.readFile("/random.bin") == ImageFixtures.bytes("iso-big.expected"))
    }

    @Test func statfsAndDetection() throws {
        let fs = try Self.open("rr.iso")
        let size = try #require(FileManager.default.attributesOfItem(atPath: ImageFixtures.path("rr.iso"))[.size] as? Int)
        #expect(try fs.statfs() == FilesystemUsage(blockSize: 2048, blocks: UInt64(size / 2048), freeBlocks: 0,
                                                   availableBlocks: 0, files: 0, freeFiles: 0))
        let sig = detectFilesystem(try openImage(path: ImageFixtures.path("rr.iso")))
        #expect(sig.type == "iso9660" && sig.label == "CORRAL_ISO")
        #expect(fs.volumeLabel == "CORRAL_ISO")
        // --modification-date=2026112700000000 pins the volume's modification date.
        #expect(fs.modificationTime == FileTime(seconds: 1_795_737_600))
    }

    @Test func qcow2AndPartitionedImages() throws {
        let disks = try GuestDisks.open([(ImageFixtures.path("rr-iso.qcow2"), nil)])
        var vfs = VFS()
        vfs.mount(try openFilesystem(disks.device(named: "/dev/sda")), at: "/")
        #expect(try Self.text(vfs, "/hello.txt") == "hello from iso\n")

        let part = try GuestDisks.open([(ImageFixtures.path("iso-part.raw"), .raw)])
        let sda1 = try part.device(named: "/dev/sda1")
        #expect(detectFilesystem(sda1).type == "iso9660")
        var pv = VFS()
        pv.mount(try openFilesystem(sda1), at: "/")
        #expect(try Self.text(pv, "/README.TXT") == "plain one\n")
        #expect(try pv.lstat("/DIR/Mixed.Case.Name.txt").mode & 0o170000 == 0o100000)
    }
}

/// Structures built by hand: multi-extent files, Rock Ridge relocation, record dates.
@Suite struct ISO9660HandBuiltTests {
    /// Root at 18 holding BIG (three sections: 2 blocks, 1 block, 100 bytes), a file in one
    /// section and a directory at 19; data from block 20.
    static func multiExtent() -> ISOBuilder {
        var b = ISOBuilder(blocks: 28)
        b.descriptors(root: 18)
        b.directory(block: 18, parent: 18, [
            ISOBuilder.file("BIG.;1", extent: 20, size: 4096, flags: 0x80),
            ISOBuilder.file("BIG.;1", extent: 22, size: 2048, flags: 0x80),
            ISOBuilder.file("BIG.;1", extent: 23, size: 100),
            ISOBuilder.file("SMALL.TXT;1", extent: 24, size: 5),
            ISOBuilder.dir("SUB", extent: 19),
        ])
        b.directory(block: 19, parent: 18, [])
        for blk in 20..<24 { b.put([UInt8](repeating: UInt8(blk), count: 2048), block: blk) }
        b.put(Array("small".utf8), block: 24)
        return b
    }

    @Test func multiExtentFileReadsAsOne() throws {
        let fs = try Self.multiExtent().open()
        #expect(fs.names == .plain)
        let entries = try fs.readdir(fs.rootInode)
        #expect(entries.map(\.name) == ["big", "small.txt", "sub"])
        let big = entries[0]
        // The first section's record names the file (root block 18, "." 34 + ".." 34 bytes in).
        #expect(big.inode == (18 * 2048 + 68) >> 5)
        let st = try fs.stat(big.inode)
        #expect(st.size == 6244 && st.blocks == 13 && st.mode == 0o100555 && st.nlink == 1)
        #expect(st.mtime == FileTime(seconds: ISOBuilder.dateSeconds))
        let data = try fs.read(big.inode, at: 0, count: 10_000)
        let want = [UInt8](repeating: 20, count: 2048) + [UInt8](repeating: 21, count: 2048)
            + [UInt8](repeating: 22, count: 2048) + [UInt8](repeating: 23, count: 100)
        #expect(data == want)
        #expect(try fs.read(big.inode, at: 4090, count: 20) == Array(want[4090..<4110]))
        #expect(try fs.read(big.inode, at: 6200, count: 1000) == Array(want[6200...]))
        #expect(try fs.lookup(fs.rootInode, name: Array("big".utf8)) == big.inode)
        #expect(try fs.stat(entries[2].inode).inode == 19 << 6)
        #expect(try fs.readdir(entries[2].inode).isEmpty)
    }

    /// Rock Ridge with a relocated directory: root (18) holds placeholder "deep" (CL → 21) and
    /// rr_moved (20), which holds the real directory (RE) whose ".." has PL → 18.
    static func relocation(cl: Int = 21, pl: Int = 18, relocatedDotSU: [UInt8] = []) -> ISOBuilder {
        var b = ISOBuilder(blocks: 24)
        b.descriptors(root: 18)
        let dirMode = ISOBuilder.px(0o40755, nlink: 2)
        b.directory(block: 18, parent: 18, dotSU: ISOBuilder.sp + dirMode + ISOBuilder.er, [
            ISOBuilder.file("DEEP", extent: 0, size: 0, su: ISOBuilder.nm("deep") + ISOBuilder.cl(cl)),
            ISOBuilder.dir("RR_MOVED", extent: 20, su: dirMode + ISOBuilder.nm("rr_moved") + ISOBuilder.re),
        ])
        b.directory(block: 20, parent: 18, dotSU: dirMode, [
            ISOBuilder.dir("DEEP", extent: 21, su: dirMode + ISOBuilder.nm("deep") + ISOBuilder.re),
        ])
        b.directory(block: 21, parent: 20, dotSU: ISOBuilder.px(0o40700, nlink: 2, uid: 7) + relocatedDotSU,
                    dotdotSU: ISOBuilder.pl(pl), [
            ISOBuilder.file("F.;1", extent: 22, size: 3, su: ISOBuilder.px(0o100644) + ISOBuilder.nm("f")),
        ])
        b.put(Array("abc".utf8), block: 22)
        return b
    }

    @Test func relocatedDirectoryAppearsAtItsPlaceholder() throws {
        let fs = try Self.relocation().open()
        #expect(fs.names == .rockRidge)
        let root = try fs.readdir(fs.rootInode)
        #expect(root.map(\.name) == ["deep"])
        #expect(root[0].type == .directory)
        let st = try fs.stat(root[0].inode)
        #expect(st.mode == 0o40700 && st.uid == 7 && st.inode == root[0].inode)
        let inner = try fs.readdir(root[0].inode)
        #expect(inner.map(\.name) == ["f"])
        #expect(try fs.read(inner[0].inode, at: 0, count: 10) == Array("abc".utf8))
    }

    @Test func namesContinueAcrossEntriesAndAreas() throws {
        typealias B = ISOBuilder
        // "long-" continued (flag 1) in the record, "name" in a continuation area; PN with the whole
        // device number in the low word (Linux: major = low >> 8); TF with modify and access times.
        let tf = B.susp("TF", [0x06] + [101, 2, 3, 4, 5, 6, 0] + [101, 2, 3, 4, 5, 7, 0])
        let fs = try ISO9660HostileTests.rockRidge(B.px(0o20600, uid: 5, gid: 6) + B.nm("long-", flags: 1)
            + B.susp("PN", B.both32(0) + B.both32(0x0805)) + tf + B.ce(block: 21, offset: 100, length: 12)) {
            $0.put(B.nm("name") + B.susp("ST", []), block: 21, offset: 100)
        }.open()
        let e = try #require(try fs.readdir(fs.rootInode).first)
        #expect(e.name == "long-name" && e.type == .characterDevice)
        let st = try fs.stat(e.inode)
        #expect(st.mode == 0o20600 && st.uid == 5 && st.gid == 6 && st.rdev == 0x0805)
        #expect(st.mtime == FileTime(seconds: 981_173_106) && st.atime == FileTime(seconds: 981_173_107))
        #expect(st.ctime == FileTime(seconds: ISOBuilder.dateSeconds))
        #expect(try fs.lookup(fs.rootInode, name: Array("long-name".utf8)) == e.inode)
    }

    @Test func dateOffsetsFollowLinux() {
        // GMT offsets beyond ±13 hours are ignored; month 0 and day 0 are plain arithmetic, as mktime64.
        #expect(ISODate.short([70, 1, 1, 0, 0, 0, 0]).seconds == 0)
        #expect(ISODate.short([70, 1, 1, 0, 0, 0, 0xFC]).seconds == 3600)
        #expect(ISODate.short([70, 1, 1, 0, 0, 0, 100]).seconds == 0)
        #expect(ISODate.short([0, 0, 0, 0, 0, 0, 0]).seconds == ISODate.mktime(year: 1900, month: 0, day: 0, hour: 0, minute: 0, second: 0))
        #expect(ISODate.long(Array("2026112700000000".utf8) + [0]) == FileTime(seconds: 1_795_737_600))
        #expect(ISODate.long(Array("0000000000000000".utf8) + [0]) == nil)
    }
}

/// The Rock Ridge image as libguestfs (Linux isofs in its appliance) lists it. Slow (~30 s under
/// TCG), so there is just this one; skipped when libguestfs-tools are not installed.
@Suite struct ISO9660LibguestfsTests {
    static let virtLs = ["/usr/bin/virt-ls", "/usr/local/bin/virt-ls"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(.enabled(if: virtLs != nil, "virt-ls (libguestfs-tools) is not installed"))
    func listingMatchesVirtLs() throws {
        let image = try ImageFixtures.path("rr.iso")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try #require(Self.virtLs))
        p.arguments = ["-lR", "--time-t", "--extra-stats", "-m", "/dev/sda", "-a", image, "/"]
        var env = ProcessInfo.processInfo.environment
        env["LIBGUESTFS_BACKEND"] = "direct"
        env["LIBGUESTFS_BACKEND_SETTINGS"] = "force_tcg"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        try Self.compare(String(decoding: data, as: UTF8.self), with: ISO9660Tests.mount("rr.iso"), minimumLines: 2000)
    }

    /// Checks each line of `virt-ls -lR --time-t --extra-stats` against what the reader says.
    static func compare(_ listing: String, with vfs: VFS, minimumLines: Int) throws {
        let lines = listing.split(separator: "\n")
        #expect(lines.count > minimumLines)
        let types: [FileType: String] = [.directory: "d", .regular: "-", .symlink: "l", .fifo: "p",
                                         .characterDevice: "c", .blockDevice: "b", .socket: "s"]
        // Linux 6.1 keeps ISO times in an int: a 2040 date wraps. Either form is accepted.
        func sameTime(_ theirs: Substring, _ ours: FileTime) -> Bool {
            theirs == "\(ours.seconds)" || theirs == "\(Int32(truncatingIfNeeded: ours.seconds))"
        }
        for line in lines {
            // type perms size atime mtime ctime dev ino nlink rdev blocks path [-> target]
            let f = line.split(separator: " ", maxSplits: 11, omittingEmptySubsequences: true)
            guard f.count == 12 else { Issue.record("unexpected line: \(line)"); continue }
            let rest = f[11]
            let path = String(rest.components(separatedBy: " -> ")[0])
            let st = try vfs.lstat(path)
            #expect(types[st.type] == String(f[0]), "\(path)")
            #expect(String(st.permissions, radix: 8).leftPad(4) == f[1], "\(path)")
            #expect("\(st.size)" == f[2], "\(path)")
            #expect(sameTime(f[3], st.atime) && sameTime(f[4], st.mtime) && sameTime(f[5], st.ctime), "\(path)")
            #expect("\(st.inode)" == f[7], "\(path)")
            #expect("\(st.nlink)" == f[8], "\(path)")
            #expect("\(st.rdev >> 8 & 0xFFF):\(st.rdev & 0xFF | st.rdev >> 12 & 0xFFF00)" == f[9], "\(path)")
            #expect("\(st.blocks)" == f[10], "\(path)")
            if st.type == .symlink {
                #expect(rest.hasSuffix(" -> " + (try vfs.readlink(path))), "\(path)")
            }
        }
    }
}
