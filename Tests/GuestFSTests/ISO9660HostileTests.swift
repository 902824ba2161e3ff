import Foundation
import Testing
@testable import GuestFS

@Suite(.serialized) struct ISO9660HostileTests {
    typealias B = ISOBuilder

    /// A small Rock Ridge + Joliet image from xorriso: symlinks, a long name (CE), a relocated deep
    /// directory, a 60-entry directory.
    static let smallImage: Result<[UInt8], any Error> = Result {
        let dir = NSTemporaryDirectory() + "iso-hostile-\(getpid())"
        try ext4TestShell("""
            set -e; rm -rf "$1"; mkdir -p "$1/t/a/b/c/d/e/f/g/h/i/j" "$1/t/many" "$1/t/etc"
            cd "$1/t"
            echo ID=x > etc/os-release; echo hi > a/b/c/d/e/f/g/h/i/j/f; ln -s /etc/os-release a/l
            ln -s ../../a/b a/b/c/up; ln -s "$(printf 'p%.0s' $(seq 1 120))/q" a/longlink
            : > "$(printf 'n%.0s' $(seq 1 180))"; head -c 5000 /dev/urandom > a/data
            i=0; while [ $i -lt 60 ]; do : > many/e$i; i=$((i+1)); done
            cd "$1"
            xorriso -report_about SORRY -as mkisofs -R -J -rr_reloc_dir rr_moved -no-pad -o small.iso t 2>/dev/null
            """, [dir])
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(dir)/small.iso")))
        try? FileManager.default.removeItem(atPath: dir)
        return bytes
    }

    @Test func smallImageIsReadable() throws {
        let image = try Self.smallImage.get()
        let fs = try ISO9660Filesystem(device: MemoryDevice(bytes: image))
        #expect(fs.names == .rockRidge)
        #expect(Ext4HostileTests.walkAll(fs) > 70)
    }

