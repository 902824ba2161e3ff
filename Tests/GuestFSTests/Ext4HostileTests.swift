import Foundation
import Testing
@testable import GuestFS

/// An in-memory image with a few bytes overwritten, without copying the image per mutation.
struct Ext4TestPatchedDevice: BlockDevice {
    let base: [UInt8]
    let patches: [(offset: Int, byte: UInt8)]
    var size: UInt64 { UInt64(base.count) }

    func read(at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else {
            throw GuestFSError("read of \(count) bytes at \(offset) past the end")
        }
        let start = Int(offset)
        var out = Array(base[start..<(start + count)])
        for p in patches where p.offset >= start && p.offset < start + count { out[p.offset - start] = p.byte }
        return out
    }
}

/// SplitMix64: a seeded generator so failures reproduce.
struct Ext4TestRNG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite(.serialized) struct Ext4HostileTests {
    static let smallImages: Result<[String: [UInt8]], any Error> = Result {
        let dir = NSTemporaryDirectory() + "ext4-hostile-\(getpid())"
        try ext4TestShell("""
            set -e; rm -rf "$1"; mkdir -p "$1/src/etc" "$1/src/a/b/c"
            cd "$1/src"
            echo ID=x > etc/os-release; echo hi > a/b/c/f; ln -s /etc/os-release a/l
            ln -s "$(printf '%0100d' 0)" a/slow; head -c 200000 /dev/urandom > a/big
            i=0; while [ $i -lt 12 ]; do printf "island-$i" | dd of=a/frag bs=4096 seek=$((i*2)) conv=notrunc status=none; i=$((i+1)); done
            i=0; while [ $i -lt 300 ]; do : > a/b/e$i; i=$((i+1)); done
            cd "$1"
            mke2fs -q -F -t ext4 -b 1024 -N 512 -d src ext4.img 2M
            mke2fs -q -F -t ext2 -b 1024 -N 512 -d src ext2.img 2M
            mke2fs -q -F -t ext4 -O inline_data,64bit,metadata_csum -N 512 -d src inline.img 4M
            """, [dir])
        var images: [String: [UInt8]] = [:]
        for name in ["ext4", "ext2", "inline"] {
            images[name] = Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name).img")))
        }
        try? FileManager.default.removeItem(atPath: dir)
        return images
    }

    /// Walks everything reachable, swallowing the errors the reader throws; `budget` bounds the
    /// number of operations so a cyclic directory graph terminates the walk, not the reader.
    static func walk(_ fs: any Filesystem, _ ino: UInt64, depth: Int, visited: inout Set<UInt64>, budget: inout Int) -> Int {
        var ok = 0
        guard depth < 64, budget > 0, visited.insert(ino).inserted else { return 0 }
        guard let entries = try? fs.readdir(ino) else { return 0 }
        for e in entries {
            budget -= 1
            guard budget > 0 else { break }
            guard let st = try? fs.stat(e.inode) else { continue }
            ok += 1
            switch st.type {
            case .regular:
                _ = try? fs.read(e.inode, at: 0, count: 65536)
                if st.size > 65536 { _ = try? fs.read(e.inode, at: st.size - 100, count: 100) }
            case .symlink: _ = try? fs.readlink(e.inode)
            case .directory: ok += walk(fs, e.inode, depth: depth + 1, visited: &visited, budget: &budget)
            default: break
            }
            _ = try? fs.lookup(ino, name: e.nameBytes)
        }
        return ok
    }

    static func walkAll(_ fs: any Filesystem) -> Int {
        var visited = Set<UInt64>(), budget = 5000
        return walk(fs, fs.rootInode, depth: 0, visited: &visited, budget: &budget)
    }

    @Test func truncatedImagesAreRefused() throws {
        let image = try #require(Self.smallImages.get()["ext4"])
        for cut in [0, 512, 1024, 1500, 2047, 2048, 4096, 65536, image.count / 2, image.count - 1024] {
            let dev = Ext4TestMemoryDevice(bytes: Array(image[0..<cut]))
            #expect(throws: GuestFSError.self, "cut at \(cut)") { try Ext4Filesystem(device: dev) }
            #expect(cut >= 2048 || detectFilesystem(dev).type == "unknown")
        }
        #expect(throws: GuestFSError("ext4: filesystem claims 2048 blocks but the device holds only 1024 (truncated image?)")) {
            try Ext4Filesystem(device: Ext4TestMemoryDevice(bytes: Array(image[0..<(1 << 20)])))
        }
    }

    @Test func zeroedSuperblock() throws {
        var image = try #require(Self.smallImages.get()["ext4"])
        image.replaceSubrange(1024..<2048, with: [UInt8](repeating: 0, count: 1024))
        #expect(throws: GuestFSError("ext4: superblock magic 0x0 is not 0xef53")) {
            try Ext4Filesystem(device: Ext4TestMemoryDevice(bytes: image))
        }
        #expect(detectFilesystem(Ext4TestMemoryDevice(bytes: image)).type == "unknown")
    }

    @Test func corruptExtentHeaderAndInodeTable() throws {
        let image = try #require(Self.smallImages.get()["ext4"])
        let fs = try Ext4Filesystem(device: Ext4TestMemoryDevice(bytes: image))
        let a = try #require(try fs.lookup(fs.rootInode, name: Array("a".utf8)))
        let big = try #require(try fs.lookup(a, name: Array("big".utf8)))
        // Locate the inode of a/big in group 0's inode table and break its extent header magic.
        let isz = fs.superblock.inodeSize
        let at = Int(fs.inodeTables[0]) * fs.blockSize + Int(big - 1) * isz + 0x28
        var bad = Ext4TestPatchedDevice(base: image, patches: [(at, 0), (at + 1, 0)])
        let broken = try Ext4Filesystem(device: bad)
        #expect(throws: GuestFSError("ext4: inode \(big): extent header magic 0x0000")) {
            try broken.read(big, at: 0, count: 10)
        }
        // Depth beyond the limit.
        bad = Ext4TestPatchedDevice(base: image, patches: [(at + 6, 9)])
        #expect(throws: GuestFSError("ext4: inode \(big): extent tree depth 9 (expected 9, limit 5)")) {
            try Ext4Filesystem(device: bad).read(big, at: 0, count: 10)
        }
        // Extent pointing past the end of the filesystem (start_lo of the first leaf entry).
        bad = Ext4TestPatchedDevice(base: image, patches: [(at + 12 + 8 + 3, 0x7F)])
        #expect(throws: GuestFSError.self) { try Ext4Filesystem(device: bad).read(big, at: 0, count: 10) }
        // Group descriptor 0's inode table pointer moved outside the filesystem.
        let gd = (1024 / fs.blockSize + 1) * fs.blockSize + 8
        bad = Ext4TestPatchedDevice(base: image, patches: [(gd + 3, 0xFF)])
        #expect(throws: GuestFSError.self) { try Ext4Filesystem(device: bad) }
    }

    /// Seeded byte mutations over the metadata (superblock, group descriptors, inode table,
    /// directory and indirect blocks): every outcome is a value or a GuestFSError, in bounded time.
    @Test(arguments: ["ext4", "ext2", "inline"])
    func seededMetadataMutations(_ name: String) throws {
        let image = try #require(Self.smallImages.get()[name])
        let fs = try Ext4Filesystem(device: Ext4TestMemoryDevice(bytes: image))
        let clean = Self.walkAll(fs)
        #expect(clean > 300)
        // Metadata regions: superblock and descriptors, the used part of inode table 0, and the
        // blocks of every directory.
        var regions: [Range<Int>] = [1024..<(fs.blockSize * 3 + 1024)]
        let table = Int(fs.inodeTables[0]) * fs.blockSize
        regions.append(table..<(table + 400 * fs.superblock.inodeSize))
        var dirs: [UInt64] = [fs.rootInode]
        var seen = Set<UInt64>()
        while let d = dirs.popLast(), seen.insert(d).inserted {
            let inode = try fs.inode(d)
            for run in try fs.mapBlocks(inode, 0..<1024) {
                let start = Int(run.physical) * fs.blockSize
                regions.append(start..<(start + Int(run.count) * fs.blockSize))
            }
            for e in try fs.readdir(d) where e.type == .directory { dirs.append(e.inode) }
        }
        // Mapping metadata of the fragmented and the large file: extent index children or
        // indirect blocks, whichever the variant uses.
        let a = try #require(try fs.lookup(fs.rootInode, name: Array("a".utf8)))
        var mappingBlocks = 0
        for name in ["frag", "big"] {
            let inode = try fs.inode(#require(try fs.lookup(a, name: Array(name.utf8))))
            let iBlock = inode.iBlock
            var pointers: [UInt32] = []
            if inode.flags & Ext4Inode.flagExtents != 0 {
                if iBlock.le16(6) > 0 { pointers = (0..<Int(iBlock.le16(2))).map { iBlock.le32(12 + $0 * 12 + 4) } }
            } else if inode.flags & Ext4Inode.flagInlineData == 0 {
                pointers = [iBlock.le32(48), iBlock.le32(52)]
            }
            for p in pointers where p != 0 {
                regions.append(Int(p) * fs.blockSize..<(Int(p) + 1) * fs.blockSize)
                mappingBlocks += 1
            }
        }
        #expect(mappingBlocks > 0, "mapping blocks found")
        var rng = Ext4TestRNG(state: 0xE174 ^ UInt64(name.utf8.count))
        var mounted = 0
        let started = ContinuousClock.now
        for _ in 0..<1000 {
            var patches: [(offset: Int, byte: UInt8)] = []
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                let region = regions[Int.random(in: 0..<regions.count, using: &rng)]
                let offset = Int.random(in: region, using: &rng)
                let byte: UInt8 = Bool.random(using: &rng)
                    ? UInt8.random(in: 0...255, using: &rng) : image[offset] ^ (1 << UInt8.random(in: 0...7, using: &rng))
                patches.append((offset, byte))
            }
            let dev = Ext4TestPatchedDevice(base: image, patches: patches)
            _ = detectFilesystem(dev)
            guard let mutated = try? Ext4Filesystem(device: dev) else { continue }
            mounted += 1
            _ = Self.walkAll(mutated)
            var vfs = VFS()
            vfs.mount(mutated, at: "/")
            for path in ["/a/l", "/a/slow", "/etc/os-release", "/a/b/c/f", "/a/b/../../a/big"] {
                _ = try? vfs.stat(path)
                _ = try? vfs.readFile(path, limit: 1 << 20)
            }
        }
        #expect(mounted > 100, "most mutations leave a mountable filesystem to walk")
        #expect(ContinuousClock.now - started < .seconds(120))
    }
}
