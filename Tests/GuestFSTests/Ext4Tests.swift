import Foundation
import Testing
@testable import GuestFS

/// Compares the tree under `guest` (read through the reader) with the host tree it was made from:
/// names, types, modes, owners, link counts, times, sizes, link targets and contents.
func ext4CompareTree(_ vfs: VFS, guest: String, host: String, smallInodes: Bool) throws -> Int {
    let entries = try vfs.readdir(guest.isEmpty ? "/" : guest)
    let hostNames = try FileManager.default.contentsOfDirectory(atPath: host).sorted()
    let names = entries.map(\.name).filter { $0 != "lost+found" || guest != "" }
    #expect(names.sorted() == hostNames, "names in \(guest)/")
    var count = entries.count
    for e in entries where !(guest.isEmpty && e.name == "lost+found") {
        let gp = guest + "/" + e.name, hp = host + "/" + e.name
        var st = stat()
        guard lstat(hp, &st) == 0 else { Issue.record("\(gp) is not in the source tree"); continue }
        let g = try vfs.lstat(gp)
        #expect(g.mode == UInt32(st.st_mode), "mode of \(gp)")
        #expect(e.type == g.type, "entry type of \(gp)")
        #expect(g.uid == st.st_uid && g.gid == st.st_gid, "owner of \(gp)")
        if g.type != .directory { #expect(g.nlink == UInt64(st.st_nlink), "links of \(gp)") }
        // mke2fs -d stores the low 32 bits of the seconds only (no extra field), whatever the inode size.
        let seconds = Int64(Int32(truncatingIfNeeded: Int64(st.st_mtim.tv_sec)))
        #expect(g.mtime.seconds == seconds, "mtime of \(gp)")
        switch g.type {
        case .regular:
            #expect(g.size == UInt64(st.st_size), "size of \(gp)")
            try ext4CompareContents(vfs, gp, hp)
        case .symlink:
            let target = try FileManager.default.destinationOfSymbolicLink(atPath: hp)
            #expect(try vfs.readlink(gp) == target, "target of \(gp)")
            #expect(g.size == UInt64(target.utf8.count))
        case .directory:
            count += try ext4CompareTree(vfs, guest: gp, host: hp, smallInodes: smallInodes)
        default:
            break
        }
    }
    return count
}

func ext4CompareContents(_ vfs: VFS, _ guest: String, _ host: String) throws {
    guard let handle = FileHandle(forReadingAtPath: host) else { throw GuestFSError("cannot open \(host)") }
    defer { try? handle.close() }
    var total = 0
    try vfs.readFile(guest, chunkSize: 1 << 20) { chunk throws(GuestFSError) in
        let expected = handle.readData(ofLength: chunk.count)
        #expect(expected == Data(chunk), "contents of \(guest) at \(total)")
        total += chunk.count
    }
    #expect(handle.readData(ofLength: 1).isEmpty, "\(guest) read short (\(total) bytes)")
}

@Suite(.serialized) struct Ext4Tests {
    @Test(arguments: Ext4Fixture.variants)
    func wholeTreeMatchesSource(_ variant: Ext4Fixture.Variant) throws {
        let fs = try Ext4Fixture.open(variant)
        #expect(fs.typeName == variant.kind)
        var vfs = VFS()
        vfs.mount(fs, at: "/")
        let count = try ext4CompareTree(vfs, guest: "", host: Ext4Fixture.source.get(),
                                        smallInodes: fs.superblock.inodeSize == 128)
        #expect(count > 5000 + 50)
        let a = try vfs.lstat("/hello.txt"), b = try vfs.lstat("/hardlink.txt")
        #expect(a.inode == b.inode && a.nlink == 2)
        #expect(try vfs.lstat("/owned").uid == 100000)
        #expect(try vfs.lstat("/old").mtime.seconds == -315619200)
        let fifo = try vfs.lstat("/fifo")
        #expect(fifo.type == .fifo && fifo.size == 0)
        #expect(try vfs.stat("/").type == .directory)
    }

    @Test func detectionAgreesWithBlkid() throws {
        for variant in Ext4Fixture.variants {
            let path = try Ext4Fixture.image(variant)
            let sig = try detectFilesystem(Ext4TestFileDevice(path: path))
            let blkid = try ext4TestShell("blkid -p -o export \"$1\"", [path])
            #expect(blkid.contains("TYPE=\(sig.type)\n"), "\(variant): \(sig.type) vs \(blkid)")
            #expect(sig.label == String("test-\(variant.name)".prefix(16)))
            #expect(sig.uuid == "01234567-89ab-cdef-0123-456789abcdef")
        }
    }

    @Test func mappingModesAreThoseAsked() throws {
        // The variants must really exercise extents, block maps and inline data.
        let extents = try Ext4Fixture.open(Ext4Fixture.variants[0])
        let ino = try extents.inode(extents.stat(VFSTestsSupport.inode(extents, "size-300000")).inode)
        #expect(ino.flags & Ext4Inode.flagExtents != 0)
        // Ten data islands need more extents than fit in the inode: a tree with an index level.
        let frag = try extents.inode(VFSTestsSupport.inode(extents, "frag"))
        #expect(frag.iBlock.le16(6) == 1, "extent tree depth")
        #expect(try extents.mapBlocks(frag, 0..<1024).count == 10)
        let ext2 = try Ext4Fixture.open(Ext4Fixture.variants[3])
        let ino2 = try ext2.inode(VFSTestsSupport.inode(ext2, "sparse"))
        #expect(ino2.flags & Ext4Inode.flagExtents == 0)
        // 70 MiB into a file of 1 KiB blocks lies beyond the double-indirect range (~64 MiB).
        #expect(UInt64(ino2.raw.le32(0x28 + 14 * 4)) != 0, "triple indirect block in use")
        let inline = try Ext4Fixture.open(Ext4Fixture.variants[6])
        for name in ["hello.txt", "small100", "dir1"] {
            let i = try inline.inode(VFSTestsSupport.inode(inline, name))
            #expect(i.flags & Ext4Inode.flagInlineData != 0, "\(name) inline")
        }
        #expect(try inline.read(VFSTestsSupport.inode(inline, "small100"), at: 0, count: 200).count == 100)
        let metabg = try Ext4Fixture.open(Ext4Fixture.variants[9])
        #expect(metabg.superblock.featureIncompat & 0x10 != 0)
        #expect(metabg.inodeTables.count > 1)
    }

    @Test func sparseFileHolesAndRanges() throws {
        for variant in [Ext4Fixture.variants[0], Ext4Fixture.variants[3]] {
            let fs = try Ext4Fixture.open(variant)
            let ino = try VFSTestsSupport.inode(fs, "sparse")
            let st = try fs.stat(ino)
            #expect(st.size == 80 << 20)
            #expect(st.blocks < 100, "\(variant): sparse file allocates \(st.blocks) sectors")
            #expect(try fs.read(ino, at: 73400320 - 2, count: 10) == [0, 0] + Array("middle".utf8) + [0, 0])
            #expect(try fs.read(ino, at: (80 << 20) - 5, count: 100) == [0, 0] + Array("end".utf8))
            #expect(try fs.read(ino, at: 80 << 20, count: 100).isEmpty)
            #expect(try fs.read(ino, at: 1 << 20, count: 4096) == [UInt8](repeating: 0, count: 4096))
        }
    }

    @Test func hugeSparseFileAndEpochTimes() throws {
        let dir = NSTemporaryDirectory() + "ext4-huge-\(getpid())"
        let img = dir + ".img"
        defer { try? FileManager.default.removeItem(atPath: dir); try? FileManager.default.removeItem(atPath: img) }
        for (opts, kind) in [("-t ext4", "ext4"), ("-t ext2 -b 1024", "ext2")] {
            try ext4TestShell("""
                set -e; rm -rf "$1" "$2"; mkdir -p "$1"
                truncate -s 1G "$1/huge"
                printf tail | dd of="$1/huge" bs=1 seek=1073741820 conv=notrunc status=none
                echo t > "$1/t"
                mke2fs -q -F \(opts) -d "$1" "$2" 16M
                debugfs -w -R 'sif /t mtime 20400601120000' "$2" 2>/dev/null
                debugfs -w -R 'sif /t atime 20400601120000' "$2" 2>/dev/null
                debugfs -w -R 'sif /t atime_extra 0x1D6F3455' "$2" 2>/dev/null
                """, [dir, img])
            let fs = try Ext4Filesystem(device: Ext4TestFileDevice(path: img))
            #expect(fs.typeName == kind)
            var vfs = VFS()
            vfs.mount(fs, at: "/")
            #expect(try vfs.stat("/huge").size == 1 << 30)
            let ino = try vfs.stat("/huge").inode
            #expect(try fs.read(ino, at: (1 << 30) - 6, count: 6) == [0, 0] + Array("tail".utf8))
            let t = try vfs.stat("/t")
            #expect(t.mtime.seconds == 2222164800, "epoch bits extend seconds past 2038")
            #expect(t.atime == FileTime(seconds: 2222164800, nanoseconds: 123456789))
        }
    }

    @Test func unsupportedIncompatFeaturesAreRefused() throws {
        var bytes = try Ext4TestMemoryDevice(bytes: Array(Data(contentsOf: URL(fileURLWithPath:
            Ext4Fixture.image(Ext4Fixture.variants[0]))))).bytes
        bytes[1024 + 0x60 + 2] |= 0x01  // INCOMPAT 0x10000: encrypt
        #expect(throws: GuestFSError("ext4: unsupported incompatible features: encrypt")) {
            try Ext4Filesystem(device: Ext4TestMemoryDevice(bytes: bytes))
        }
        bytes[1024 + 0x60 + 3] |= 0x80  // an undefined bit
        #expect(throws: GuestFSError("ext4: unsupported incompatible features: encrypt, 0x80000000")) {
            try Ext4Filesystem(device: Ext4TestMemoryDevice(bytes: bytes))
        }
    }
}

