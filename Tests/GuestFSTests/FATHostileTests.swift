import Foundation
import Testing
@testable import GuestFS

/// Small FAT images made by mkfs.vfat and mtools, then corrupted by hand or at random: every
/// corruption must end in a GuestFSError naming the structure, never a crash or a hang.
@Suite(.serialized) struct FATHostileTests {
    static let longName = "a rather long file name.txt"  // three long-name slots

    static let images: Result<[String: [UInt8]], any Error> = Result {
        let dir = NSTemporaryDirectory() + "fat-hostile-\(getpid())"
        try ext4TestShell("""
            set -e; export MTOOLS_SKIP_CHECK=1; rm -rf "$1"; mkdir -p "$1/src/dir/sub"; cd "$1/src"
            printf 'hello\\n' > hello.txt; printf 'long\\n' > "\(longName)"; : > empty.txt
            head -c 20000 /dev/urandom > big.bin; printf 'inner\\n' > dir/sub/inner.txt
            i=0; while [ $i -lt 40 ]; do printf "$i" > "dir/entry number $i"; i=$((i+1)); done
            cd "$1"
            mkfs.vfat -C -F 12 -s 1 small12.img 1024 >/dev/null
            mkfs.vfat -C -F 32 -s 1 small32.img 34000 >/dev/null
            mkfs.vfat -C -F 32 -s 1 tiny32.img 2048 >/dev/null 2>&1  # too few clusters for mtools to write
            mkfs.vfat -C -F 16 -S 4096 -s 1 sectors4k.img 16384 >/dev/null
            mcopy -s -i sectors4k.img src/dir src/big.bin ::/
            for img in small12.img small32.img; do
                for f in src/*; do mcopy -s -i "$img" "$f" ::/; done
            done
            """, [dir])
        var out: [String: [UInt8]] = ["src-big": Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/src/big.bin")))]
        for name in ["small12", "small32", "tiny32", "sectors4k"] {
            out[name] = Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name).img")))
        }
        try? FileManager.default.removeItem(atPath: dir)
        return out
    }

