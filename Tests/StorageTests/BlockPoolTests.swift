import Foundation
import Testing
import DomainXML
import Hypervisor
@testable import Storage

/// Loop devices this test attached, detached when it ends (also on failure).
final class LoopDevices {
    private(set) var devices: [String] = []
    func attach(_ file: String) -> String? {
        let r = run(["losetup", "--find", "--show", file])
        let dev = r.out.trimmingCharacters(in: .whitespacesAndNewlines)
        guard r.status == 0, dev.hasPrefix("/dev/loop") else { return nil }
        devices.append(dev)
        return dev
    }
    deinit { for d in devices { _ = run(["losetup", "-d", d]) } }
}

func sparseFile(_ path: String, size: UInt64) {
    _ = FileManager.default.createFile(atPath: path, contents: nil)
    truncate(path, off_t(size))
}

/// LVs need the kernel's device mapper, which containers often hide.
let deviceMapperUsable: Bool = {
    let fd = open("/dev/mapper/control", O_RDWR)
    if fd >= 0 { close(fd) }
    return fd >= 0
}()

/// Loop devices, mount and mkfs need root.
let canMount = isRoot && FileManager.default.isExecutableFile(atPath: "/usr/sbin/mkfs.ext4")
    && FileManager.default.fileExists(atPath: "/dev/loop-control")

