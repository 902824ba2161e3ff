import Foundation
import Testing
import DomainXML
import Hypervisor
@testable import QEMUDriver

/// Makes an ISO 9660 image holding hello.txt with `content` (xorriso, as a user would).
func makeISO(_ path: String, content: String) throws {
    let dir = path + ".d"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try content.write(toFile: "\(dir)/hello.txt", atomically: true, encoding: .utf8)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/xorriso")
    p.arguments = ["-as", "mkisofs", "-quiet", "-V", "CORRAL", "-o", path, dir]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw VirError(.internalError, "xorriso failed for \(path)") }
}

let haveXorriso = access("/usr/bin/xorriso", X_OK) == 0

/// The <disk> of `target` as it appears in the domain XML, which is what virsh's change-media and
/// detach-disk start from (they edit the element client side and send it back).
func diskElement(_ xml: String, _ target: String) throws -> Disk {
    let d = try Domain(xml: xml)
    return try #require(d.devices.disks.first { $0.targetDev == target })
}

func errorMessage(_ body: () async throws -> Void) async -> VirError? {
    do { try await body(); return nil } catch let e as VirError { return e } catch { return VirError(.internalError, "\(error)") }
}

@Suite(.serialized)
struct DeviceChangeConfigTests {
    @Test func persistentAttachDetachUpdateOnAShutOffDomain() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let d = try root.driver()
        let dom = try await d.defineDomain(xml: biosOnlyXML("cfg"), validate: true)
        let before = try await d.domainXML(dom, flags: .inactive)

        // current on a shut-off domain means the config; a NIC gets a MAC and a PCI address.
        try await d.attachDevice(dom, xml: "<interface type='user'><model type='virtio'/></interface>", flags: .current)
        try await d.attachDevice(dom, xml: "<disk type='file' device='cdrom'><target dev='hdc'/></disk>", flags: .config)
        var def = try Domain(xml: try await d.domainXML(dom, flags: .inactive))
        let nic = try #require(def.devices.interfaces.first)
        #expect(nic.mac?.hasPrefix("52:54:00:") == true)
        #expect(nic.address?.type == "pci")
        let cd = try #require(def.devices.disks.first { $0.targetDev == "hdc" })
        #expect(cd.targetBus == "ide" && cd.readonly && cd.address?.type == "drive")

        // The same target twice: libvirt's message, config untouched.
        let dup = await errorMessage { try await d.attachDevice(dom, xml: "<disk type='file' device='cdrom'><target dev='hdc'/></disk>", flags: .config) }
        #expect(dup?.message == "Requested operation is not valid: target hdc already exists")

        // Media change in the config: update-device with a source.
        try await d.updateDevice(dom, xml: "<disk type='file' device='cdrom'><source file='/tmp/x.iso'/><target dev='hdc' bus='ide'/></disk>", flags: .config)
        def = try Domain(xml: try await d.domainXML(dom, flags: .inactive))
        #expect(def.devices.disks.first { $0.targetDev == "hdc" }?.sourcePath == "/tmp/x.iso")
        #expect(def.devices.disks.first { $0.targetDev == "hdc" }?.address == cd.address)

        // live on a shut-off domain is refused; so is detaching what is not there.
        let live = await errorMessage { try await d.attachDevice(dom, xml: "<input type='tablet' bus='usb'/>", flags: .live) }
        #expect(live?.code == .operationInvalid)
        #expect(live?.message == "Requested operation is not valid: domain is not running")
        let missing = await errorMessage { try await d.detachDevice(dom, xml: "<disk type='file'><target dev='vdz'/></disk>", flags: .config) }
        #expect(missing?.code == .deviceMissing)
        #expect(missing?.message == "disk vdz not found")
        let noMAC = await errorMessage { try await d.detachDevice(dom, xml: "<interface type='user'><mac address='52:54:00:00:00:99'/></interface>", flags: .config) }
        #expect(noMAC?.message == "no device matching MAC address 52:54:00:00:00:99 found")
        let bad = await errorMessage { try await d.attachDevice(dom, xml: "<disk type='file'><target dev='vdb'/>", flags: .config) }
        #expect(bad?.code == .xmlError)

