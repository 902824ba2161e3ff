import Foundation
import Hypervisor
import Testing
@testable import RemoteProtocol

// Debian's real virsh against the built corrald for storage pools and volumes (streams
// included) and networks: what libvirt's own client library sends for these commands must be
// served, byte for byte where data is involved.

@Suite(.enabled(if: Paths.haveVirsh && Paths.corrald != nil, "needs /usr/bin/virsh and a built corrald"), .serialized)
struct VirshObjectInteropTests {
    @Test func poolsAndVolumesWithStreams() throws {
        let d = try Daemon()
        defer { d.stop() }
        let target = "\(d.root)/pool-p1"
        #expect(try d.virsh("pool-define-as", "p1", "dir", "--target", target).out == "Pool p1 defined\n\n")
        #expect(try d.virsh("pool-build", "p1").out == "Pool p1 built\n\n")
        #expect(try d.virsh("pool-start", "p1").out == "Pool p1 started\n\n")
        let details = try d.virsh("pool-list", "--details")
        #expect(details.status == 0, "\(details.err)")
        // The daemon's own `default` pool is listed too, so column widths depend on both names.
        let p1Row = details.out.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.first { $0.first == "p1" }
        #expect(p1Row.map { Array($0.prefix(4)) } == ["p1", "running", "no", "yes"], "\(details.out)")
        #expect(try d.virsh("pool-autostart", "p1").out == "Pool p1 marked as autostarted\n\n")

        #expect(try d.virsh("vol-create-as", "p1", "base.qcow2", "64M", "--format", "qcow2").status == 0)
        let overlay = try d.virsh("vol-create-as", "p1", "over.qcow2", "64M", "--format", "qcow2",
                                  "--backing-vol", "base.qcow2", "--backing-vol-format", "qcow2")
        #expect(overlay.out == "Vol over.qcow2 created\n\n", "\(overlay.err)")
        #expect(try d.virsh("vol-dumpxml", "--pool", "p1", "over.qcow2").out.contains("<path>\(target)/base.qcow2</path>"))
        #expect(try d.virsh("vol-create-as", "p1", "raw.img", "4M", "--format", "raw").status == 0)
        let vols = try d.virsh("vol-list", "p1", "--details").out
        for name in ["base.qcow2", "over.qcow2", "raw.img"] { #expect(vols.contains(" \(name) "), "\(vols)") }
        #expect(try d.virsh("vol-pool", "\(target)/raw.img").out == "p1\n\n")

        // Upload then download the whole volume: identical bytes (16 STREAM packets each way).
        let up = "\(d.root)/up.bin", down = "\(d.root)/down.bin"
        var bytes = [UInt8](repeating: 0, count: 4 << 20)
        for i in stride(from: 0, to: bytes.count, by: 4096) { bytes[i] = UInt8.random(in: 1...255); bytes[i + 1] = UInt8(truncatingIfNeeded: i >> 12) }
        try Data(bytes).write(to: URL(fileURLWithPath: up))
        let upload = try d.virsh("vol-upload", "--pool", "p1", "raw.img", up)
        #expect(upload.status == 0, "\(upload.err)")
        let download = try d.virsh("vol-download", "--pool", "p1", "raw.img", down)
        #expect(download.status == 0, "\(download.err)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: down)) == Data(bytes))
        // A window, and a sparse upload (holes arrive as STREAM_HOLE packets).
        #expect(try d.virsh("vol-download", "--pool", "p1", "raw.img", down, "--offset", "4096", "--length", "8192").status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: down)) == Data(bytes[4096..<12288]))
        let sparse = "\(d.root)/sparse.bin"
        FileManager.default.createFile(atPath: sparse, contents: nil)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: sparse))
        try h.write(contentsOf: Data("head".utf8)); try h.seek(toOffset: 3 << 20); try h.write(contentsOf: Data("tail".utf8))
        try h.truncate(atOffset: 4 << 20); try h.close()
        #expect(try d.virsh("vol-upload", "--pool", "p1", "raw.img", sparse, "--sparse").status == 0)
        #expect(try d.virsh("vol-download", "--pool", "p1", "raw.img", down).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: down)) == Data(contentsOf: URL(fileURLWithPath: sparse)))
        // Errors in the transfer reach virsh.
        let missing = try d.virsh("vol-upload", "--pool", "p1", "nope.img", up)
        #expect(missing.status != 0 && missing.err.contains("Storage volume not found"))