@Suite(.serialized) struct BlockPoolTests {
    @Test(.enabled(if: canMount)) func fsPoolOnAnImageFile() async throws {
        let root = TempRoot()
        let m = StorageManager(root: root.path)
        let image = root.path + "/fs.img"
        sparseFile(image, size: 64 << 20)
        let target = root.path + "/mnt"
        let ref = try await m.defineStoragePool(xml: """
        <pool type='fs'><name>fsp</name><source><device path='\(image)'/><format type='ext4'/></source>
        <target><path>\(target)</path></target></pool>
        """, flags: 0)
        // An unformatted image gets a filesystem; a formatted one is refused with no-overwrite.
        try await m.buildStoragePool(ref, flags: .noOverwrite)
        #expect(await errorText { try await m.buildStoragePool(ref, flags: .noOverwrite) }
                == "Storage pool already built: Device '\(image)' already formatted using 'ext4'")
        try await m.startStoragePool(ref, flags: [])
        defer { _ = run(["umount", target]) }
        #expect(Mounts.isMountPoint(target))
        let info = try await m.storagePoolInfo(ref)
        #expect(info.state == .running && info.capacity > 50 << 20 && info.capacity < 64 << 20)
        let vol = try await m.createStorageVolume(ref, xml: volXML("v.img", capacity: 8 << 20), flags: [])
        #expect(vol.key == target + "/v.img")
        #expect(try await m.listAllStorageVolumes(ref, flags: 0).map(\.name).contains("v.img"))
        try await m.destroyStoragePool(ref)
        #expect(!Mounts.isMountPoint(target))
        // The loop device mount(8) made is released with the mount.
        #expect(!run(["losetup", "-j", image]).out.contains(image))
        // Mounted again, the volume is still there.
        try await m.startStoragePool(ref, flags: [])
        #expect(try await m.lookupStorageVolume(pool: ref, name: "v.img") == vol)
        try await m.destroyStoragePool(ref)
        try await m.deleteStoragePool(ref, flags: 0)
        #expect(!FileManager.default.fileExists(atPath: target))
    }

    /// A logical pool on two fresh loop devices, built and started; torn down by `body`'s end.
    func withLogicalPool(_ body: (StorageManager, StoragePoolRef, String, TempRoot) async throws -> Void) async throws {
        let root = TempRoot()
        let loops = LoopDevices()
        sparseFile(root.path + "/pv0", size: 64 << 20)
        sparseFile(root.path + "/pv1", size: 64 << 20)
        guard let d0 = loops.attach(root.path + "/pv0"), let d1 = loops.attach(root.path + "/pv1") else {
            Issue.record("cannot attach loop devices")
            return
        }
        let vg = "corraltest" + String(UUID().uuidString.prefix(6)).lowercased()
        let m = StorageManager(root: root.path)
        let ref = try await m.defineStoragePool(xml: """
        <pool type='logical'><name>lv</name><source><device path='\(d0)'/><device path='\(d1)'/><name>\(vg)</name><format type='lvm2'/></source></pool>
        """, flags: 0)
        #expect(try await m.storagePoolXML(ref, flags: .inactive).contains("<path>/dev/\(vg)</path>"))
        try await m.buildStoragePool(ref, flags: [])
        defer { _ = run(["vgremove", "-f", vg]); _ = run(["pvremove", "-y", d0, d1]) }
        try await m.startStoragePool(ref, flags: [])
        try await body(m, ref, vg, root)
        try await m.destroyStoragePool(ref)
        try await m.deleteStoragePool(ref, flags: 0)
        #expect(run(["vgs", vg]).status != 0)
        try await m.undefineStoragePool(ref)
    }

    @Test(.enabled(if: canMount && haveLVM)) func logicalPoolLifecycle() async throws {
        try await withLogicalPool { m, ref, vg, _ in
            let info = try await m.storagePoolInfo(ref)
            #expect(info.state == .running && info.capacity > 100 << 20 && info.available == info.capacity)
            #expect(try await m.listAllStorageVolumes(ref, flags: 0).isEmpty)
            #expect(try await m.storagePoolXML(ref, flags: []).contains("<name>\(vg)</name>"))
        }
    }

    @Test(.enabled(if: canMount && haveLVM && haveQemuImg && deviceMapperUsable)) func logicalVolumes() async throws {
        try await withLogicalPool { m, ref, vg, root in
            let lv = try await m.createStorageVolume(ref, xml: volXML("data", capacity: 8 << 20), flags: [])
            #expect(lv.key == "/dev/\(vg)/data")
            #expect(await errorText { _ = try await m.createStorageVolume(ref, xml: volXML("data", capacity: 4 << 20), flags: []) }
                    == "storage volume 'data' exists already")
            let vi = try await m.storageVolumeInfo(lv)
            #expect(vi.type == .block && vi.capacity == 8 << 20)
            #expect(try await m.storagePoolInfo(ref).allocation == 8 << 20)

            // Bytes in, the same bytes out; then a copy through a dir pool's qcow2 back into an LV.
            let pattern = (0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let up = try await m.uploadStorageVolume(lv, offset: 4096, length: 0, flags: [])
            try await up.write(pattern)
            try await up.finish()
            #expect(try await readAll(try await m.downloadStorageVolume(lv, offset: 4096, length: 65536, flags: [])) == pattern)
            let dir = try await startedDirPool(m, root, name: "d")
            let q = try await m.createStorageVolume(dir, xml: volXML("q.qcow2", capacity: 0, format: "qcow2"), from: lv, flags: [])
            let copy = try await m.createStorageVolume(ref, xml: volXML("copy", capacity: 0), from: q, flags: [])
            #expect(try await readAll(try await m.downloadStorageVolume(copy, offset: 4096, length: 65536, flags: [])) == pattern)

            try await m.resizeStorageVolume(lv, capacity: 16 << 20, flags: [])
            #expect(try await m.storageVolumeInfo(lv).capacity == 16 << 20)
            try await m.wipeStorageVolume(lv, algorithm: .zero, flags: 0)
            #expect(try await readAll(try await m.downloadStorageVolume(lv, offset: 0, length: 1 << 20, flags: [])).allSatisfy { $0 == 0 })
            try await m.deleteStorageVolume(lv, flags: [])
            try await m.deleteStorageVolume(copy, flags: [])
            #expect(try await m.listAllStorageVolumes(ref, flags: 0).isEmpty)
        }
    }
}