        // Detach by MAC (what virsh detach-interface sends) and by target.
        try await d.detachDevice(dom, xml: "<interface type='user'><mac address='\(nic.mac ?? "")'/></interface>", flags: .config)
        try await d.detachDevice(dom, xml: "<disk type='file' device='cdrom'><target dev='hdc'/></disk>", flags: .config)
        // Back to the start, but for the IDE controller the cdrom brought (libvirt keeps it too).
        var after = try Domain(xml: try await d.domainXML(dom, flags: .inactive))
        #expect(after.devices.controllers.contains { $0.type == "ide" })
        after.devices.controllers.removeAll { $0.type == "ide" }
        #expect(after == (try Domain(xml: before)))
    }
}

@Suite(.enabled(if: haveQEMU && domainXMLWorks() && haveXorriso, "needs qemu-system-x86_64 and xorriso"), .serialized)
struct DeviceChangeQEMUTests {
    /// A BIOS-only guest (nothing locks its tray): media changes, USB hotplug, flag rules.
    @Test func mediaChangeAndUSBInputOnARunningGuest() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let isoA = "\(root.path)/a.iso", isoB = "\(root.path)/b.iso"
        try makeISO(isoA, content: "A\n")
        try makeISO(isoB, content: "B\n")
        let d = try root.driver()
        // Transient, with an empty IDE drive, a SCSI one holding A and a USB stick.
        let stick = "\(root.path)/stick.img"
        _ = FileManager.default.createFile(atPath: stick, contents: Data(count: 1 << 20))
        let xml = biosOnlyXML("media", extraDevices: """

            <controller type='scsi' model='virtio-scsi'/>
            <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>
            <disk type='file' device='cdrom'><source file='\(isoA)'/><target dev='sda' bus='scsi'/></disk>
            <disk type='file' device='disk'><source file='\(stick)'/><target dev='sdd' bus='usb'/></disk>
            <disk type='file' device='floppy'><target dev='fda'/></disk>
        """)
        let dom = try await d.createDomain(xml: xml, flags: [])
        var live = try Domain(xml: try await d.domainXML(dom, flags: []))
        #expect(live.devices.disks.map(\.alias) == ["ide0-1-0", "scsi0-0-0-0", "usb-disk3", "fdc0-0-0"])
        // The aliases are QEMU's ids: a device present since boot is detached like a hotplugged one.
        try await d.detachDevice(dom, xml: "<disk type='file'><source file='\(stick)'/><target dev='sdd'/></disk>", flags: .live)
        let afterStick = try await d.withMonitor("media") { qmp in try await qmp.execute("query-block") }
        #expect(!(afterStick.array ?? []).contains { $0["inserted"]?["file"]?.string == stick })

        let cfg = await errorMessage { try await d.attachDevice(dom, xml: "<input type='tablet' bus='usb'/>", flags: .config) }
        #expect(cfg?.message == "Requested operation is not valid: transient domains do not have any persistent config")

        // Insert into the empty drive with the very XML `virsh change-media media hdc B --update
        // --print-xml` prints (virsh edits the live <disk> client side: double quotes, blank lines).
        try await d.updateDevice(dom, xml: """
            <disk type="file" device="cdrom">
                  <driver name="qemu" type="raw"/>
                  
                  <source file="\(isoB)"/>
                  <target dev="hdc" bus="ide"/>
                  <readonly/>
                  <alias name="ide0-1-0"/>
                  <address type="drive" controller="0" bus="1" target="0" unit="0"/>
                </disk>
            """, flags: .live)
        var sda = try diskElement(try await d.domainXML(dom, flags: []), "sda")
        sda.sourcePath = isoB
        try await d.updateDevice(dom, xml: DomainDevice.disk(sda).formatXML(), flags: .current)
        live = try Domain(xml: try await d.domainXML(dom, flags: []))
        #expect(live.devices.disks.map(\.sourcePath) == [isoB, isoB, nil])
        let inserted = try await d.withMonitor("media") { qmp in try await qmp.execute("query-block") }
        let files = (inserted.array ?? []).compactMap { $0["inserted"]?["file"]?.string }
        #expect(files == [isoB, isoB])