    @Test func corruptDescriptors() throws {
        var b = ISO9660HandBuiltTests.multiExtent()
        let good = b.bytes
        #expect(throws: GuestFSError("iso9660: no volume descriptor (CD001) at block 16")) {
            try ISO9660Filesystem(device: MemoryDevice(bytes: [UInt8](repeating: 0, count: 20 * 2048)))
        }
        #expect(throws: GuestFSError.self) { try ISO9660Filesystem(device: MemoryDevice(bytes: Array(good[0..<(16 * 2048 + 100)]))) }
        b.put(B.both16(512), block: 16, offset: 128)
        #expect(throws: GuestFSError("iso9660: logical block size 512 is not supported (only 2048)")) { try b.open() }
        b.bytes = good
        b.put(B.both32(1000), block: 16, offset: 80)
        #expect(throws: GuestFSError("iso9660: volume of 1000 blocks does not fit a device of 28 blocks (truncated image?)")) { try b.open() }
        b.put(B.both32(0), block: 16, offset: 80)
        #expect(throws: GuestFSError.self) { try b.open() }
        // Root directory outside the volume, or not starting with its "." record.
        b.bytes = good
        b.put(B.both32(5000), block: 16, offset: 156 + 2)
        #expect(throws: GuestFSError("iso9660: volume descriptor's root directory record is invalid or outside the volume")) { try b.open() }
        b.bytes = good
        b.put(B.both32(25), block: 16, offset: 156 + 2)
        #expect(throws: GuestFSError("iso9660: directory at block 25 does not begin with its own \".\" record")) { try b.open() }
        // Every truncation of a real image either opens or throws; reads past the cut throw.
        let image = try Self.smallImage.get()
        for cut in stride(from: 0, to: image.count, by: 2048 * 7) {
            if let fs = try? ISO9660Filesystem(device: MemoryDevice(bytes: Array(image[0..<cut]))) {
                _ = Ext4HostileTests.walkAll(fs)
            }
        }
    }

    @Test func recordsPointingOutside() throws {
        var b = ISOBuilder(blocks: 24)
        b.descriptors(root: 18)
        b.directory(block: 18, parent: 18, [
            B.file("FAR.;1", extent: 23, size: 4096),
            B.file("WAYOUT.;1", extent: 0xFFFF_FFF0, size: 10),
            B.dir("BIGDIR", extent: 19),
            B.dir("NOWHERE", extent: 900),
        ])
        b.directory(block: 19, parent: 18, size: 0x7FFF_0000, [])
        let fs = try b.open()
        let e = try fs.readdir(fs.rootInode)
        #expect(e.map(\.name) == ["far", "wayout", "bigdir", "nowhere"])
        #expect(throws: GuestFSError("iso9660: inode \(e[0].inode) section 0: 4096 bytes at block 23 run past the end of the volume (24 blocks)")) {
            try fs.read(e[0].inode, at: 2048, count: 10)
        }
        #expect(throws: GuestFSError.self) { try fs.read(e[1].inode, at: 0, count: 10) }
        #expect(throws: GuestFSError("iso9660: directory at block 19: 2147418112 bytes at block 19 run past the end of the volume (24 blocks)")) {
            try fs.readdir(e[2].inode)
        }
        #expect(throws: GuestFSError("iso9660: inode \(900 << 6) lies outside the volume")) { try fs.stat(e[3].inode) }
        #expect(throws: GuestFSError("iso9660: no directory record for inode 5")) { try fs.stat(5) }
        #expect(throws: GuestFSError("iso9660: inode \(UInt64(1) << 40) lies outside the volume")) { try fs.stat(1 << 40) }

        // A record longer than what is left of its block.
        b.put([200], block: 18, offset: 68)
        b.put([0xFF], block: 18, offset: 68 + 32)
        let crossing = try b.open()
        #expect(throws: GuestFSError("iso9660: directory record at byte \(18 * 2048 + 68): length 200, name length 255 do not fit its block")) {
            try crossing.readdir(crossing.rootInode)
        }
    }

    /// A Rock Ridge root "." with SP and ER, and one file whose system use area is `su`.
    static func rockRidge(_ su: [UInt8], extra: (inout ISOBuilder) -> Void = { _ in }) -> ISOBuilder {
        var b = ISOBuilder(blocks: 24)
        b.descriptors(root: 18)
        b.directory(block: 18, parent: 18, dotSU: B.sp + B.px(0o40755) + B.er, [B.file("F.;1", extent: 20, size: 3, su: su)])
        extra(&b)
        return b
    }

    @Test func continuationLoopsAndBounds() throws {
        // CE → block 21, whose area continues at itself.
        let loop = try Self.rockRidge(B.px(0o100644) + B.ce(block: 21, offset: 0, length: 28)) {
            $0.put(B.ce(block: 21, offset: 0, length: 28), block: 21)
        }.open()
        let loopError = GuestFSError("iso9660: record at byte \(18 * 2048 + 130): continuation areas form a loop at byte \(21 * 2048)")
        #expect(throws: loopError) { try loop.readdir(loop.rootInode) }
        #expect(throws: loopError) { try loop.stat((18 * 2048 + 130) >> 5) }
        // A chain of 40 distinct areas, each 28 bytes further on.
        let chain = try Self.rockRidge(B.ce(block: 21, offset: 0, length: 28)) {
            for k in 0..<40 { $0.put(B.ce(block: 21, offset: (k + 1) * 28, length: 28), block: 21, offset: k * 28) }
        }.open()
        #expect(throws: GuestFSError("iso9660: record at byte \(18 * 2048 + 130): more than 32 continuation areas")) {
            try chain.readdir(chain.rootInode)
        }
        // An area crossing its block, or outside the volume.
        for ce in [B.ce(block: 21, offset: 2000, length: 100), B.ce(block: 99, offset: 0, length: 10)] {
            let bad = try Self.rockRidge(ce).open()
            #expect(throws: GuestFSError.self) { try bad.readdir(bad.rootInode) }
        }
        // Entries too short for their signature.
        let short = try Self.rockRidge(B.susp("PX", [1, 2, 3])).open()
        #expect(throws: GuestFSError("iso9660: record at byte \(18 * 2048 + 130): PX entry of 7 bytes is too short")) {
            try short.readdir(short.rootInode)
        }
    }

    @Test func symlinkComponents() throws {
        let sl = B.susp("SL", [0, 8, 0, 0, 3] + Array("usr".utf8) + [1, 2] + Array("li".utf8) + [0, 1] + Array("b".utf8) + [4, 0])
        let good = try Self.rockRidge(B.px(0o120777) + sl).open()
        let f = try #require(try good.readdir(good.rootInode).first)
        #expect(f.type == .symlink)
        #expect(try good.readlink(f.inode) == Array("/usr/lib/..".utf8))
        #expect(try good.stat(f.inode).size == 11)
        let overrun = try Self.rockRidge(B.px(0o120777) + B.susp("SL", [0, 0, 40, 0x61])).open()
        #expect(throws: GuestFSError("iso9660: record at byte \(18 * 2048 + 130): SL component of 40 bytes overruns its entry")) {
            try overrun.readdir(overrun.rootInode)
        }
        let flags = try Self.rockRidge(B.px(0o120777) + B.susp("SL", [0, 0x10, 0])).open()
        #expect(throws: GuestFSError.self) { try flags.readdir(flags.rootInode) }
        // A PX mode that contradicts the directory flag.
        let contradiction = try Self.rockRidge(B.px(0o40755)).open()
        let c = try #require(try contradiction.readdir(contradiction.rootInode).first)
        #expect(throws: GuestFSError("iso9660: record at byte \(18 * 2048 + 130): Rock Ridge mode 0o40755 contradicts its directory flag")) {
            try contradiction.stat(c.inode)
        }
    }

    @Test func relocationLoops() throws {
        // CL back to the root, to the directory holding it, a relocated directory that is itself
        // relocated, and a PL naming another parent.
        let toRoot = try ISO9660HandBuiltTests.relocation(cl: 18).open()
        #expect(throws: GuestFSError("iso9660: record at byte \(18 * 2048 + 130): CL points to the root directory")) {
            try toRoot.readdir(toRoot.rootInode)
        }
        let recursive = try ISO9660HandBuiltTests.relocation(relocatedDotSU: B.cl(20)).open()
        #expect(throws: GuestFSError("iso9660: relocated directory at block 21 is itself relocated (recursive relocation)")) {
            try recursive.readdir(recursive.rootInode)
        }
        let wrongParent = try ISO9660HandBuiltTests.relocation(pl: 20).open()
        #expect(throws: GuestFSError("iso9660: relocated directory at block 21 names block 20 as its parent, but is linked from the directory at block 18")) {
            try wrongParent.readdir(wrongParent.rootInode)
        }
        var own = ISO9660HandBuiltTests.relocation()
        own.directory(block: 20, parent: 18, dotSU: B.px(0o40755), [B.file("SELF", extent: 0, size: 0, su: B.nm("self") + B.cl(20))])
        let ownFS = try own.open()
        let moved = try #require(try ownFS.lookup(ownFS.rootInode, name: Array("deep".utf8)))
        #expect(try ownFS.readdir(moved).map(\.name) == ["f"])
        #expect(throws: GuestFSError("iso9660: record at byte \(20 * 2048 + 104): CL points back to its own directory")) {
            try ownFS.readdir(20 << 6)
        }
    }

    @Test func unsupportedFileLayouts() throws {
        var b = ISOBuilder(blocks: 24)
        b.descriptors(root: 18)
        var sections = (0..<101).map { _ in B.file("X.;1", extent: 20, size: 2048, flags: 0x80) }
        sections.append(B.file("X.;1", extent: 20, size: 1))
        b.directory(block: 18, parent: 18, size: 4096, [
            B.record(extent: 20, size: 10, name: Array("I.;1".utf8), unit: 1, gap: 1),
            B.file("R.;1", extent: 20, size: 100, flags: 0x80), B.file("R.;1", extent: 21, size: 10),
        ] + sections)
        let fs = try b.open()
        let e = try fs.readdir(fs.rootInode)
        #expect(e.map(\.name) == ["i", "r", "x"])
        #expect(throws: GuestFSError("iso9660: inode \(e[0].inode): interleaved files (unit size 1, gap 1) are not supported")) {
            try fs.read(e[0].inode, at: 0, count: 1)
        }
        #expect(throws: GuestFSError("iso9660: inode \(e[1].inode): section 0 of 100 bytes is not a whole number of blocks")) {
            try fs.read(e[1].inode, at: 0, count: 200)
        }
        #expect(throws: GuestFSError("iso9660: file at byte \(18 * 2048 + 182) has more than 100 sections")) {
            try fs.stat(e[2].inode)
        }
    }

    @Test func corruptZisofsData() throws {
        let image = try ImageFixtures.bytes("zisofs.iso")
        let fs = try ISO9660Filesystem(device: MemoryDevice(bytes: image))
        let ino = try #require(try fs.lookup(fs.rootInode, name: Array("text.txt".utf8)))
        let data = Int(try fs.record(ino).extent) * 2048
        // The first block pointer (after the 16-byte header) aimed far outside the stored data.
        let far = Ext4TestPatchedDevice(base: image, patches: [(data + 16 + 3, 0x7F)])
        let farFS = try ISO9660Filesystem(device: far)
        #expect(throws: GuestFSError.self) { try farFS.read(ino, at: 0, count: 10) }
        // Garbage inside the first zlib stream, then at every tenth byte of the stored data.
        let first = Int(image.le32(data + 16))
        for step in [0, 10, 100, 1000] {
            let bad = try ISO9660Filesystem(device: Ext4TestPatchedDevice(base: image, patches: [(data + first + 2 + step, 0xFF), (data + first + 3 + step, 0x00)]))
            if let out = try? bad.read(ino, at: 0, count: 40000) { #expect(out.count == 40000) }
        }
        #expect(throws: GuestFSError.self) {
            try ISO9660Filesystem(device: Ext4TestPatchedDevice(base: image, patches: [(data + first + 2, 0xFF), (data + first + 3, 0xFF)])).read(ino, at: 0, count: 10)
        }
    }

    /// Seeded random byte mutations of the directory and descriptor area of a real image: every
    /// operation must return or throw GuestFSError (typed throws), never trap or hang.
    @Test func seededMutations() throws {
        let image = try Self.smallImage.get()
        let base = try ISO9660Filesystem(device: MemoryDevice(bytes: image))
        // Mutate the metadata: descriptors through the last directory block (file data follows).
        var lastMeta = 17 * 2048
        var visited = Set<UInt64>()
        func dirs(_ ino: UInt64) {
            guard visited.insert(ino).inserted, let entries = try? base.readdir(ino) else { return }
            lastMeta = max(lastMeta, Int(ino >> 6) * 2048 + 2048)
            for e in entries where e.type == .directory { dirs(e.inode) }
        }
        dirs(base.rootInode)
        let span = min(lastMeta, image.count) - 16 * 2048
        var rng = Ext4TestRNG(state: 0x15_09_66)
        var opened = 0, walked = 0
        let start = Date()
        for _ in 0..<600 {
            var patches: [(offset: Int, byte: UInt8)] = []
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                let at = 16 * 2048 + Int.random(in: 0..<span, using: &rng)
                let byte: UInt8 = Bool.random(using: &rng) ? UInt8.random(in: 0...255, using: &rng) : [0, 0xFF, 0x80, 1, 0x12][Int.random(in: 0..<5, using: &rng)]
                patches.append((at, byte))
            }
            guard let fs = try? ISO9660Filesystem(device: Ext4TestPatchedDevice(base: image, patches: patches)) else { continue }
            opened += 1
            walked += Ext4HostileTests.walkAll(fs)
            _ = try? fs.statfs()
        }
        // The hand-built relocation and multi-extent images, mutated anywhere past the system area.
        for small in [ISO9660HandBuiltTests.relocation().bytes, ISO9660HandBuiltTests.multiExtent().bytes] {
            for _ in 0..<400 {
                let patches = (0..<Int.random(in: 1...4, using: &rng)).map { _ in
                    (offset: Int.random(in: (16 * 2048)..<small.count, using: &rng), byte: UInt8.random(in: 0...255, using: &rng))
                }
                guard let fs = try? ISO9660Filesystem(device: Ext4TestPatchedDevice(base: small, patches: patches)) else { continue }
                opened += 1
                walked += Ext4HostileTests.walkAll(fs)
            }
        }
        #expect(opened > 200)
        #expect(walked > 0)
        #expect(Date().timeIntervalSince(start) < 30)
    }
}