enum VFSTestsSupport {
    /// Inode of a name in the root directory.
    static func inode(_ fs: Ext4Filesystem, _ name: String) throws -> UInt64 {
        guard let ino = try fs.lookup(fs.rootInode, name: Array(name.utf8)) else { throw GuestFSError("no \(name)") }
        return ino
    }
}

@Suite struct Ext4InlineDirectoryTests {
    /// mke2fs moves a directory out of the inode once i_block is full, so the part of an inline
    /// directory kept in the system.data xattr (as the kernel writes it) is patched in by hand.
    @Test func inlineDirectoryContinuesInXattr() throws {
        let variant = Ext4Fixture.variants[6]
        let image = Array(try Data(contentsOf: URL(fileURLWithPath: Ext4Fixture.image(variant))))
        let fs = try Ext4Filesystem(device: Ext4TestMemoryDevice(bytes: image))
        let dir = try VFSTestsSupport.inode(fs, "dir1")
        let hello = try VFSTestsSupport.inode(fs, "hello.txt")
        let isz = fs.superblock.inodeSize
        let ipg = UInt64(fs.superblock.inodesPerGroup)
        let base = Int(fs.inodeTables[Int((dir - 1) / ipg)]) * fs.blockSize + Int((dir - 1) % ipg) * isz
        var raw = Array(image[base..<(base + isz)])
        let entries = 128 + Int(raw.le16(0x80)) + 4
        #expect(raw.le32(entries - 4) == 0xEA02_0000)
        // The first in-inode xattr is system.data (index 7, "data"), empty while everything fits i_block.
        #expect(raw[entries] == 4 && raw[entries + 1] == 7 && raw.le32(entries + 8) == 0)
        let valueAt = isz - 16
        func put32(_ v: UInt32, _ at: Int) { for k in 0..<4 { raw[at + k] = UInt8(truncatingIfNeeded: v >> (8 * k)) } }
        raw[entries + 2] = UInt8((valueAt - entries) & 0xFF); raw[entries + 3] = UInt8((valueAt - entries) >> 8)
        put32(16, entries + 8)
        put32(UInt32(hello), valueAt)                        // inode
        raw[valueAt + 4] = 16; raw[valueAt + 5] = 0          // rec_len
        raw[valueAt + 6] = 4; raw[valueAt + 7] = 1           // name_len, regular file
        raw.replaceSubrange((valueAt + 8)..<(valueAt + 12), with: Array("xtra".utf8))
        var patched = image
        patched.replaceSubrange(base..<(base + isz), with: raw)
        let fs2 = try Ext4Filesystem(device: Ext4TestMemoryDevice(bytes: patched))
        let names = try fs2.readdir(dir).map(\.name)
        #expect(names.last == "xtra" && names.sorted() == ["abs-etc", "sub", "up", "xtra"])
        #expect(try fs2.lookup(dir, name: Array("xtra".utf8)) == hello)
    }
}