        // A floppy takes media the same way.
        let floppy = "\(root.path)/floppy.img"
        _ = FileManager.default.createFile(atPath: floppy, contents: Data(count: 1_474_560))
        try await d.updateDevice(dom, xml: "<disk type='file' device='floppy'><source file='\(floppy)'/><target dev='fda'/></disk>", flags: .live)
        #expect(try diskElement(try await d.domainXML(dom, flags: []), "fda").sourcePath == floppy)
        try await d.updateDevice(dom, xml: "<disk type='file' device='floppy'><target dev='fda'/></disk>", flags: .live)
        #expect(try diskElement(try await d.domainXML(dom, flags: []), "fda").sourcePath == nil)

        // A missing image: clear error, old medium kept.
        sda.sourcePath = "\(root.path)/missing.iso"
        let missing = await errorMessage { try await d.updateDevice(dom, xml: DomainDevice.disk(sda).formatXML(), flags: .live) }
        #expect(missing?.message == "Cannot access storage file '\(root.path)/missing.iso': No such file or directory")
        #expect(try diskElement(try await d.domainXML(dom, flags: []), "sda").sourcePath == isoB)

        sda.sourcePath = nil
        try await d.updateDevice(dom, xml: DomainDevice.disk(sda).formatXML(), flags: .live)
        #expect(try diskElement(try await d.domainXML(dom, flags: []), "sda").sourcePath == nil)
        let nodes = try await d.withMonitor("media") { qmp in try await qmp.execute("query-named-block-nodes", arguments: ["flat": true]) }
        // One image left (B in hdc): its format and storage nodes; ejected ones were deleted.
        #expect((nodes.array ?? []).count == 2)

        // A USB tablet comes and goes.
        try await d.attachDevice(dom, xml: "<input type='tablet' bus='usb'/>", flags: [])
        live = try Domain(xml: try await d.domainXML(dom, flags: []))
        let tablet = try #require(live.devices.inputs.first { $0.type == "tablet" })
        #expect(tablet.alias == "input2")
        try await d.detachDevice(dom, xml: "<input type='tablet' bus='usb'/>", flags: .live)
        live = try Domain(xml: try await d.domainXML(dom, flags: []))
        #expect(!live.devices.inputs.contains { $0.type == "tablet" })
        let gone = await errorMessage { try await d.detachDevice(dom, xml: "<input type='tablet' bus='usb'/>", flags: .live) }
        #expect(gone?.message == "matching input device not found")

        // SCSI and USB disks plug without the guest's help (no OS here to answer a PCI unplug).
        let blank = "\(root.path)/blank.img", blank2 = "\(root.path)/blank2.img"
        _ = FileManager.default.createFile(atPath: blank, contents: Data(count: 1 << 20))
        _ = FileManager.default.createFile(atPath: blank2, contents: Data(count: 1 << 20))
        try await d.attachDevice(dom, xml: "<disk type='file'><source file='\(blank)'/><target dev='sdb' bus='scsi'/></disk>", flags: .live)
        try await d.attachDevice(dom, xml: "<disk type='file'><source file='\(blank2)'/><target dev='sdc' bus='usb'/><readonly/></disk>", flags: .live)
        live = try Domain(xml: try await d.domainXML(dom, flags: []))
        #expect(live.devices.disks.map(\.alias) == ["ide0-1-0", "scsi0-0-0-0", "scsi0-0-0-1", "fdc0-0-0", "usb-disk2"])
        let qdevs = try await d.withMonitor("media") { qmp in try await qmp.execute("query-block") }
        #expect((qdevs.array ?? []).compactMap { $0["inserted"]?["file"]?.string }.filter { $0 == blank || $0 == blank2 }.count == 2)
        try await d.detachDevice(dom, xml: "<disk><target dev='sdc'/></disk>", flags: .live)
        try await d.detachDevice(dom, xml: "<disk><target dev='sdb'/></disk>", flags: .live)
        #expect(try Domain(xml: try await d.domainXML(dom, flags: [])).devices.disks.map(\.targetDev) == ["hdc", "sda", "fda"])
        let left = try await d.withMonitor("media") { qmp in try await qmp.execute("query-named-block-nodes", arguments: ["flat": true]) }
        #expect((left.array ?? []).count == 2)

        // A USB host device by vendor/product (QEMU waits for it to show up on the host).
        try await d.attachDevice(dom, xml: "<hostdev mode='subsystem' type='usb'><source><vendor id='0x1d6b'/><product id='0xfffe'/></source></hostdev>", flags: .live)
        #expect(try Domain(xml: try await d.domainXML(dom, flags: [])).devices.hostdevs.map(\.alias) == ["hostdev0"])
        try await d.detachDevice(dom, xml: "<hostdev mode='subsystem' type='usb'><source><vendor id='0x1d6b'/><product id='0xfffe'/></source></hostdev>", flags: .live)
        #expect(try Domain(xml: try await d.domainXML(dom, flags: [])).devices.hostdevs.isEmpty)