        // Read-only: listing passes, changes and downloads are refused.
        #expect(try d.virsh("pool-list", "--all", readOnly: true).status == 0)
        #expect(try d.virsh("vol-download", "--pool", "p1", "raw.img", down, readOnly: true).err
            .contains("read only access prevents virStorageVolDownload"))
        #expect(try d.virsh("pool-destroy", "p1", readOnly: true).err.contains("read only access prevents virStoragePoolDestroy"))

        // Pool events can be waited for (none are sent yet).
        #expect(try d.virsh("pool-event", "--event", "lifecycle", "--timeout", "1").out.contains("events received: 0"))

        #expect(try d.virsh("vol-delete", "--pool", "p1", "over.qcow2").out == "Vol over.qcow2 deleted\n\n")
        #expect(try d.virsh("pool-destroy", "p1").out == "Pool p1 destroyed\n\n")
        #expect(try d.virsh("pool-undefine", "p1").out == "Pool p1 has been undefined\n\n")
    }

    @Test func networks() throws {
        let d = try Daemon()
        defer { d.stop() }
        let xml = "\(d.root)/lab.xml"
        try """
        <network>
          <name>lab</name>
          <forward mode='nat'/>
          <bridge name='virbr77'/>
          <ip address='192.168.77.1' netmask='255.255.255.0'>
            <dhcp><range start='192.168.77.10' end='192.168.77.100'/></dhcp>
          </ip>
        </network>
        """.write(toFile: xml, atomically: true, encoding: .utf8)
        #expect(try d.virsh("net-define", xml).out == "Network lab defined from \(xml)\n\n")
        #expect(try d.virsh("net-list", "--all").out.contains(" lab    inactive   no          yes"))
        let dump = try d.virsh("net-dumpxml", "lab").out
        #expect(dump.contains("<name>lab</name>") && dump.contains("<uuid>"))
        #expect(try d.virsh("net-info", "lab").out.contains("Bridge:         virbr77"))
        #expect(try d.virsh("net-start", "lab").out == "Network lab started\n\n")
        #expect(try d.virsh("net-list").out.contains(" lab    active   no          yes"))
        #expect(try d.virsh("net-dhcp-leases", "lab").status == 0)
        #expect(try d.virsh("net-event", "--event", "lifecycle", "--timeout", "1").out.contains("events received: 0"))
        #expect(try d.virsh("net-destroy", "lab").out == "Network lab destroyed\n\n")
        #expect(try d.virsh("net-undefine", "lab").out == "Network lab has been undefined\n\n")
    }

    /// Live device changes on the tiny guest: a pool volume hot-plugged and removed, CD-ROM
    /// media inserted and ejected (DOMAIN_ATTACH/DETACH/UPDATE_DEVICE_FLAGS).
    @Test(.enabled(if: Paths.haveQEMU, "needs qemu-system-x86_64"))
    func deviceChangesOnARunningGuest() throws {
        let xml = try #require(Paths.tinyGuestXML, "scripts/tiny-guest.sh failed")
        let d = try Daemon()
        defer {
            _ = try? d.virsh("destroy", "tiny")
            d.stop()
        }
        // The tiny guest plus an empty CD-ROM on virtio-scsi (the guest contract's layout), on
        // its own copy of the data disk (other suites may run the tiny guest at the same time,
        // and QEMU locks its disks).
        let dataDisk = URL(fileURLWithPath: xml).deletingLastPathComponent().appendingPathComponent("data.qcow2").path
        try FileManager.default.copyItem(atPath: dataDisk, toPath: "\(d.root)/data.qcow2")
        let withCD = try String(contentsOfFile: xml, encoding: .utf8)
            .replacingOccurrences(of: dataDisk, with: "\(d.root)/data.qcow2")
            .replacingOccurrences(of: "    <interface type='user'>", with: """
                <disk type='file' device='cdrom'>
                  <driver name='qemu' type='raw'/>
                  <target dev='sda' bus='scsi'/>
                  <readonly/>
                </disk>
                <controller type='scsi' model='virtio-scsi'/>
                <interface type='user'>
            """)
        let cdXML = "\(d.root)/tiny-cd.xml"
        try withCD.write(toFile: cdXML, atomically: true, encoding: .utf8)
        #expect(try d.virsh("define", cdXML).status == 0)
        let start = try d.virsh("start", "tiny")
        #expect(start.status == 0, "\(start.err)")
        // Hot-unplug needs the guest's cooperation: wait until it is up (serial log).
        let serialLog = "\(d.root)/log/qemu/tiny-serial0.log"
        let end = Date().addingTimeInterval(60)
        while Date() < end, !((try? String(contentsOfFile: serialLog, encoding: .utf8))?.contains("corral-tiny-guest: ready") ?? false) {
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(try String(contentsOfFile: serialLog, encoding: .utf8).contains("corral-tiny-guest: ready"))
        #expect(try d.virsh("pool-create-as", "scratch", "dir", "--target", "\(d.root)/scratch", "--build").status == 0)
        #expect(try d.virsh("vol-create-as", "scratch", "extra.img", "8M", "--format", "raw").status == 0)
        #expect(try d.virsh("vol-create-as", "scratch", "media.iso", "1M", "--format", "raw").status == 0)
        let image = "\(d.root)/scratch/extra.img", media = "\(d.root)/scratch/media.iso"

        let attach = try d.virsh("attach-disk", "tiny", image, "vdb", "--targetbus", "virtio", "--subdriver", "raw")
        #expect(attach.out == "Disk attached successfully\n\n", "\(attach.err)")
        #expect(try d.virsh("domblklist", "tiny").out.contains(" vdb      \(image)"))
        let insert = try d.virsh("change-media", "tiny", "sda", media, "--insert")
        #expect(insert.out == "Successfully inserted media.\n", "\(insert.err)")
        #expect(try d.virsh("domblklist", "tiny").out.contains(" sda      \(media)"))
        #expect(try d.virsh("change-media", "tiny", "sda", "--eject").out == "Successfully ejected media.\n")
        let detach = try d.virsh("detach-disk", "tiny", "vdb")
        #expect(detach.out == "Disk detached successfully\n\n", "\(detach.err)")
        let after = try d.virsh("domblklist", "tiny").out
        #expect(!after.contains("vdb") && after.contains(" sda      -"), "\(after)")
        // Device changes need a read-write connection (libvirt's client refuses before asking).
        let refused = try d.virsh("attach-disk", "tiny", image, "vdc", readOnly: true)
        #expect(refused.err.contains("read only access prevents virDomainAttachDevice"), "\(refused.err)")
    }

    /// Corral's own client (what `corral -c qemu+unix://...` uses) against the daemon's real
    /// storage: the same calls, streams and errors as virsh gets.
    @Test func remoteDriverAgainstTheDaemon() async throws {
        let d = try Daemon()
        defer { d.stop() }
        let r = try await RemoteDriver.connect(.unix(path: d.socket), name: "qemu:///system", openedURI: d.uri, keepalive: nil)
        let pool = try await r.defineStoragePool(xml: "<pool type='dir'><name>rd</name><target><path>\(d.root)/rd</path></target></pool>", flags: 0)
        try await r.buildStoragePool(pool, flags: [])
        try await r.startStoragePool(pool, flags: [])
        #expect(try await r.storagePoolInfo(pool).state == .running)
        let vol = try await r.createStorageVolume(pool, xml: """
            <volume><name>v.img</name><capacity unit='bytes'>2097152</capacity><target><format type='raw'/></target></volume>
            """, flags: [])
        #expect(try await r.storageVolumePath(vol) == "\(d.root)/rd/v.img")
        let data = (0..<(2 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 11) }
        let up = try await r.uploadStorageVolume(vol, offset: 0, length: 0, flags: [])
        try await up.write(data)
        try await up.finish()
        let down = try await r.downloadStorageVolume(vol, offset: 0, length: 0, flags: [])
        var got: [UInt8] = []
        while let chunk = try await down.read() { got += chunk }
        try await down.finish()
        #expect(got == data)
        // The driver's error in the middle of an upload reaches the client in-stream: here the
        // data is longer than the length asked for. (An abort, like libvirt's, leaves what was
        // already written; the connection stays usable after either.)
        let limited = try await r.uploadStorageVolume(vol, offset: 0, length: 10, flags: [])
        await #expect(throws: VirError(.invalidArg, "invalid argument: upload is longer than the requested length", domain: .storage)) {
            try await limited.write([UInt8](repeating: 1, count: 100))
            for _ in 0..<100 { try await limited.write([1]); try await Task.sleep(for: .milliseconds(10)) }
            try await limited.finish()
        }
        let aborted = try await r.uploadStorageVolume(vol, offset: 0, length: 0, flags: [])
        try await aborted.write([0xee])
        await aborted.close()
        #expect(try await r.storageVolumeInfo(vol).capacity == 2 << 20)
        await #expect(throws: VirError.self) { try await r.lookupStorageVolume(pool: pool, name: "missing") }
        #expect(try await r.listAllNetworks(flags: []).isEmpty)
        try await r.destroyStoragePool(pool)
        try await r.undefineStoragePool(pool)
        await r.close()
    }
}
