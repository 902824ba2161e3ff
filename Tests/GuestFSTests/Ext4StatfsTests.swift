import Foundation
import Testing
@testable import GuestFS

// Ext4Filesystem.statfs() against the kernel: each ext-*.img variant (scripts/guest-images.d/
// 35-ext-statfs.sh) is loop-mounted read-only and `stat -f` gives the oracle. Without loop mounts
// (not root, no loop devices) the numbers are checked against dumpe2fs instead.

@Suite struct Ext4StatfsTests {
    static let variants = ["ext2-1k", "ext3-4k", "ext4-1k", "ext4-4k-noflex", "ext4-nojournal", "ext4-metabg",
                           "ext4-sparse2", "ext4-nosparse", "ext4-32bit", "ext4-bigalloc", "ext4-bigalloc-1k"]

    @Test(arguments: variants)
    func matchesKernel(_ variant: String) throws {
        let path = try ImageFixtures.path("ext-\(variant).img")
        let fs = try Ext4Filesystem(device: openImage(path: path, format: .raw))
        let ours = try fs.statfs()
        if let kernel = try Self.kernelStatfs(path) {
            #expect(ours == kernel, "\(variant)")
        } else {
            let d = try Self.dumpe2fs(path)
            let ratio = (d["Cluster size"] ?? d["Block size"] ?? 0) / (d["Block size"] ?? 1)
            #expect(ours.blockSize == d["Block size"])
            #expect(ours.freeBlocks == d["Free blocks"])
            #expect(ours.files == d["Inode count"])
            #expect(ours.freeFiles == d["Free inodes"])
            if let overhead = d["Overhead clusters"], let blocks = d["Block count"] {
                #expect(ours.blocks == blocks - overhead * ratio)
            }
        }
    }

    /// The kernel's answer for the image mounted read-only, or nil when it cannot be mounted here.
    static func kernelStatfs(_ image: String) throws -> FilesystemUsage? {
        guard getuid() == 0 else { return nil }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("corral-statfs-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A loop mount detaches its loop device itself on umount.
        guard run("/bin/mount", ["-o", "ro,loop", image, dir]).status == 0 else { return nil }
        defer { _ = run("/bin/umount", [dir]) }
        let out = run("/usr/bin/stat", ["-f", "-c", "%S %b %f %a %c %d", dir])
        let n = out.text.split(whereSeparator: \.isWhitespace).compactMap { UInt64($0) }
        try #require(out.status == 0 && n.count == 6, "stat -f: \(out.text)")
        return FilesystemUsage(blockSize: n[0], blocks: n[1], freeBlocks: n[2], availableBlocks: n[3], files: n[4], freeFiles: n[5])
    }

    /// The numeric fields of `dumpe2fs -h`.
    static func dumpe2fs(_ image: String) throws -> [String: UInt64] {
        let out = run("/sbin/dumpe2fs", ["-h", image])
        try #require(out.status == 0, "dumpe2fs failed")
        var fields: [String: UInt64] = [:]
        for line in out.text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":"),
                  let value = UInt64(line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)) else { continue }
            fields[String(line[..<colon])] = value
        }
        return fields
    }

    static func run(_ tool: String, _ args: [String]) -> (status: Int32, text: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return (-1, "") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

extension Ext4StatfsTests {
    /// The kernel recounts what the superblock caches: free counts come from the group descriptors,
    /// and (with bigalloc) overhead is computed when s_overhead_clusters is 0. debugfs rewrites the
    /// fields with a valid checksum.
    @Test(arguments: ["ext4-1k", "ext4-bigalloc", "ext4-bigalloc-1k"])
    func staleSuperblockCounters(_ variant: String) throws {
        guard FileManager.default.isExecutableFile(atPath: "/sbin/debugfs") else { return }
        let dir = try ImageFixtures.scratch("statfs-\(variant)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let original = try ImageFixtures.path("ext-\(variant).img")
        let path = dir + "/stale.img"
        try FileManager.default.copyItem(atPath: original, toPath: path)
        for field in ["overhead_clusters 0", "free_blocks_count 7", "free_inodes_count 3"] {
            try #require(Self.run("/sbin/debugfs", ["-w", "-R", "ssv \(field)", path]).status == 0)
        }
        #expect(try Self.dumpe2fs(path)["Free blocks"] == 7)
        let ours = try Ext4Filesystem(device: openImage(path: path, format: .raw)).statfs()
        let expected = try Self.kernelStatfs(path)
            ?? Ext4Filesystem(device: openImage(path: original, format: .raw)).statfs()
        #expect(ours == expected)
    }
}

extension Ext4StatfsTests {
    /// Seeded mutations of the superblock and group descriptors: statfs gives a value or a
    /// GuestFSError, never a trap. Bigalloc with s_overhead_clusters zeroed takes the per-group
    /// cluster count; meta_bg the meta-group descriptor rules.
    @Test(arguments: ["ext4-bigalloc-1k", "ext4-metabg", "ext4-sparse2"])
    func mutatedMetadata(_ variant: String) throws {
        var image = [UInt8](try Data(contentsOf: URL(fileURLWithPath: ImageFixtures.path("ext-\(variant).img"))))
        for i in 0..<4 { image[1024 + 0x248 + i] = 0 }
        let clean = try Ext4Filesystem(device: Ext4TestPatchedDevice(base: image, patches: [])).statfs()
        #expect(clean.blocks > 0)
        let bs = clean.blockSize
        // Superblock, then the descriptor blocks that follow it.
        let region = 1024..<(Int(bs) * 4 + 2048)
        var rng = Ext4TestRNG(state: 0x57A7 ^ UInt64(variant.utf8.count))
        var computed = 0
        for _ in 0..<500 {
            var patches: [(offset: Int, byte: UInt8)] = []
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                patches.append((Int.random(in: region, using: &rng), UInt8.random(in: 0...255, using: &rng)))
            }
            guard let fs = try? Ext4Filesystem(device: Ext4TestPatchedDevice(base: image, patches: patches)) else { continue }
            if (try? fs.statfs()) != nil { computed += 1 }
        }
        #expect(computed > 50)
    }
}