        // Disks on buses that cannot be unplugged say so.
        let ide = await errorMessage { try await d.detachDevice(dom, xml: "<disk><target dev='hdc'/></disk>", flags: .live) }
        #expect(ide?.code == .operationUnsupported)
        try await d.destroyDomain(dom, flags: 0)
    }
}

@Suite(.enabled(if: tinyGuestDir != nil && domainXMLWorks() && haveXorriso, "needs the tiny guest and xorriso"), .serialized)
struct DeviceChangeGuestTests {
    @Test func guestSeesMediaChangesAndHotplug() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let dir = try #require(tinyGuestDir)
        let data = "\(root.path)/data.qcow2"
        try FileManager.default.copyItem(atPath: "\(dir)/data.qcow2", toPath: data)
        let isoA = "\(root.path)/a.iso", isoB = "\(root.path)/b.iso"
        try makeISO(isoA, content: "medium-alpha\n")
        try makeISO(isoB, content: "medium-bravo\n")
        let extra = "2m-blank.img"
        _ = FileManager.default.createFile(atPath: "\(root.path)/\(extra)", contents: Data(count: 2 << 20))
        let xml = try String(contentsOfFile: "\(dir)/tiny.xml", encoding: .utf8)
            .replacingOccurrences(of: "\(dir)/data.qcow2", with: data)
            .replacingOccurrences(of: "<memballoon", with: """
            <controller type='scsi' model='virtio-scsi'/>
                <disk type='file' device='cdrom'><source file='\(isoA)'/><target dev='sda' bus='scsi'/></disk>
                <memballoon
            """)
        let d = try root.driver()
        let dom = try await d.startDomain(try await d.defineDomain(xml: xml, validate: true), flags: [])
        let console = ConsoleCollector(try await d.openConsole(dom, devName: nil, force: false))
        #expect(await console.waitFor("corral-tiny-guest: ready", seconds: 120))
        #expect(await console.waitFor("tiny# ", seconds: 10))

        func readCD() async throws {
            try await console.send("mount -t iso9660 -o ro /dev/sr0 /mnt/cdrom && cat /mnt/cdrom/hello.txt; umount /mnt/cdrom; echo END\"\"READ\n")
        }
        try await readCD()
        #expect(await console.waitFor("medium-alpha", seconds: 20))
        #expect(await console.waitFor("ENDREAD", seconds: 10))

        // virsh change-media --update: the live <disk> with a new source.
        var sda = try diskElement(try await d.domainXML(dom, flags: []), "sda")
        #expect(sda.alias == "scsi0-0-0-0")
        sda.sourcePath = isoB
        try await d.updateDevice(dom, xml: DomainDevice.disk(sda).formatXML(), flags: .live)
        try await readCD()
        #expect(await console.waitFor("medium-bravo", seconds: 20))
        #expect(await console.waitFor("ENDREAD", seconds: 10))

        // A mounted CD-ROM has its tray locked: without --force the change times out (the guest
        // only got an eject request) and the medium stays; the guest still reads it.
        try await console.send("mount -t iso9660 -o ro /dev/sr0 /mnt/cdrom && echo MOUNT\"\"ED\n")
        #expect(await console.waitFor("MOUNTED", seconds: 20))
        sda.sourcePath = isoA
        let locked = await errorMessage { try await d.updateDevice(dom, xml: DomainDevice.disk(sda).formatXML(), flags: .live) }
        #expect(locked?.message == "operation failed: timed out waiting to open tray of 'sda'")
        #expect(try diskElement(try await d.domainXML(dom, flags: []), "sda").sourcePath == isoB)
        try await console.send("cat /mnt/cdrom/hello.txt; umount /mnt/cdrom\n")
        #expect(await console.waitFor("medium-bravo", seconds: 20))

