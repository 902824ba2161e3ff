import Foundation
import Testing
import DomainXML
import Hypervisor
@testable import Storage

@Suite struct VolumeTests {
    @Test func rawVolumesSparseAndPreallocated() async throws {
        let root = TempRoot()
        let m = StorageManager(root: root.path)
        let pool = try await startedDirPool(m, root)
        let sparse = try await m.createStorageVolume(pool, xml: volXML("sparse.img", capacity: 64 << 20), flags: [])
        #expect(sparse.key == root.path + "/p/sparse.img")
        let info = try await m.storageVolumeInfo(sparse)
        #expect(info.type == .file && info.capacity == 64 << 20 && info.allocation < 1 << 20)
        let full = try await m.createStorageVolume(pool, xml: volXML("full.img", capacity: 8 << 20, allocation: 8 << 20), flags: [])
        #expect(try await m.storageVolumeInfo(full).allocation >= 8 << 20)

        let xml = try await m.storageVolumeXML(sparse, flags: 0)
        let v = try StorageVolume(xml: xml)
        #expect(v.type == "file" && v.key == sparse.key && v.targetPath == sparse.key && v.format == "raw")
        #expect(v.capacity == 64 << 20 && v.physical == 64 << 20 && (v.allocation ?? .max) < 1 << 20)
        #expect(v.targetPermissions?.mode == 0o600)
        #expect(v.timestamps?.mtime?.split(separator: ".").last?.count == 9)
        #expect(VolumeFiles.stamp(timespec(tv_sec: 5, tv_nsec: 7)) == "5.000000007")

        #expect(try await m.listAllStorageVolumes(pool, flags: 0).map(\.name) == ["full.img", "sparse.img"])
        #expect(try await m.lookupStorageVolume(key: sparse.key) == sparse)
        #expect(try await m.lookupStorageVolume(path: root.path + "/p/../p/sparse.img") == sparse)
        #expect(try await m.lookupStoragePool(volume: sparse) == pool)
        #expect(try await m.storageVolumePath(full) == root.path + "/p/full.img")
        #expect(await errorText { _ = try await m.lookupStorageVolume(pool: pool, name: "..") }
                == "Storage volume not found: no storage vol with matching name '..'")
        #expect(await errorText { _ = try await m.lookupStorageVolume(pool: pool, name: "nope") }
                == "Storage volume not found: no storage vol with matching name 'nope'")
        #expect(await errorText { _ = try await m.createStorageVolume(pool, xml: volXML("sparse.img", capacity: 1), flags: []) }
                == "storage volume 'sparse.img' exists already")
        #expect(await errorText { _ = try await m.createStorageVolume(pool, xml: "<volume><name>x</name></volume>", flags: []) }
                == "XML error: missing capacity element")
        #expect(await errorText { _ = try await m.createStorageVolume(pool, xml: volXML("m.img", capacity: 1), flags: .preallocMetadata) }
                == "unsupported configuration: metadata preallocation is not supported for raw volumes")

        try await m.deleteStorageVolume(full, flags: [])
        #expect(!FileManager.default.fileExists(atPath: full.key))
        #expect(await errorText { try await m.deleteStorageVolume(full, flags: []) }
                == "Storage volume not found: no storage vol with matching name 'full.img'")
    }

    @Test(.enabled(if: haveQemuImg)) func qcow2WithBackingCloneAndConvert() async throws {
        let root = TempRoot()
        let m = StorageManager(root: root.path)
        let pool = try await startedDirPool(m, root)
        let base = try await m.createStorageVolume(pool, xml: volXML("base.img", capacity: 4 << 20), flags: [])
        // Put recognisable bytes in the base through an upload.
        let pattern = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let up = try await m.uploadStorageVolume(base, offset: 1 << 20, length: 0, flags: [])
        try await up.write(pattern)
        try await up.finish()

        let overlay = try await m.createStorageVolume(pool, xml: """
        <volume><name>overlay.qcow2</name><capacity unit='M'>4</capacity><target><format type='qcow2'/></target>
        <backingStore><path>\(base.key)</path><format type='raw'/></backingStore></volume>
        """, flags: [])
        let v = try StorageVolume(xml: try await m.storageVolumeXML(overlay, flags: 0))
        #expect(v.format == "qcow2" && v.capacity == 4 << 20)
        #expect(v.backingStore?.path == base.key && v.backingStore?.format == "raw")
        #expect((v.allocation ?? .max) < 1 << 20)

        // Metadata preallocation allocates more than a plain qcow2 of the same size.
        let plain = try await m.createStorageVolume(pool, xml: volXML("plain.qcow2", capacity: 256 << 20, format: "qcow2"), flags: [])
        let meta = try await m.createStorageVolume(pool, xml: volXML("meta.qcow2", capacity: 256 << 20, format: "qcow2"), flags: .preallocMetadata)
        #expect(try await m.storageVolumeInfo(meta).allocation > (try await m.storageVolumeInfo(plain).allocation))
        #expect(try await m.storageVolumeInfo(plain).capacity == 256 << 20)

        // Clone the overlay (reads through its backing file) into a standalone qcow2, then back to raw.
        let clone = try await m.createStorageVolume(pool, xml: volXML("clone.qcow2", capacity: 0, format: "qcow2"), from: overlay, flags: [])
        let cv = try StorageVolume(xml: try await m.storageVolumeXML(clone, flags: 0))
        #expect(cv.format == "qcow2" && cv.backingStore == nil && cv.capacity == 4 << 20)
        let raw = try await m.createStorageVolume(pool, xml: volXML("back.raw", capacity: 8 << 20), from: clone, flags: [])
        let rawInfo = try await m.storageVolumeInfo(raw)
        #expect(rawInfo.capacity == 8 << 20)
        let bytes = try await readAll(try await m.downloadStorageVolume(raw, offset: 1 << 20, length: UInt64(pattern.count), flags: []))
        #expect(bytes == pattern)

        // vol-clone: the source's own XML under a new name (its backing store and path included).
        var cloneXML = try StorageVolume(xml: try await m.storageVolumeXML(overlay, flags: 0))
        cloneXML.name = "cloned.qcow2"
        let cloned = try await m.createStorageVolume(pool, xml: cloneXML.formatXML(), from: overlay, flags: [])
        let clv = try StorageVolume(xml: try await m.storageVolumeXML(cloned, flags: 0))
        #expect(clv.targetPath == root.path + "/p/cloned.qcow2" && clv.format == "qcow2" && clv.backingStore == nil)

        // Format detection on a file dropped into the pool by hand.
        _ = run(["qemu-img", "create", "-q", "-f", "qcow2", root.path + "/p/dropped", "1M"])
        let dropped = try await m.lookupStorageVolume(pool: pool, name: "dropped")
        #expect(try StorageVolume(xml: try await m.storageVolumeXML(dropped, flags: 0)).format == "qcow2")

        #expect(await errorText { _ = try await m.createStorageVolume(pool, xml: volXML("b.raw", capacity: 1, extra: "<backingStore><path>\(base.key)</path></backingStore>"), flags: []) }
                == "unsupported configuration: backing storage not supported for raw volumes")
    }

    @Test(.enabled(if: haveQemuImg)) func resizeAndWipe() async throws {
        let root = TempRoot()
        let m = StorageManager(root: root.path)
        let pool = try await startedDirPool(m, root)
        let raw = try await m.createStorageVolume(pool, xml: volXML("r.img", capacity: 4 << 20), flags: [])
        try await m.resizeStorageVolume(raw, capacity: 8 << 20, flags: [])
        #expect(try await m.storageVolumeInfo(raw).capacity == 8 << 20)
        try await m.resizeStorageVolume(raw, capacity: 2 << 20, flags: [.delta, .allocate])
        let grown = try await m.storageVolumeInfo(raw)
        #expect(grown.capacity == 10 << 20 && grown.allocation >= 2 << 20)
        #expect(await errorText { try await m.resizeStorageVolume(raw, capacity: 4 << 20, flags: []) }
                == "invalid argument: Can't shrink capacity below current capacity unless shrink flag explicitly specified")
        // Not below the 2 MiB that are allocated, as libvirt.
        #expect(await errorText { try await m.resizeStorageVolume(raw, capacity: 1 << 20, flags: .shrink) }
                == "invalid argument: can't shrink capacity below existing allocation")
        try await m.resizeStorageVolume(raw, capacity: 4 << 20, flags: .shrink)
        #expect(try await m.storageVolumeInfo(raw).capacity == 4 << 20)

        let q = try await m.createStorageVolume(pool, xml: volXML("q.qcow2", capacity: 4 << 20, format: "qcow2"), flags: [])
        try await m.resizeStorageVolume(q, capacity: 16 << 20, flags: [])
        #expect(try await m.storageVolumeInfo(q).capacity == 16 << 20)
        try await m.resizeStorageVolume(q, capacity: 8 << 20, flags: .shrink)
        #expect(try await m.storageVolumeInfo(q).capacity == 8 << 20)
        #expect(await errorText { try await m.resizeStorageVolume(q, capacity: 32 << 20, flags: .allocate) }
                == "Operation not supported: preallocate is only supported for raw type volume")

        // Wipe: raw becomes zeros and stays the same size; qcow2 stays a qcow2 of the same size.
        let up = try await m.uploadStorageVolume(raw, offset: 0, length: 4096, flags: [])
        try await up.write([UInt8](repeating: 0xAB, count: 4096))
        try await up.finish()
        try await m.wipeStorageVolume(raw, algorithm: .zero, flags: 0)
        let wiped = try await readAll(try await m.downloadStorageVolume(raw, offset: 0, length: 0, flags: []))
        #expect(wiped.count == 4 << 20 && wiped.allSatisfy { $0 == 0 })
        try await m.wipeStorageVolume(q, algorithm: .zero, flags: 0)
        let qv = try StorageVolume(xml: try await m.storageVolumeXML(q, flags: 0))
        #expect(qv.format == "qcow2" && qv.capacity == 8 << 20)
        #expect(await errorText { try await m.wipeStorageVolume(q, algorithm: .dod, flags: 0) }?
                    .contains("wipe algorithm 'dod' (Corral implements zero)") == true)
    }

    @Test(.enabled(if: haveQemuImg)) func isoImagesAreDetectedAndCopiedAsRaw() async throws {
        let root = TempRoot()
        let m = StorageManager(root: root.path)
        let pool = try await startedDirPool(m, root)
        var iso = [UInt8](repeating: 0, count: 64 << 10)
        iso.replaceSubrange(32769..<32774, with: Array("CD001".utf8))
        _ = FileManager.default.createFile(atPath: root.path + "/p/boot.iso", contents: Data(iso))
        let vol = try await m.lookupStorageVolume(pool: pool, name: "boot.iso")
        var xml = try StorageVolume(xml: try await m.storageVolumeXML(vol, flags: 0))
        #expect(xml.format == "iso")
        xml.name = "copy.iso"
        let copy = try await m.createStorageVolume(pool, xml: xml.formatXML(), from: vol, flags: [])
        #expect(try await readAll(try await m.downloadStorageVolume(copy, offset: 0, length: 0, flags: [])) == iso)
        let r = try await m.resolveDiskVolume(pool: "p", volume: "copy.iso")
        #expect(r.format == "iso" && !r.isBlock)
    }

    @Test func uploadAndDownloadStreams() async throws {
        let root = TempRoot()
        let m = StorageManager(root: root.path)
        let pool = try await startedDirPool(m, root)
        let vol = try await m.createStorageVolume(pool, xml: volXML("u.img", capacity: 3 << 20), flags: [])
        let data = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 >> 3 ^ $0) }
        let up = try await m.uploadStorageVolume(vol, offset: 0, length: 0, flags: [])
        for start in stride(from: 0, to: data.count, by: 100_000) {
            try await up.write(Array(data[start..<min(start + 100_000, data.count)]))
        }
        try await up.finish()
        let down = try await m.downloadStorageVolume(vol, offset: 0, length: 0, flags: [])
        var chunks: [[UInt8]] = []
        while let c = try await down.read() { chunks.append(c) }
        #expect(chunks.first?.count == 256 << 10)
        #expect(Array(chunks.joined()) == data)
        // Offsets and lengths, and a length the upload must not overrun.
        let part = try await readAll(try await m.downloadStorageVolume(vol, offset: 1000, length: 10, flags: []))
        #expect(part == Array(data[1000..<1010]))
        let bounded = try await m.uploadStorageVolume(vol, offset: 10, length: 4, flags: [])
        #expect(await errorText { try await bounded.write([1, 2, 3, 4, 5]) } == "invalid argument: upload is longer than the requested length")
        await bounded.close()
    }

    /// Offsets, lengths and sizes come from clients: past off_t they are refused, never trapped on.
    @Test func hugeOffsetsAndSizesAreRefused() async throws {
        let root = TempRoot()
        let m = StorageManager(root: root.path)
        let pool = try await startedDirPool(m, root)
        let vol = try await m.createStorageVolume(pool, xml: volXML("h.img", capacity: 1 << 20), flags: [])
        let tooFar = "invalid argument: offset 9223372036854775808 and length 0 are beyond the largest file offset"
        #expect(await errorText { _ = try await m.uploadStorageVolume(vol, offset: 1 << 63, length: 0, flags: []) } == tooFar)
        #expect(await errorText { _ = try await m.downloadStorageVolume(vol, offset: 1 << 63, length: 0, flags: []) } == tooFar)
        #expect(await errorText { _ = try await m.uploadStorageVolume(vol, offset: 1, length: .max, flags: []) } != nil)
        let near = try await m.uploadStorageVolume(vol, offset: UInt64(Int64.max) - 2, length: 0, flags: [])
        #expect(await errorText { try await near.write([1, 2, 3, 4]) } == "invalid argument: upload goes past the largest file offset")
        await near.close()
        #expect(await errorText { try await m.resizeStorageVolume(vol, capacity: .max, flags: []) } == "invalid argument: capacity 18446744073709551615 is too large")
        #expect(await errorText { try await m.resizeStorageVolume(vol, capacity: 1 << 63, flags: .delta) } != nil)
        #expect(await errorText {
            _ = try await m.createStorageVolume(pool, xml: "<volume><name>big</name><capacity>9223372036854775808</capacity></volume>", flags: [])
        } == "XML error: value of <capacity> is too large")
    }

    @Test func racingCreatorsOneWins() async throws {
        let root = TempRoot()
        let m = StorageManager(root: root.path)
        let pool = try await startedDirPool(m, root)
        // Separate managers behave as separate processes: they share nothing but the files.
        let managers = (0..<6).map { _ in StorageManager(root: root.path) }
        let results = await withTaskGroup(of: String?.self) { group in
            for mm in managers {
                group.addTask { await errorText { _ = try await mm.createStorageVolume(pool, xml: volXML("same", capacity: 32 << 20, allocation: 32 << 20), flags: []) } }
            }
            var out: [String?] = []
            for await r in group { out.append(r) }
            return out
        }
        #expect(results.filter { $0 == nil }.count == 1)
        #expect(results.compactMap { $0 }.allSatisfy { $0 == "storage volume 'same' exists already" })
        #expect(try await m.listAllStorageVolumes(pool, flags: 0).map(\.name) == ["same"])
    }

    @Test func crashedCreateLeavesNothingVisible() async throws {
        let root = TempRoot()
        let m = StorageManager(root: root.path)
        let pool = try await startedDirPool(m, root)
        let dir = root.path + "/p/"
        // A temp left by a creator that died (no lock held) ...
        _ = FileManager.default.createFile(atPath: dir + ".corral-new-ghost", contents: Data(count: 100))
        // ... and one whose creator is still at work (we hold its lock).
        let live = try #require(try StorageLock.tryAcquire(dir + ".corral-new-busy"))
        #expect(try await m.listAllStorageVolumes(pool, flags: 0).isEmpty)
        #expect(await errorText { _ = try await m.createStorageVolume(pool, xml: volXML("busy", capacity: 1), flags: []) }
                == "storage volume 'busy' exists already")
        try await m.refreshStoragePool(pool, flags: 0)
        #expect(!FileManager.default.fileExists(atPath: dir + ".corral-new-ghost"))
        #expect(FileManager.default.fileExists(atPath: dir + ".corral-new-busy"))
        live.release()
        // Once its creator is gone, the name can be taken over.
        _ = try await m.createStorageVolume(pool, xml: volXML("busy", capacity: 1), flags: [])
        #expect(try await m.listAllStorageVolumes(pool, flags: 0).map(\.name) == ["busy"])
        #expect(!FileManager.default.fileExists(atPath: dir + ".corral-new-busy"))
        // A failed create (missing backing file) leaves nothing behind.
        if haveQemuImg {
            #expect(await errorText { _ = try await m.createStorageVolume(pool, xml: volXML("o.qcow2", capacity: 1 << 20, format: "qcow2", extra: "<backingStore><path>/nonexistent/b</path></backingStore>"), flags: []) } != nil)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["busy"])
        }
    }

    @Test func volumesInUseAreProtected() async throws {
        let root = TempRoot()
        let m = StorageManager(root: root.path)
        let pool = try await startedDirPool(m, root)
        let a = try await m.createStorageVolume(pool, xml: volXML("a.img", capacity: 4 << 20), flags: [])
        let b = try await m.createStorageVolume(pool, xml: volXML("b.img", capacity: 4 << 20), flags: [])
        let path = a.key
        await m.setUsageProvider { [VolumeUse(domain: "web", path: path), VolumeUse(domain: "db", pool: "p", volume: "b.img")] }
        #expect(await errorText { try await m.deleteStorageVolume(a, flags: []) }
                == "Requested operation is not valid: storage volume 'a.img' is in use by running domain 'web'")
        #expect(await errorText { try await m.resizeStorageVolume(b, capacity: 1 << 20, flags: .shrink) }
                == "Requested operation is not valid: storage volume 'b.img' is in use by running domain 'db'")
        try await m.resizeStorageVolume(a, capacity: 8 << 20, flags: [])
        #expect(await errorText { try await m.destroyStoragePool(pool) }?.contains("in use by running domain") == true)
        await m.setUsageProvider { [] }
        try await m.deleteStorageVolume(a, flags: [])
        try await m.resizeStorageVolume(b, capacity: 1 << 20, flags: .shrink)
    }

    @Test func diskVolumeResolution() async throws {
        let root = TempRoot()
        let m = StorageManager(root: root.path)
        let pool = try await startedDirPool(m, root)
        let v = try await m.createStorageVolume(pool, xml: volXML("d.img", capacity: 1 << 20), flags: [])
        let r = try await m.resolveDiskVolume(pool: "p", volume: "d.img")
        #expect(r.path == v.key && r.format == "raw" && !r.isBlock)
        #expect(await errorText { _ = try await m.resolveDiskVolume(pool: "p", volume: "zz") }
                == "Storage volume not found: no storage vol with matching name 'zz'")
        #expect(await errorText { _ = try await m.resolveDiskVolume(pool: "nopool", volume: "zz") }
                == "Storage pool not found: no storage pool with matching name 'nopool'")
        try await m.destroyStoragePool(pool)
        #expect(await errorText { _ = try await m.resolveDiskVolume(pool: "p", volume: "d.img") }
                == "Requested operation is not valid: storage pool 'p' containing volume 'd.img' is not active")
    }
}
