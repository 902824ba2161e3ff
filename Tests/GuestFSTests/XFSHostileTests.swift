// Hostile XFS images: the kernel-written fixture with chosen fields corrupted (superblock geometry,
// B+tree levels and loops, extents past the device, directory blocks, symlinks), then seeded random
// byte mutations of its metadata. The reader must throw GuestFSError or read on; never crash or hang.

import Foundation
import Testing
@testable import GuestFS

/// A device with a few bytes overwritten, over another device.
struct XFSPatchedDevice: BlockDevice {
    let base: any BlockDevice
    var patches: [Int: UInt8] = [:]
    var size: UInt64 { base.size }

    func read(at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        var out = try base.read(at: offset, count: count)
        for (at, byte) in patches where at >= Int(offset) && at < Int(offset) + count { out[at - Int(offset)] = byte }
        return out
    }

    mutating func put(_ value: UInt64, at offset: Int, width: Int) {
        for i in 0..<width { patches[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(width - 1 - i))) }
    }
}

@Suite(.serialized, .enabled(if: XFSFixture.available, "needs loop mounts to build the XFS fixtures"))
struct XFSHostileTests {
    static func base() throws -> any BlockDevice { try Ext4TestFileDevice(path: ImageFixtures.path("xfs.raw")) }

    /// The byte offset of inode `path`'s core and the reader's view of it.
    static func locate(_ path: String) throws -> (offset: Int, inode: XFSInode, fs: XFSFilesystem) {
        let fs = try XFSFilesystem(device: base())
        var vfs = VFS()
        vfs.mount(fs, at: "/")
        let ino = try vfs.lstat(path).inode
        let (block, index) = try fs.inodeLocation(ino)
        return (Int(block) * fs.blockSize + index * fs.superblock.inodeSize, try fs.inode(ino), fs)
    }

    /// Opens the patched image and walks it; returns the error of the first failing step, if any.
    static func attempt(_ device: XFSPatchedDevice, _ paths: [String]) -> GuestFSError? {
        do {
            var vfs = VFS()
            vfs.mount(try XFSFilesystem(device: device), at: "/")
            for p in paths {
                let st = try vfs.lstat(p)
                switch st.type {
                case .directory: _ = try vfs.readdir(p)
                case .symlink: _ = try vfs.readlink(p)
                case .regular: _ = try vfs.readFile(p)
                default: break
                }
            }
            return nil
        } catch { return error }
    }

    @Test func superblockFields() throws {
        let cases: [(Int, UInt64, Int, String)] = [
            (0, 0x5846_5343, 4, "magic"), (100, 0xB4A6, 2, "version 6"), (4, 3000, 4, "block size"),
            (102, 256, 2, "sector size"), (104, 256, 2, "inode size 256 on v5"), (88, 0, 4, "agcount 0"),
            (88, 9, 4, "agcount vs dblocks"), (84, 100, 4, "agblocks vs agblklog"), (124, 40, 1, "agblklog"),
            (8, 1 << 40, 8, "dblocks beyond the device"), (123, 4, 1, "inopblog"), (216, 0x1000_000B, 4, "unknown feature"),
            (216, 0x1B, 4, "needsrepair"), (56, 0, 8, "root inode 0"), (56, 1 << 60, 8, "root inode beyond the AGs"),
            (48, 0xFFFF_FFFF, 8, "log start"), (192, 9, 1, "directory block log"),
            (192, 64, 1, "directory block log past the shift width"),
            (126, 1, 1, "mkfs in progress"),
        ]
        for (offset, value, width, what) in cases {
            var d = XFSPatchedDevice(base: try Self.base())
            d.put(value, at: offset, width: width)
            #expect(throws: GuestFSError.self, "\(what)") { try XFSFilesystem(device: d) }
        }
        // A truncated device.
        let short = try SliceDevice(base: Self.base(), offset: 0, size: 100 << 20)
        #expect(throws: GuestFSError.self) { try XFSFilesystem(device: short) }
    }

