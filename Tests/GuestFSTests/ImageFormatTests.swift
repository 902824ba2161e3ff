import Foundation
import Testing
@testable import GuestFS

@Suite struct ImageFormatTests {
    static let conversions: [(image: String, original: String)] = [
        ("mbr.raw", "mbr.raw"),
        ("mbr.qcow2", "mbr.raw"),
        ("mbr-v2.qcow2", "mbr.raw"),
        ("mbr-4k.qcow2", "mbr.raw"),
        ("mbr-extl2.qcow2", "mbr.raw"),
        ("mbr-zlib.qcow2", "mbr.raw"),
        ("mbr-zstd.qcow2", "mbr.raw"),
        ("mbr-extl2-zstd.qcow2", "mbr.raw"),
        ("gpt-512.qcow2", "gpt.raw"),
        ("gpt-zlib-v2.qcow2", "gpt.raw"),
        ("chain/zlibtop.qcow2", "chain-expected.raw"),
    ]

    @Test(arguments: conversions)
    func contentsMatchTheRawOriginal(image: String, original: String) throws {
        let expected = try ImageFixtures.bytes(original)
        let device = try openImage(path: ImageFixtures.path(image))
        #expect(device.size == UInt64(expected.count))
        #expect(try readAll(device) == expected)

        // Unaligned reads straddling clusters, subclusters and backing boundaries.
        var rng = SplitMix(seed: 7)
        for _ in 0..<200 {
            let offset = Int(rng.next() % UInt64(expected.count))
            let count = Int(rng.next() % 300_000) % (expected.count - offset + 1)
            #expect(try device.read(at: UInt64(offset), count: count) == Array(expected[offset..<(offset + count)]))
        }
        #expect(throws: GuestFSError.self) { try device.read(at: device.size - 1, count: 2) }
    }

    @Test func probeAndHeaders() throws {
        #expect(try ImageFormat.probe(path: ImageFixtures.path("mbr.raw")) == .raw)
        #expect(try ImageFormat.probe(path: ImageFixtures.path("mbr.qcow2")) == .qcow2)

        func header(_ name: String) throws -> QCOW2Header {
            try #require(try openImage(path: ImageFixtures.path(name)) as? QCOW2Image).header
        }
        #expect(try header("mbr-v2.qcow2").version == 2)
        #expect(try header("mbr.qcow2").version == 3)
        #expect(try header("mbr-zstd.qcow2").compression == .zstd)
        #expect(try header("mbr-zlib.qcow2").compression == .zlib)
        #expect(try header("mbr-extl2.qcow2").extendedL2)
        #expect(try header("mbr-4k.qcow2").clusterSize == 4096)
        let top = try header("chain/top.qcow2")
        #expect(top.backingFile == "mid.qcow2" && top.backingFormat == "qcow2")

        // Forcing raw on a qcow2 file shows the container itself.
        let forced = try openImage(path: ImageFixtures.path("mbr.qcow2"), format: .raw)
        #expect(try forced.read(at: 0, count: 4) == [0x51, 0x46, 0x49, 0xfb])
    }

    @Test func backingChainIsResolvedRelativeToTheOverlay() throws {
        let top = try #require(try openImage(path: ImageFixtures.path("chain/zlibtop.qcow2")) as? QCOW2Image)
        let layers = imageLayers(top)
        #expect(layers.map { ($0.path as NSString).lastPathComponent } == ["zlibtop.qcow2", "top.qcow2", "mid.qcow2", "base.raw"])
        #expect(layers.map(\.format) == [.qcow2, .qcow2, .qcow2, .raw])
        #expect(layers.map(\.header?.extendedL2) == [false, true, false, nil])
        // The overlay's own writes, a zeroed range and the untouched base show through.
        #expect(try top.read(at: 3 << 20, count: 4) == [0x5a, 0x5a, 0x5a, 0x5a])
        #expect(try top.read(at: 1_052_672, count: 2) == [0xcd, 0xcd])
        #expect(try top.read(at: 1 << 20, count: 2) == [0xab, 0xab])
        #expect(try top.read(at: 2 << 20, count: 65536).allSatisfy { $0 == 0 })
    }
}

/// A small deterministic generator so failures reproduce.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