    static func image(_ name: String) throws -> [UInt8] { try #require(try images.get()[name]) }

    static func open(_ bytes: [UInt8]) throws -> (FATFilesystem, VFS) {
        let fs = try FATFilesystem(device: MemoryDevice(bytes: bytes))
        var vfs = VFS()
        vfs.mount(fs, at: "/")
        return (fs, vfs)
    }

    /// Byte position of `path`'s 8.3 entry and its first cluster.
    static func entry(_ bytes: [UInt8], _ path: String) throws -> (position: Int, cluster: UInt32) {
        let (fs, vfs) = try open(bytes)
        let position = Int(try vfs.resolve(path, followLast: true).inode * 32)
        let high = fs.boot.kind == .fat32 ? UInt32(bytes.le16(position + 20)) << 16 : 0
        return (position, UInt32(bytes.le16(position + 26)) | high)
    }

    /// Sets cluster `n`'s entry in the first FAT.
    static func setFAT(_ bytes: inout [UInt8], _ n: UInt32, _ value: UInt32) throws {
        let boot = try FATBootSector(Array(bytes[0..<512]), deviceSize: UInt64(bytes.count))
        let base = Int(boot.fatOffset)
        switch boot.kind {
        case .fat12:
            let o = base + Int(n) * 3 / 2
            if n & 1 == 1 {
                bytes[o] = bytes[o] & 0x0F | UInt8(truncatingIfNeeded: value << 4)
                bytes[o + 1] = UInt8(truncatingIfNeeded: value >> 4)
            } else {
                bytes[o] = UInt8(truncatingIfNeeded: value)
                bytes[o + 1] = bytes[o + 1] & 0xF0 | UInt8(truncatingIfNeeded: value >> 8 & 0xF)
            }
        case .fat16: bytes.putLE(UInt64(value), at: base + Int(n) * 2, width: 2)
        case .fat32: bytes.putLE(UInt64(value), at: base + Int(n) * 4, width: 4)
        }
    }

    static func expectError(_ bytes: [UInt8], containing text: String, _ body: (VFS) throws -> Void) {
        do {
            let (_, vfs) = try open(bytes)
            try body(vfs)
            Issue.record("no error, expected one containing \"\(text)\"")
        } catch let error as GuestFSError {
            #expect(error.message.contains(text), "\(error.message)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func fat32WithFewClustersIsReadAsLinuxDoes() throws {
        // Fewer than 65525 clusters makes it FAT16 by the specification's count (mtools then finds
        // no root directory), but the 16-bit FAT size is 0, which is how Linux and mkfs.vfat -F 32
        // tell FAT32.
        let (fs, vfs) = try Self.open(Self.image("tiny32"))
        #expect(fs.boot.kind == .fat32 && fs.boot.clusterCount < 65525)
        #expect(try vfs.readdir("/").isEmpty)
        let usage = try fs.statfs()
        #expect(usage.blocks == UInt64(fs.boot.clusterCount) && usage.freeBlocks == usage.blocks - 1)  // the root's cluster
        let (fs32, vfs32) = try Self.open(Self.image("small32"))
        #expect(fs32.boot.kind == .fat32)
        #expect(try vfs32.readFile("/dir/sub/inner.txt") == Array("inner\n".utf8))
        #expect(try vfs32.readFile("/big.bin") == Self.image("src-big"))
        #expect(try vfs32.readdir("/dir").count == 41)
    }

    @Test func fourKiBSectors() throws {
        let (fs, vfs) = try Self.open(Self.image("sectors4k"))
        #expect(fs.boot.bytesPerSector == 4096 && fs.boot.kind == .fat16)
        #expect(try vfs.readFile("/big.bin") == Self.image("src-big"))
        #expect(try vfs.readFile("/dir/sub/inner.txt") == Array("inner\n".utf8))
        #expect(try vfs.stat("/big.bin").blocks == 40)  // five 4 KiB clusters
    }

    @Test func corruptBootSectors() throws {
        let good = try Self.image("small12")
        func patched(_ offset: Int, _ value: UInt64, width: Int) -> [UInt8] {
            var b = good; b.putLE(value, at: offset, width: width); return b
        }
        let cases: [([UInt8], String)] = [
            (patched(11, 1000, width: 2), "1000 bytes per sector is not a power of two"),
            (patched(11, 8192, width: 2), "8192 bytes per sector"),
            (patched(11, 256, width: 2), "256 bytes per sector"),
            (patched(13, 3, width: 1), "3 sectors per cluster"),
            (patched(13, 0, width: 1), "0 sectors per cluster"),
            (patched(14, 0, width: 2), "no reserved sectors"),
            (patched(16, 0, width: 1), "number of FATs is 0"),
            (patched(21, 0x12, width: 1), "invalid media byte"),
            (patched(17, 0, width: 2), "0 root directory entries"),
            (patched(17, 3, width: 2), "3 root directory entries"),
            (patched(19, 0xFFFF, width: 2), "truncated image"),
            (patched(19, 0, width: 2), "leave no room for data"),  // 32-bit count is 0 then
            (patched(22, 0xFFFF, width: 2), "leave no room for data"),
            (Array(good[0..<(good.count / 2)]), "truncated image"),
            (Array(good[0..<300]), "too small for a boot sector"),
        ]
        for (bytes, text) in cases {
            #expect(throws: GuestFSError.self) { try FATFilesystem(device: MemoryDevice(bytes: bytes)) }
            Self.expectError(bytes, containing: text) { _ in }
        }
        // The type names in the boot sector are labels only: FAT12 stays FAT12 by its cluster count.
        var relabelled = good
        relabelled.replaceSubrange(54..<62, with: Array("FAT16   ".utf8))
        let (fs, vfs) = try Self.open(relabelled)
        #expect(fs.boot.kind == .fat12)
        #expect(try vfs.readFile("/hello.txt") == Array("hello\n".utf8))
    }

    @Test(arguments: ["small12", "small32"])
    func brokenClusterChains(_ name: String) throws {
        let good = try Self.image(name)
        let big = try Self.entry(good, "/big.bin")
        let c = big.cluster
        let boot = try FATBootSector(Array(good[0..<512]), deviceSize: UInt64(good.count))
        let eoc: UInt32 = boot.kind == .fat12 ? 0xFFF : 0x0FFF_FFFF
        // mcopy writes files contiguously: big.bin is clusters c, c+1, ...
        var bytes = good
        try Self.setFAT(&bytes, c + 2, c)
        Self.expectError(bytes, containing: "cluster chain of big.bin (inode \(big.position / 32)) loops at cluster \(c)") {
            _ = try $0.readFile("/big.bin")
        }
        bytes = good
        try Self.setFAT(&bytes, c + 1, boot.clusterCount + 7)
        Self.expectError(bytes, containing: "points to cluster \(boot.clusterCount + 7), outside 2-\(boot.clusterCount + 1)") {
            _ = try $0.readFile("/big.bin")
        }
        bytes = good
        try Self.setFAT(&bytes, c + 1, 0)
        Self.expectError(bytes, containing: "continues from cluster \(c + 1) to a free cluster") { _ = try $0.readFile("/big.bin") }
        bytes = good
        try Self.setFAT(&bytes, c + 1, eoc - 8)
        Self.expectError(bytes, containing: "reaches a bad-cluster mark after cluster \(c + 1)") { _ = try $0.readFile("/big.bin") }
        // A chain that ends early still serves its first clusters, as Linux does.
        bytes = good
        try Self.setFAT(&bytes, c + 1, eoc)
        var (fs, vfs) = try Self.open(bytes)
        let ino = UInt64(big.position / 32)
        #expect(try fs.read(ino, at: 0, count: 100) == Array(Self.image("src-big")[0..<100]))
        Self.expectError(bytes, containing: "ends after 2 clusters, its size needs") { _ = try $0.readFile("/big.bin") }
        // A huge size: stat reports it, reading past the chain fails, readFile refuses it outright.
        bytes = good
        bytes.putLE(0xFFFF_FFFF, at: big.position + 28, width: 4)
        (fs, vfs) = try Self.open(bytes)
        #expect(try vfs.stat("/big.bin").size == 0xFFFF_FFFF)
        #expect(try fs.read(ino, at: 0, count: 16) == Array(Self.image("src-big")[0..<16]))
        #expect(throws: GuestFSError.self) { try fs.read(ino, at: 1 << 30, count: 16) }
        #expect(throws: GuestFSError.self) { try vfs.readFile("/big.bin") }
        // No clusters at all for a non-empty file.
        bytes = good
        bytes.putLE(0, at: big.position + 26, width: 2)
        bytes.putLE(0, at: big.position + 20, width: 2)
        Self.expectError(bytes, containing: "has 20000 bytes but no clusters") { _ = try $0.readFile("/big.bin") }
    }

    @Test(arguments: ["small12", "small32"])
    func directoryLoops(_ name: String) throws {
        let good = try Self.image(name)
        let dir = try Self.entry(good, "/dir")
        let sub = try Self.entry(good, "/dir/sub")
        // /dir/sub pointing at /dir's clusters: an endless tree, but every call terminates.
        var bytes = good
        bytes.putLE(UInt64(dir.cluster & 0xFFFF), at: sub.position + 26, width: 2)
        bytes.putLE(UInt64(dir.cluster >> 16), at: sub.position + 20, width: 2)
        let (fs, vfs) = try Self.open(bytes)
        #expect(try vfs.readdir("/dir/sub/sub/sub").map(\.name) == vfs.readdir("/dir").map(\.name))
        var visited = Set<UInt64>(), budget = 5000
        #expect(Ext4HostileTests.walk(fs, fs.rootInode, depth: 0, visited: &visited, budget: &budget) > 40)
        // /dir's own chain looping back on itself.
        bytes = good
        try Self.setFAT(&bytes, dir.cluster, dir.cluster)
        Self.expectError(bytes, containing: "cluster chain of dir (inode \(dir.position / 32)) loops at cluster \(dir.cluster)") {
            _ = try $0.readdir("/dir")
        }
    }

    @Test func longNamesFallBackToShortNames() throws {
        let good = try Self.image("small12")
        let (_, vfs) = try Self.open(good)
        #expect(try vfs.readdir("/").map(\.name).contains(Self.longName))
        let e = try Self.entry(good, "/" + Self.longName)
        // The three slots precede the 8.3 entry, the last slot (0x43) first.
        #expect(good[e.position - 96] == 0x43 && good[e.position - 32] == 0x01)
        var bytes = good
        bytes[e.position - 64 + 13] ^= 0xFF  // the middle slot's checksum
        #expect(try Self.open(bytes).1.readdir("/").map(\.name).contains("ARATHE~1.TXT"))
        bytes = good
        bytes[e.position - 64] = 0x03  // the middle slot out of sequence
        #expect(try Self.open(bytes).1.readdir("/").map(\.name).contains("ARATHE~1.TXT"))
        bytes = good
        bytes[e.position] ^= 0x01  // the 8.3 name no longer matches the slots' checksum
        let names = try Self.open(bytes).1.readdir("/").map(\.name)
        #expect(!names.contains(Self.longName) && names.contains("@RATHE~1.TXT"))
        bytes = good
        bytes[e.position - 96] = 0xE5  // a deleted first slot leaves the rest orphaned
        #expect(try Self.open(bytes).1.readdir("/").map(\.name).contains("ARATHE~1.TXT"))
        bytes = good
        bytes[e.position] = 0xE5  // a deleted file hides its slots too
        #expect(try !Self.open(bytes).1.readdir("/").map(\.name).contains { $0.hasPrefix("a rather") || $0.hasPrefix("ARATHE") })
    }

    @Test(arguments: ["small12", "small32"])
    func seededMetadataMutations(_ name: String) throws {
        let good = try Self.image(name)
        let (fs, _) = try Self.open(good)
        // The boot sector, the used start of the FAT, the root directory and the first clusters,
        // where mtools put the directories.
        let fat = Int(fs.boot.fatOffset), data = Int(fs.boot.dataOffset)
        let regions = [0..<512, fat..<(fat + 2048), Int(fs.boot.rootDirOffset)..<(Int(fs.boot.rootDirOffset) + 512),
                       data..<(data + 24 * fs.boot.clusterSize)]
        var rng = Ext4TestRNG(state: name == "small12" ? 12 : 32)
        var opened = 0, walked = 0
        for round in 0..<150 {
            var patches: [(offset: Int, byte: UInt8)] = []
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                let region = regions[Int.random(in: 0..<regions.count, using: &rng)]
                patches.append((Int.random(in: region, using: &rng), UInt8.random(in: 0...255, using: &rng)))
            }
            let device = Ext4TestPatchedDevice(base: good, patches: patches)
            guard let mutated = try? FATFilesystem(device: device) else { continue }
            opened += 1
            var visited = Set<UInt64>(), budget = 3000
            walked += Ext4HostileTests.walk(mutated, mutated.rootInode, depth: 0, visited: &visited, budget: &budget)
            if round % 20 == 0 { _ = try? mutated.statfs() }  // a whole-FAT scan: slow in debug builds
            _ = try? mutated.stat(UInt64.random(in: 0...UInt64(good.count / 32), using: &rng))
        }
        #expect(opened > 75 && walked > 750, "opened \(opened), walked \(walked)")
    }
}
