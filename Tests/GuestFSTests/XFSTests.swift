// The XFS reader against images the Linux kernel wrote (scripts/guest-images.d/40-xfs.sh): every
// entry of the tree compared with find's listing of it while mounted, the directory formats and
// extent maps the kernel chose, file contents, symlinks, devices, timestamps, and statfs against
// Linux's own statfs and xfs_db's superblock print.

import Foundation
import Testing
@testable import GuestFS

enum XFSFixture {
    static var available: Bool { ImageFixtures.exists("xfs.raw") }

    static func open(_ name: String = "xfs.qcow2") throws -> XFSFilesystem {
        let fs = try openFilesystem(openImage(path: ImageFixtures.path(name)))
        return try #require(fs as? XFSFilesystem)
    }

    static func vfs(_ name: String = "xfs.qcow2") throws -> VFS {
        var vfs = VFS()
        vfs.mount(try open(name), at: "/")
        return vfs
    }

    /// `xfs_db -r -c 'sb 0' -c print` as name → value.
    static func superblockPrint(_ image: String = "xfs") throws -> [String: String] {
        let text = String(decoding: try ImageFixtures.bytes("\(image).sb.txt"), as: UTF8.self)
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2 { out[parts[0]] = parts[1] }
        }
        return out
    }
}

@Suite(.enabled(if: XFSFixture.available, "needs loop mounts to build the XFS fixtures"))
struct XFSTests {
    /// As RHEL 9 makes them (4 KiB blocks, bigtime), and with 1 KiB blocks, 8 KiB directory blocks,
    /// 64-bit extent counters and 32-bit timestamps.
    static let images = ["xfs", "xfs-1k"]