    @Test func bmbtCorruption() throws {
        let (at, frag, fs) = try Self.locate("/data/frag")
        let root = at + frag.literalOffset
        let fork = frag.dataFork
        let maxRecords = (fork.count - 4) / 16
        let ptrs = root + 4 + maxRecords * 8
        let firstLeaf = Int(try fs.linearBlock(fork.be64(4 + maxRecords * 8), "test")) * fs.blockSize
        let patches: [(String, (inout XFSPatchedDevice) -> Void)] = [
            ("root level 12", { $0.put(12, at: root, width: 2) }),
            ("root level 0", { $0.put(0, at: root, width: 2) }),
            ("attribute fork leaves no room for the root", { $0.put(1, at: at + 82, width: 1) }),
            ("root records beyond the fork", { $0.put(UInt64(maxRecords + 1), at: root + 2, width: 2) }),
            ("two pointers to one leaf", { $0.put(fork.be64(4 + maxRecords * 8), at: ptrs + 8, width: 8) }),
            ("pointer past the device", { $0.put(1 << 50, at: ptrs, width: 8) }),
            ("leaf claims level 1", { $0.put(1, at: firstLeaf + 4, width: 2) }),
            ("leaf record count 0xffff", { $0.put(0xFFFF, at: firstLeaf + 6, width: 2) }),
            ("leaf owned by another inode", { $0.put(frag.number + 1, at: firstLeaf + 56, width: 8) }),
            ("leaf magic", { $0.put(0, at: firstLeaf, width: 4) }),
            ("extent count too small", { $0.put(10, at: at + 76, width: 4) }),
            // First record of the first leaf: length 0, then a block past the last AG.
            ("zero-length extent", { $0.put(0, at: firstLeaf + 72 + 8, width: 8) }),
            ("extent past the device", { $0.put(0xFFFF_FFFF_FFE0_0001, at: firstLeaf + 72 + 8, width: 8) }),
            ("extents out of order", { $0.put(UInt64(5000) << 9, at: firstLeaf + 72, width: 8) }),
        ]
        for (what, patch) in patches {
            var d = XFSPatchedDevice(base: try Self.base())
            patch(&d)
            #expect(Self.attempt(d, ["/data/frag"]) != nil, "\(what)")
        }
    }

    @Test func inodeAndExtentCorruption() throws {
        let (at, sparse, _) = try Self.locate("/data/sparse")
        let fork = at + sparse.literalOffset
        let patches: [(String, Int, UInt64, Int)] = [
            ("inode magic", at, 0x4E49, 2), ("inode version 2 on v5", at + 4, 2, 1),
            ("inode number mismatch", at + 152, 12345, 8), ("fork format local for a file", at + 5, 1, 1),
            ("fork format 9", at + 5, 9, 1), ("attr fork offset past the inode", at + 82, 255, 1),
            ("extent count past the fork", at + 76, 1000, 4), ("negative size", at + 56, 1 << 63, 8),
            ("extent block past the device", fork + 8, 0x0000_7FFF_FFE0_0001, 8),
            ("extent in AG 200", fork + 8, 200 << 36 | 1, 8),
            ("no file type", at + 2, 0o644, 2),
        ]
        for (what, offset, value, width) in patches {
            var d = XFSPatchedDevice(base: try Self.base())
            d.put(value, at: offset, width: width)
            #expect(Self.attempt(d, ["/data/sparse"]) != nil, "\(what)")
        }
        // Realtime files are refused by name rather than read from the data device.
        var rt = XFSPatchedDevice(base: try Self.base())
        rt.put(UInt64(XFSFilesystem.flagRealtime), at: at + 90, width: 2)
        #expect(Self.attempt(rt, ["/data/sparse"])?.message.contains("realtime device") == true)
        // An inode number whose AG does not exist.
        let fs = try XFSFilesystem(device: Self.base())
        #expect(throws: GuestFSError.self) { try fs.stat(UInt64(1) << 40) }
        #expect(throws: GuestFSError.self) { try fs.stat(0) }
    }

    @Test func directoryCorruption() throws {
        let (_, blockDir, fs) = try Self.locate("/block")
        let dirBlock = Int(try fs.extents(blockDir)[0].block) * fs.blockSize
        let (leafAt, leafDir, _) = try Self.locate("/leaf")
        let leafData = Int(try fs.extents(leafDir)[0].block) * fs.blockSize
        let (smallAt, small, _) = try Self.locate("/small")
        let sf = smallAt + small.literalOffset
        let patches: [(String, String, Int, UInt64, Int)] = [
            ("block magic", "/block", dirBlock, 0x5844_4434, 4),
            ("block owner", "/block", dirBlock + 40, 7, 8),
            ("block tail: too many hash entries", "/block", dirBlock + fs.blockSize - 8, 0xFFFF, 4),
            ("block entry name length 0", "/block", dirBlock + 64 + 8, 0, 1),
            ("block entry name length 255", "/block", dirBlock + 64 + 8, 255, 1),
            ("block entry tag", "/block", dirBlock + 64 + 14, 0x99, 2),
            ("data block magic", "/leaf", leafData, 0x5844_4233, 4),
            ("data block free space length 3", "/leaf", leafData + 64, 0xFFFF_0003, 4),
            ("short-form count 200", "/small", sf, 200, 1),
            ("short-form size past the fork", "/small", smallAt + 56, 4000, 8),
            ("short-form name length 0", "/small", sf + 6, 0, 1),
            ("directory unwritten extent", "/leaf", leafAt + leafDir.literalOffset, 1 << 63, 8),
        ]
        for (what, path, offset, value, width) in patches {
            var d = XFSPatchedDevice(base: try Self.base())
            d.put(value, at: offset, width: width)
            #expect(Self.attempt(d, [path]) != nil, "\(what)")
        }
    }