        // --eject: no medium for the guest.
        sda.sourcePath = nil
        try await d.updateDevice(dom, xml: DomainDevice.disk(sda).formatXML(), flags: .live)
        try await console.send("mount -t iso9660 -o ro /dev/sr0 /mnt/cdrom || echo NO\"\"MEDIUM\n")
        #expect(await console.waitFor("NOMEDIUM", seconds: 20))

        // virsh attach-disk FILE vdb: a virtio disk appears as /dev/vdb.
        try await d.attachDevice(dom, xml: """
            <disk type='file' device='disk'><source file='\(root.path)/\(extra)'/><target dev='vdb'/></disk>
            """, flags: .live)
        try await console.send("i=0; while [ ! -b /dev/vdb ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done; [ -b /dev/vdb ] && echo VDB\"\"-PRESENT\n")
        #expect(await console.waitFor("VDB-PRESENT", seconds: 30))
        let vdb = try diskElement(try await d.domainXML(dom, flags: []), "vdb")
        #expect(vdb.alias == "virtio-disk1")
        #expect(vdb.address?.type == "pci")
        #expect(try Domain(xml: try await d.domainXML(dom, flags: .inactive)).devices.disks.count == 2)

        // virsh detach-disk vdb sends the element from the live XML.
        try await d.detachDevice(dom, xml: DomainDevice.disk(vdb).formatXML(), flags: .live)
        try await console.send("i=0; while [ -b /dev/vdb ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done; [ -b /dev/vdb ] || echo VDB\"\"-GONE\n")
        #expect(await console.waitFor("VDB-GONE", seconds: 30))
        #expect(try Domain(xml: try await d.domainXML(dom, flags: [])).devices.disks.map(\.targetDev) == ["vda", "sda"])
        let again = await errorMessage { try await d.detachDevice(dom, xml: DomainDevice.disk(vdb).formatXML(), flags: .live) }
        #expect(again?.code == .deviceMissing)
        #expect(again?.message == "disk vdb not found")
        // The same target number is free again: a second hotplug reuses it.
        try await d.attachDevice(dom, xml: DomainDevice.disk(vdb).formatXML(), flags: .live)
        try await d.detachDevice(dom, xml: "<disk type='file'><target dev='vdb'/></disk>", flags: .live)

        // A NIC: eth1 appears, then goes when detached by MAC.
        try await d.attachDevice(dom, xml: "<interface type='user'><model type='virtio'/></interface>", flags: .live)
        try await console.send("i=0; while [ ! -e /sys/class/net/eth1 ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done; [ -e /sys/class/net/eth1 ] && echo ETH1\"\"-PRESENT\n")
        #expect(await console.waitFor("ETH1-PRESENT", seconds: 30))
        let nics = try Domain(xml: try await d.domainXML(dom, flags: [])).devices.interfaces
        #expect(nics.map(\.alias) == ["net0", "net1"])
        let mac = try #require(nics.last?.mac)
        try await d.detachDevice(dom, xml: "<interface type='user'><mac address='\(mac)'/></interface>", flags: .live)
        try await console.send("i=0; while [ -e /sys/class/net/eth1 ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done; [ -e /sys/class/net/eth1 ] || echo ETH1\"\"-GONE\n")
        #expect(await console.waitFor("ETH1-GONE", seconds: 30))

        // --config on a running domain: the inactive XML only.
        try await d.attachDevice(dom, xml: "<disk type='file' device='disk'><source file='\(root.path)/\(extra)'/><target dev='vdc'/></disk>", flags: .config)
        #expect(try Domain(xml: try await d.domainXML(dom, flags: .inactive)).devices.disks.contains { $0.targetDev == "vdc" })
        #expect(try !Domain(xml: try await d.domainXML(dom, flags: [])).devices.disks.contains { $0.targetDev == "vdc" })
        // --live --config at once: both.
        try await d.detachDevice(dom, xml: "<disk><target dev='vdc'/></disk>", flags: .config)
        try await d.attachDevice(dom, xml: "<interface type='user'><model type='virtio'/></interface>", flags: [.live, .config])
        let liveMAC = try Domain(xml: try await d.domainXML(dom, flags: [])).devices.interfaces.last?.mac
        let cfgMAC = try Domain(xml: try await d.domainXML(dom, flags: .inactive)).devices.interfaces.last?.mac
        #expect(liveMAC != nil && liveMAC == cfgMAC && liveMAC != mac)

        try await d.destroyDomain(dom, flags: 0)
        await console.stream.close()
    }
}