    /// Every path, with type, permissions, links, owner, size and mtime, as find printed them.
    @Test(arguments: images) func treeMatchesFindListing(image: String) throws {
        let vfs = try XFSFixture.vfs(image + ".qcow2")
        var lines: [String] = []
        func walk(_ path: String) throws {
            let st = try vfs.lstat(path.isEmpty ? "/" : path)
            let type: String = switch st.type {
            case .regular: "f"
            case .directory: "d"
            case .symlink: "l"
            case .characterDevice: "c"
            case .blockDevice: "b"
            case .fifo: "p"
            case .socket: "s"
            case .unknown: "?"
            }
            let nanos = String(st.mtime.nanoseconds).leftPad(9)
            lines.append("\(type) \(String(st.permissions, radix: 8)) \(st.nlink) \(st.uid) \(st.gid) \(st.size) \(st.mtime.seconds).\(nanos) .\(path)")
            if st.type == .directory {
                for e in try vfs.readdir(path.isEmpty ? "/" : path) {
                    let child = path + "/" + e.name
                    let cst = try vfs.lstat(child)
                    #expect(e.type == cst.type, "\(child)")
                    try walk(child)
                }
            }
        }
        try walk("")
        // find prints %T@ as tv_sec "." tv_nsec with a tenth, noise digit; "." is the root.
        let expected = String(decoding: try ImageFixtures.bytes("\(image)-tree.txt"), as: UTF8.self)
            .split(separator: "\n").map { line -> String in
                var f = line.split(separator: " ", maxSplits: 7).map(String.init)
                f[6] = String(f[6].dropLast())
                return f.joined(separator: " ")
            }
        #expect(lines.count == expected.count)
        #expect(lines.sorted { $0.split(separator: " ").last! < $1.split(separator: " ").last! }
            == expected.sorted { $0.split(separator: " ").last! < $1.split(separator: " ").last! })
        #expect(lines.count > 5400)
    }

    /// The kernel picked the format each directory tests; the listing matches what was created.
    @Test(arguments: images) func directoryFormats(image: String) throws {
        let fs = try XFSFixture.open(image + ".qcow2")
        let vfs = try XFSFixture.vfs(image + ".qcow2")
        let bs = UInt64(fs.blockSize)
        let perDirBlock = UInt64(fs.superblock.directoryBlockSize) / bs
        let leafBlock = XFSFilesystem.directoryLeafOffset / bs, freeBlock = 2 * leafBlock
        func inode(_ path: String) throws -> XFSInode { try fs.inode(vfs.lstat(path).inode) }

        let small = try inode("/small")
        #expect(small.format == XFSFilesystem.formatLocal)
        #expect(try vfs.readdir("/small").map(\.name) == ["f1", "f2", "f3", "f4", "f5"])

        let block = try inode("/block")
        #expect(block.format == XFSFilesystem.formatExtents && block.size == UInt64(fs.superblock.directoryBlockSize))
        #expect(Set(try vfs.readdir("/block").map(\.name)) == Set((1...50).map { "entry-\($0)" }))

        // Leaf: several data blocks and one leaf block, no free index.
        let leaf = try inode("/leaf")
        let leafMap = try fs.extents(leaf)
        #expect(leaf.size > UInt64(fs.superblock.directoryBlockSize))
        #expect(leafMap.filter { $0.offset >= leafBlock }.map(\.count).reduce(0, +) == perDirBlock)
        #expect(!leafMap.contains { $0.offset >= freeBlock })
        #expect(Set(try vfs.readdir("/leaf").map(\.name)) == Set((1...400).map { "leaf-entry-number-\($0)" }))

        // Node: a da-btree over many leaf blocks, a free index, and a B+tree extent map.
        let node = try inode("/node")
        let nodeMap = try fs.extents(node)
        #expect(node.format == XFSFilesystem.formatBtree)
        #expect(nodeMap.filter { $0.offset >= leafBlock && $0.offset < freeBlock }.map(\.count).reduce(0, +) > 2 * perDirBlock)
        #expect(nodeMap.contains { $0.offset >= freeBlock })
        let names = try vfs.readdir("/node").map(\.name)
        #expect(names.count == 5000 && Set(names) == Set((1...5000).map { "n\($0)" }))
        #expect(try fs.lookup(vfs.lstat("/node").inode, name: Array("n4321".utf8)) != nil)
        #expect(try fs.lookup(vfs.lstat("/node").inode, name: Array("n5001".utf8)) == nil)
        #expect(try vfs.readFile("/small/f3") == Array("small 3\n".utf8))
        #expect(try vfs.readFile("/block/entry-42") == Array("block 42\n".utf8))
    }

    @Test(arguments: images) func fileContents(image: String) throws {
        let vfs = try XFSFixture.vfs(image + ".qcow2")
        #expect(try vfs.readFile("/hello.txt") == Array("hello from xfs\n".utf8))
        #expect(try vfs.readFile("/tïmé/日本語.txt") == Array("ünïcödé\n".utf8))
        let blob = try ext4TestShell("python3 -c 'import random, sys; sys.stdout.write(random.Random(\"xfs-blob\").randbytes(300 * 1024).hex())'")
        #expect(try vfs.readFile("/data/blob.bin").map { String($0, radix: 16).leftPad(2) }.joined() == blob)

        var sparse = [UInt8](repeating: 0, count: 8 << 20)
        sparse.replaceSubrange(0..<5, with: Array("start".utf8))
        sparse.replaceSubrange(1_048_576..<1_048_582, with: Array("middle".utf8))
        sparse.replaceSubrange(5_242_887..<5_242_891, with: Array("late".utf8))
        #expect(try vfs.readFile("/data/sparse") == sparse)

        var unwritten = [UInt8](repeating: 0, count: 1 << 20)
        unwritten.replaceSubrange(409_600..<409_607, with: Array("written".utf8))
        #expect(try vfs.readFile("/data/unwritten") == unwritten)
        let fs = try XFSFixture.open(image + ".qcow2")
        #expect(try fs.extents(fs.inode(vfs.lstat("/data/unwritten").inode)).contains { $0.unwritten })
    }

    /// 1200 one-block extents, one every other block, mapped by a bmbt below the inode's root.
    @Test(arguments: images) func fragmentedFileThroughBmbt(image: String) throws {
        let fs = try XFSFixture.open(image + ".qcow2")
        let vfs = try XFSFixture.vfs(image + ".qcow2")
        let ino = try vfs.lstat("/data/frag").inode
        let i = try fs.inode(ino)
        #expect(i.format == XFSFilesystem.formatBtree)
        // nrext64 filesystems give new inodes 64-bit extent counters.
        #expect((i.flags2 & XFSFilesystem.flag2Nrext64 != 0) == (image == "xfs-1k"))
        #expect(try fs.extents(i).count == 1200)
        var expected = [UInt8](repeating: 0, count: 1199 * 8192 + 4096)
        for k in 0..<1200 {
            var piece: [UInt8] = []
            for _ in 0..<409 { piece += Array("frag\(String(k).leftPad(6))".utf8) }
            piece += Array("xxxxxx".utf8)
            expected.replaceSubrange(k * 8192..<(k * 8192 + 4096), with: piece)
        }
        #expect(try vfs.readFile("/data/frag") == expected)
        // Reads that start and end inside extents and holes.
        #expect(try fs.read(ino, at: 8192 * 700 + 4090, count: 12) == Array("xxxxxx".utf8) + [UInt8](repeating: 0, count: 6))
        #expect(try fs.read(ino, at: 8192 * 1199 + 4000, count: 500).count == 96)
    }

    @Test(arguments: images) func symlinksLinksDevices(image: String) throws {
        let vfs = try XFSFixture.vfs(image + ".qcow2")
        let fs = try XFSFixture.open(image + ".qcow2")
        #expect(try vfs.readlink("/links/short") == "../hello.txt")
        let long = "/" + (1...50).map { "long-component-\(String($0).leftPad(3))/" }.joined() + "end"
        #expect(try vfs.readlink("/links/long") == long)
        #expect(try fs.inode(vfs.lstat("/links/long").inode).format == XFSFilesystem.formatExtents)
        #expect(try fs.inode(vfs.lstat("/links/short").inode).format == XFSFilesystem.formatLocal)
        #expect(try vfs.readFile("/links/short") == Array("hello from xfs\n".utf8))

        let hello = try vfs.lstat("/hello.txt")
        #expect(hello.nlink == 3 && hello.uid == 1000 && hello.gid == 1001)
        #expect(try vfs.lstat("/links/hard1").inode == hello.inode && vfs.lstat("/links/hard2").inode == hello.inode)
        #expect(try vfs.lstat("/data/blob.bin").mode == 0o104751)

        #expect(try vfs.lstat("/dev/null").rdev == 0x103)
        #expect(try vfs.lstat("/dev/sda1").rdev == 0x801 && vfs.lstat("/dev/sda1").type == .blockDevice)
        // major 300, minor 70000 in Linux's new encoding.
        #expect(try vfs.lstat("/dev/big").rdev == (70000 & 0xFF) | 300 << 8 | (70000 & ~0xFF) << 12)
        #expect(try vfs.lstat("/dev/fifo").type == .fifo)
        #expect(throws: GuestFSError.self) { try vfs.readFile("/dev/null") }
    }

    @Test func bigtimeTimestamps() throws {
        let vfs = try XFSFixture.vfs()
        #expect(try vfs.lstat("/tïmé/日本語.txt").mtime == FileTime(seconds: 4_102_542_245, nanoseconds: 123_456_789))
        #expect(try vfs.lstat("/small/f1").mtime == FileTime(seconds: -617_557_850, nanoseconds: 500_000_000))
        // Without bigtime Linux clamps 2100 to the last 32-bit second.
        let small = try XFSFixture.vfs("xfs-1k.qcow2")
        #expect(try small.lstat("/tïmé/日本語.txt").mtime.seconds == Int64(Int32.max))
        #expect(try small.lstat("/small/f1").mtime == FileTime(seconds: -617_557_850, nanoseconds: 500_000_000))
    }

    /// Linux's own statfs of the read-only mount, and the counts behind it in xfs_db's print.
    @Test(arguments: images) func statfsMatchesLinux(image: String) throws {
        let fs = try XFSFixture.open(image + ".qcow2")
        let usage = try fs.statfs()
        let linux = String(decoding: try ImageFixtures.bytes("\(image).statfs.txt"), as: UTF8.self)
            .split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt64($0) }
        #expect([usage.blockSize, usage.blocks, usage.freeBlocks, usage.availableBlocks, usage.files, usage.freeFiles] == linux)
        let sb = try XFSFixture.superblockPrint(image)
        let dblocks = try #require(UInt64(sb["dblocks"] ?? "")), logblocks = try #require(UInt64(sb["logblocks"] ?? ""))
        #expect(usage.blocks == dblocks - logblocks)
        let agcount = try #require(UInt64(sb["agcount"] ?? "")), fdblocks = try #require(UInt64(sb["fdblocks"] ?? ""))
        #expect(usage.freeBlocks == fdblocks - agcount * 8)
        let icount = try #require(UInt64(sb["icount"] ?? "")), ifree = try #require(UInt64(sb["ifree"] ?? ""))
        #expect(usage.files - usage.freeFiles == icount - ifree)
        #expect(fs.superblock.inodeCount == icount && fs.superblock.dataBlocks == dblocks)
    }

    @Test func detectionAndRawImage() throws {
        let raw = try openImage(path: ImageFixtures.path("xfs.raw"))
        let sig = detectFilesystem(raw)
        #expect(sig.type == "xfs" && sig.label == "corralxfs")
        let a = try XFSFixture.vfs("xfs.raw"), b = try XFSFixture.vfs("xfs.qcow2")
        #expect(try a.readFile("/data/frag") == b.readFile("/data/frag"))
        #expect(try a.readdir("/node").map(\.inode) == b.readdir("/node").map(\.inode))
    }
}

