import Foundation
import Testing
@testable import GuestFS

/// Corrupt and malicious images: each must give a GuestFSError naming the structure, quickly and
/// without allocating what the image claims.
@Suite struct ImageHostileTests {
    /// Writes a patched copy of a fixture and opens and reads it whole, returning the first error.
    func failure(of name: String, label: String, _ patch: (inout [UInt8]) -> Void) throws -> GuestFSError? {
        var bytes = try ImageFixtures.bytes(name)
        patch(&bytes)
        let dir = try ImageFixtures.scratch(label)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/image"
        try ImageFixtures.write(bytes, to: path)
        do {
            let device = try openImage(path: path)
            _ = try readAll(device)
            return nil
        } catch let error as GuestFSError {
            return error
        }
    }

    @Test func truncatedHeader() throws {
        let error = try failure(of: "mbr.qcow2", label: "trunc") { $0.removeSubrange(60...) }
        #expect(error?.message.contains("too short") == true)
    }

    @Test func truncatedData() throws {
        let error = try failure(of: "mbr.qcow2", label: "half") { $0.removeSubrange(($0.count / 2)...) }
        #expect(error?.message.contains("beyond end of file") == true)
    }

    @Test func l1OffsetBeyondEOF() throws {
        let error = try failure(of: "mbr.qcow2", label: "l1") { $0.putBE(0x7fff_0000_0000, at: 40, width: 8) }
        #expect(error?.message.contains("L1 table offset 0x7fff00000000 (1 entries) beyond end of file") == true)
    }

    @Test func l2OffsetBeyondEOF() throws {
        let error = try failure(of: "mbr.qcow2", label: "l2") { bytes in
            let l1 = Int(ImageBytes(bytes).be64(40))
            bytes.putBE(0x8000_0000_0000_0000 | 0x10_0000_0000, at: l1, width: 8)
        }
        #expect(error?.message.contains("L2 table offset 0x1000000000 beyond end of file") == true)
    }

    @Test func hugeVirtualSizeDoesNotAllocate() throws {
        let error = try failure(of: "mbr.qcow2", label: "huge") { $0.putBE(1 << 62, at: 24, width: 8) }
        #expect(error?.message.contains("too small for a virtual size of 4611686018427387904") == true)
        // Even with a matching L1 size, the table must be in the file and under 32 MiB.
        let big = try failure(of: "mbr.qcow2", label: "hugel1") {
            $0.putBE(1 << 50, at: 24, width: 8); $0.putBE(1 << 21, at: 36, width: 4)
        }
        #expect(big?.message.contains("beyond end of file") == true)
    }

    @Test func encryptionAndExternalDataAreRefused() throws {
        let crypt = try failure(of: "mbr.qcow2", label: "crypt") { $0.putBE(1, at: 32, width: 4) }
        #expect(crypt?.message.contains("encrypted images (crypt_method 1) are not supported") == true)
        let external = try failure(of: "mbr.qcow2", label: "ext") { $0[79] |= 1 << 2 }
        #expect(external?.message.contains("external data file") == true)
        let unknown = try failure(of: "mbr.qcow2", label: "feat") { $0[79] |= 1 << 6 }
        #expect(unknown?.message.contains("unsupported incompatible feature bit 6") == true)
    }