    @Test func symlinkCorruption() throws {
        let (longAt, long, fs) = try Self.locate("/links/long")
        let block = Int(try fs.extents(long)[0].block) * fs.blockSize
        let (shortAt, _, _) = try Self.locate("/links/short")
        let patches: [(String, String, Int, UInt64, Int)] = [
            ("remote length 2000", "/links/long", longAt + 56, 2000, 8),
            ("remote length 0", "/links/long", longAt + 56, 0, 8),
            ("remote magic", "/links/long", block, 0x5853_4C4E, 4),
            ("remote byte count", "/links/long", block + 8, 5000, 4),
            ("remote owner", "/links/long", block + 32, 3, 8),
            ("remote offset", "/links/long", block + 4, 1, 4),
            ("inline length past the fork", "/links/short", shortAt + 56, 400, 8),
        ]
        for (what, path, offset, value, width) in patches {
            var d = XFSPatchedDevice(base: try Self.base())
            d.put(value, at: offset, width: width)
            #expect(Self.attempt(d, [path]) != nil, "\(what)")
        }
    }

    @Test func statfsCorruption() throws {
        let fs = try XFSFilesystem(device: Self.base())
        let sector = fs.superblock.sectorSize
        let agBytes = Int(fs.superblock.agBlocks) * fs.blockSize
        for (offset, value, width) in [(sector, 0, 4), (agBytes + sector + 8, 3, 4), (sector + 52, 0xFFFF_FFFF, 4),
                                       (2 * sector, 0, 4), (2 * sector + 28, 0xFFFF_FFFF, 4)] {
            var d = XFSPatchedDevice(base: try Self.base())
            d.put(UInt64(value), at: offset, width: width)
            #expect(throws: GuestFSError.self) { try XFSFilesystem(device: d).statfs() }
        }
    }

    /// Seeded random bytes in the metadata the walk reads: superblock, AG headers, the inodes of
    /// every directory, symlink and test file, directory and bmbt blocks. Each image must open and
    /// walk or throw GuestFSError.
    @Test func seededMutations() throws {
        let fs = try XFSFilesystem(device: Self.base())
        var vfs = VFS()
        vfs.mount(fs, at: "/")
        let bs = fs.blockSize
        var regions: [Range<Int>] = [0..<512, fs.superblock.sectorSize..<(4 * fs.superblock.sectorSize)]
        let paths = ["/", "/small", "/block", "/leaf", "/node", "/data", "/data/frag", "/data/sparse",
                     "/data/unwritten", "/links", "/links/long", "/links/short", "/dev", "/dev/big", "/tïmé"]
        for p in paths {
            let ino = try vfs.lstat(p).inode
            let (block, index) = try fs.inodeLocation(ino)
            let at = Int(block) * bs + index * fs.superblock.inodeSize
            regions.append(at..<(at + fs.superblock.inodeSize))
            let inode = try fs.inode(ino)
            for e in try fs.extents(inode).prefix(3) where inode.format != XFSFilesystem.formatLocal {
                regions.append(Int(e.block) * bs..<(Int(e.block) * bs + bs))
            }
            if inode.format == XFSFilesystem.formatBtree {
                let fork = inode.dataFork
                let maxRecords = (fork.count - 4) / 16
                let leaf = Int(try fs.linearBlock(fork.be64(4 + maxRecords * 8), "test")) * bs
                regions.append(leaf..<(leaf + bs))
            }
        }
        // Whole-file reads only of small files: the walk reads the start of the big ones.
        let walkPaths = paths.filter { !$0.hasPrefix("/data/") } + ["/hello.txt", "/links/hard1", "/block/entry-7"]
        var rng = Ext4TestRNG(state: 0x5846_5342)
        let started = Date()
        var opened = 0, walked = 0
        let base = try Self.base()
        for _ in 0..<200 {
            var d = XFSPatchedDevice(base: base)
            let region = regions[Int.random(in: 0..<regions.count, using: &rng)]
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                d.patches[Int.random(in: region, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            guard let mutated = try? XFSFilesystem(device: d) else { continue }
            opened += 1
            _ = try? mutated.statfs()
            var visited = Set<UInt64>(), budget = 1500
            walked += Ext4HostileTests.walk(mutated, mutated.rootInode, depth: 0, visited: &visited, budget: &budget)
            _ = Self.attempt(d, walkPaths)
        }
        #expect(opened > 100 && walked > 0)
        print("xfs mutations: \(opened) opened, \(walked) entries walked in \(Date().timeIntervalSince(started)) s")
        #expect(Date().timeIntervalSince(started) < 120)
    }
}