@Suite(.enabled(if: ImageFixtures.exists("xfs-v4.raw"), "needs mkfs.xfs"))
struct XFSVersion4Tests {
    /// Version 4 (no CRCs, v2 inodes, no file types in directories), built by mkfs.xfs from a
    /// protofile as Linux 6 cannot mount it.
    @Test func version4() throws {
        let fs = try XFSFixture.open("xfs-v4.raw")
        var vfs = VFS()
        vfs.mount(fs, at: "/")
        #expect(!fs.superblock.isV5 && !fs.superblock.hasFtype)
        #expect(try vfs.readFile("/hello.txt") == Array("hello from xfs v4\n".utf8))
        let blob = try ext4TestShell("python3 -c 'import random, sys; sys.stdout.write(random.Random(\"xfs-v4-blob\").randbytes(100 * 1024).hex())'")
        #expect(try vfs.readFile("/blob.bin").map { String($0, radix: 16).leftPad(2) }.joined() == blob)
        #expect(try vfs.lstat("/blob.bin").mode == 0o104751)
        #expect(try vfs.lstat("/hello.txt").uid == 1000)
        #expect(try fs.inode(vfs.lstat("/small").inode).format == XFSFilesystem.formatLocal)
        #expect(try vfs.readdir("/small").map(\.name) == ["f1", "f2", "f3", "f4", "f5"])
        #expect(try vfs.readdir("/small").allSatisfy { $0.type == .regular })
        #expect(try fs.inode(vfs.lstat("/block").inode).size == 4096)
        #expect(Set(try vfs.readdir("/block").map(\.name)) == Set((1...50).map { "entry-\($0)" }))
        #expect(try vfs.readFile("/block/entry-9") == Array("hello from xfs v4\n".utf8))
        #expect(try vfs.readdir("/leaf").count == 400)
        #expect(try vfs.lstat("/leaf").size > 4096)
        #expect(try vfs.readlink("/links/short") == "../hello.txt")
        #expect(try vfs.readlink("/links/long") == "/" + (1...50).map { "long-component-\(String($0).leftPad(3))/" }.joined() + "end")
        #expect(try vfs.readdir("/links").map(\.type) == [.symlink, .symlink])
        #expect(try vfs.lstat("/dev/sda1").rdev == 0x801 && vfs.lstat("/dev/sda1").gid == 6)
        #expect(try vfs.readdir("/dev").map(\.type) == [.characterDevice, .blockDevice, .fifo])
        let usage = try fs.statfs()
        let sb = try XFSFixture.superblockPrint("xfs-v4")
        #expect(usage.blocks == (try #require(UInt64(sb["dblocks"] ?? ""))) - (try #require(UInt64(sb["logblocks"] ?? ""))))
        #expect(usage.freeBlocks == (try #require(UInt64(sb["fdblocks"] ?? ""))) - 4 * 8)
    }
}