    @Test func backingCanBeRefused() throws {
        let error = #expect(throws: GuestFSError.self) {
            try openImage(path: ImageFixtures.path("chain/top.qcow2"), followBacking: false)
        }
        #expect(error?.message.contains("has backing file \"mid.qcow2\"") == true)
        #expect(try openImage(path: ImageFixtures.path("mbr.qcow2"), followBacking: false).size == 8 << 20)
    }

    @Test func cyclicBackingChain() throws {
        let error = #expect(throws: GuestFSError.self) { try openImage(path: ImageFixtures.path("cycle/a.qcow2")) }
        #expect(error?.message.contains("loops back") == true)
    }

    /// 40 hand-made qcow2 headers, each backed by the next: the depth cap stops the walk.
    @Test func backingChainTooDeep() throws {
        let dir = try ImageFixtures.scratch("deep")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for i in 0..<40 {
            let name = Array("\(i + 1).qcow2".utf8)
            var h = [UInt8](repeating: 0, count: 512)
            h.putBE(0x5146_49fb, at: 0, width: 4); h.putBE(2, at: 4, width: 4)
            h.putBE(256, at: 8, width: 8); h.putBE(UInt64(name.count), at: 16, width: 4)
            h.putBE(16, at: 20, width: 4)  // cluster_bits; size 0 needs no L1 entries
            h.replaceSubrange(256..<(256 + name.count), with: name)  // after the (empty) extension list
            try ImageFixtures.write(h, to: "\(dir)/\(i).qcow2")
        }
        try ImageFixtures.write([UInt8](repeating: 0, count: 512), to: "\(dir)/40.qcow2")
        let error = #expect(throws: GuestFSError.self) { try openImage(path: "\(dir)/0.qcow2") }
        #expect(error?.message.contains("deeper than 32") == true)
        #expect(try openImage(path: "\(dir)/20.qcow2").size == 0)
    }

    /// Seeded random mutations of the first KiB of several fixtures: every outcome is either a
    /// device or a GuestFSError, never a crash or a runaway allocation.
    @Test func mutatedHeadersNeverCrash() throws {
        let dir = try ImageFixtures.scratch("mutate")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SplitMix(seed: 2024)
        var outcomes = (ok: 0, failed: 0)
        // Headers: qcow2 header cluster, MBR and both EBRs, GPT header and entries, LVM label and metadata.
        let regions: [String: [Range<Int>]] = [
            "mbr.qcow2": [0..<4096], "mbr-zlib.qcow2": [0..<4096], "mbr-extl2.qcow2": [0..<4096],
            "mbr-zstd.qcow2": [0..<4096], "mbr.raw": [0..<512, (8192 * 512)..<(8193 * 512), (12288 * 512)..<(12289 * 512)],
            "gpt.raw": [0..<(34 * 512)], "lvm-a.raw": [0..<8192],
        ]
        for (name, ranges) in regions.sorted(by: { $0.key < $1.key }) {
            let original = try ImageFixtures.bytes(name)
            let path = "\(dir)/\(name)"
            try ImageFixtures.write(original, to: path)
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            var touched: [Int] = []
            for _ in 0..<60 {
                // Undo the previous mutation in place rather than rewriting megabytes each time.
                for at in touched where at < original.count { try handle.seek(toOffset: UInt64(at)); try handle.write(contentsOf: [original[at]]) }
                touched = []
                for _ in 0..<(1 + Int(rng.next() % 8)) {
                    let range = ranges[Int(rng.next() % UInt64(ranges.count))]
                    touched.append(range.lowerBound + Int(rng.next() % UInt64(range.count)))
                }
                // Also hit the start of the qcow2 L1 table.
                if name.hasSuffix(".qcow2") {
                    let l1 = Int(ImageBytes(original).be64(40))
                    touched.append(l1 + Int(rng.next() % 64))
                }
                for at in touched where at < original.count {
                    let value: UInt8 = rng.next() % 3 == 0 ? 0xff : UInt8(truncatingIfNeeded: rng.next())
                    try handle.seek(toOffset: UInt64(at)); try handle.write(contentsOf: [value])
                }
                do {
                    let guest = try GuestDisks.open([(path, nil)])
                    let device = guest.disks[0].device
                    for _ in 0..<8 where device.size > 0 {
                        let offset = rng.next() % device.size
                        _ = try device.read(at: offset, count: Int(min(device.size - offset, 256 << 10)))
                    }
                    _ = try guest.filesystemCandidates()
                    outcomes.ok += 1
                } catch {
                    outcomes.failed += 1
                }
            }
        }
        #expect(outcomes.failed > 0 && outcomes.ok > 0)
    }
}
