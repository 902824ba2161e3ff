import Foundation
import Testing
import DomainXML
import Hypervisor
@testable import QEMUDriver

/// `<disk type='volume'>`: resolved to the volume's path and format for QEMU, refused clearly
/// when the pool is down or the volume missing, and guarded while a guest uses it.
@Suite(.enabled(if: haveQEMU && domainXMLWorks(), "needs QEMU"), .serialized)
struct StorageVolumeDiskTests {
    static let volumeDisk = """

        <disk type='volume' device='disk'>
          <source pool='p' volume='v.qcow2'/>
          <target dev='vda' bus='virtio'/>
        </disk>
    """

    /// A started dir pool `p` under the root.
    func pool(_ d: QEMUDriver, _ root: TempRoot) async throws -> StoragePoolRef {
        let ref = try await d.defineStoragePool(xml: "<pool type='dir'><name>p</name><target><path>\(root.path)/pool</path></target></pool>", flags: 0)
        try await d.buildStoragePool(ref, flags: [])
        try await d.startStoragePool(ref, flags: [])
        return ref
    }

    @Test func daemonStartDefinesAndStartsTheDefaultPool() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let d = try root.driver()
        #expect(try await d.defineDefaultPoolIfFirstStart())
        #expect(await d.autostartPools().isEmpty)
        let pool = try await d.lookupStoragePool(name: "default")
        #expect(try await d.storagePoolIsActive(pool))
        #expect(try await d.storagePoolXML(pool, flags: []).contains("<path>\(root.path)/lib/images</path>"))
        // Another process sees it running; a later daemon start changes nothing.
        let other = try root.driver()
        #expect(try await other.listAllStoragePools(flags: [.active, .autostart]) == [pool])
        #expect(try await other.defineDefaultPoolIfFirstStart() == false)
        #expect(await other.autostartPools().isEmpty)
    }

    @Test func argvUsesTheVolumesPathAndFormat() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let d = try root.driver()
        let p = try await pool(d, root)
        let xml = biosOnlyXML("vol", extraDevices: Self.volumeDisk)
        await #expect(throws: VirError(.noStorageVol, "Storage volume not found: no storage vol with matching name 'v.qcow2'", domain: .storage)) {
            _ = try await d.domainXMLToNative(format: "qemu-argv", xml: xml)
        }
        let vol = try await d.createStorageVolume(p, xml: "<volume><name>v.qcow2</name><capacity unit='M'>16</capacity><target><format type='qcow2'/></target></volume>", flags: [])
        let argv = try await d.domainXMLToNative(format: "qemu-argv", xml: xml)
        #expect(argv.contains("\"filename\":\"\(vol.key)\""))
        #expect(argv.contains("\"driver\":\"qcow2\""))
        // An explicit driver type wins over the volume's.
        let forced = biosOnlyXML("vol", extraDevices: Self.volumeDisk.replacingOccurrences(of: "<source", with: "<driver name='qemu' type='raw'/>\n      <source"))
        #expect(try await d.domainXMLToNative(format: "qemu-argv", xml: forced).contains("\"driver\":\"raw\""))
        // The definition keeps the volume source as written.
        let dom = try await d.defineDomain(xml: xml, validate: true)
        #expect(try await d.domainXML(dom, flags: []).contains("<source pool='p' volume='v.qcow2'/>"))
        try await d.destroyStoragePool(p)
        await #expect(throws: VirError(.operationInvalid, "Requested operation is not valid: storage pool 'p' containing volume 'v.qcow2' is not active", domain: .storage)) {
            _ = try await d.startDomain(dom, flags: [])
        }
    }
}

extension QEMUDriverGuestTests {
    @Test func bootsFromAVolumeThatCannotBeDeletedWhileInUse() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let d = try root.driver()
        let dir = try #require(tinyGuestDir)
        let p = try await d.defineStoragePool(xml: "<pool type='dir'><name>p</name><target><path>\(root.path)/pool</path></target></pool>", flags: 0)
        try await d.startStoragePool(p, flags: .build)
        // The data disk arrives through an upload, as `vol-upload` would send it.
        let image = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/data.qcow2"))
        let vol = try await d.createStorageVolume(p, xml: "<volume><name>v.qcow2</name><capacity>\(image.count)</capacity></volume>", flags: [])
        let up = try await d.uploadStorageVolume(vol, offset: 0, length: 0, flags: [])
        try await up.write(Array(image))
        try await up.finish()
        #expect(try StorageVolume(xml: try await d.storageVolumeXML(vol, flags: 0)).format == "qcow2")

        var xml = try String(contentsOfFile: "\(dir)/tiny.xml", encoding: .utf8)
        xml = xml.replacingOccurrences(of: "<disk type='file' device='disk'>", with: "<disk type='volume' device='disk'>")
            .replacingOccurrences(of: "<driver name='qemu' type='qcow2'/>", with: "")
            .replacingOccurrences(of: #"<source file='[^']*data\.qcow2'/>"#, with: "<source pool='p' volume='v.qcow2'/>", options: .regularExpression)
        let dom = try await d.startDomain(try await d.defineDomain(xml: xml, validate: true), flags: [])
        let console = ConsoleCollector(try await d.openConsole(dom, devName: nil, force: false))
        #expect(await console.waitFor("corral-tiny-guest: ready", seconds: 90))
        #expect(await console.waitFor("tiny# ", seconds: 10))
        try await console.send("cat /mnt/data/hello.txt\n")
        #expect(await console.waitFor("corral data disk", seconds: 10))
        let stats = try await d.allDomainStats([dom], types: [.block])
        let params = Dictionary(stats.first?.params.map { ($0.field, $0.value) } ?? [], uniquingKeysWith: { a, _ in a })
        #expect(params["block.0.path"] == .string(vol.key))
        if case .ullong(let reqs)? = params["block.0.rd.reqs"] { #expect(reqs > 0) } else { Issue.record("no block.0.rd.reqs") }

        // A volume disk hotplugs too: QEMU gets its file, the live XML keeps the volume.
        _ = try await d.createStorageVolume(p, xml: "<volume><name>v2.qcow2</name><capacity>1048576</capacity><target><format type='qcow2'/></target></volume>", flags: [])
        let hot = "<disk type='volume' device='disk'><source pool='p' volume='v2.qcow2'/><target dev='vdb' bus='virtio'/></disk>"
        try await d.attachDevice(dom, xml: hot, flags: .live)
        try await console.send("i=0; while [ ! -b /dev/vdb ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done; echo SIZE\"\"=$(cat /sys/block/vdb/size)\n")
        #expect(await console.waitFor("SIZE=2048", seconds: 30))
        let liveXML = try await d.domainXML(dom, flags: [])
        #expect(liveXML.contains("<source pool='p' volume='v2.qcow2'"))
        try await d.detachDevice(dom, xml: hot, flags: .live)

        // A second process on the root refuses to pull the disk from under the guest.
        let other = try root.driver()
        let inUse = "Requested operation is not valid: storage volume 'v.qcow2' is in use by running domain 'tiny'"
        await #expect(throws: VirError(.operationInvalid, inUse, domain: .storage)) {
            try await other.deleteStorageVolume(vol, flags: [])
        }
        await #expect(throws: VirError(.operationInvalid, inUse, domain: .storage)) {
            try await other.resizeStorageVolume(vol, capacity: 1 << 20, flags: .shrink)
        }
        try await d.destroyDomain(dom, flags: 0)
        await console.stream.close()
        try await other.deleteStorageVolume(vol, flags: [])
    }
}