@Suite(.enabled(if: ImageFixtures.exists("rhel-xfs.qcow2"), "needs loop mounts and LVM tools"))
struct XFSGuestLayoutTests {
    /// GPT with an EFI partition, XFS /boot, and an LVM PV with XFS root: RHEL 9's default layout.
    @Test func rhelLayout() throws {
        let guest = try GuestDisks.open([(ImageFixtures.path("rhel-xfs.qcow2"), nil)])
        #expect(try guest.filesystemCandidates().map(\.name) == ["/dev/sda1", "/dev/sda2", "/dev/rhel/root"])
        #expect(try detectFilesystem(guest.device(named: "/dev/sda1")).type == "vfat")
        let bootSig = detectFilesystem(try guest.device(named: "/dev/sda2"))
        #expect(bootSig.type == "xfs" && bootSig.label == "boot")

        var vfs = VFS()
        vfs.mount(try openFilesystem(guest.device(named: "/dev/mapper/rhel-root")), at: "/")
        vfs.mount(try openFilesystem(guest.device(named: "/dev/sda2")), at: "/boot")
        let osRelease = String(decoding: try vfs.readFile("/etc/os-release"), as: UTF8.self)
        #expect(osRelease.contains("ID=\"rhel\"") && osRelease.contains("VERSION_ID=\"9.4\""))
        let fstab = String(decoding: try vfs.readFile("/etc/fstab"), as: UTF8.self)
        #expect(fstab.contains("UUID=\(bootSig.uuid ?? "?") /boot xfs"))
        #expect(try vfs.readdir("/boot").map(\.name).sorted() == ["grub2", "vmlinuz-5.14.0-427.13.1.el9_4.x86_64"])
        #expect(try vfs.readFile("/boot/grub2/grub.cfg") == Array("set default=0\n".utf8))
        #expect(try vfs.readFile("/root/notes.txt") == Array("root's file\n".utf8))
    }
}
