import Foundation
import Testing

// net-* and device-change commands of the real `corral` binary. Expected device XML is what
// virsh 9.0 prints for the same --print-xml command lines.

@Suite struct DeviceXMLCLITests {
    @Test func attachDiskPrintXML() throws {
        let plain = try virsh("attach-disk", "test", "/tmp/a.img", "vdb", "--print-xml")
        #expect(plain.status == 0, "\(plain.err)")
        #expect(plain.out == "<disk type='file'>\n  <source file='/tmp/a.img'/>\n  <target dev='vdb'/>\n</disk>\n\n")

        let full = try virsh("attach-disk", "test", "/tmp/a.img", "vdb", "--targetbus", "virtio", "--driver", "qemu",
                             "--subdriver", "qcow2", "--cache", "none", "--type", "cdrom", "--mode", "readonly",
                             "--sourcetype", "file", "--serial", "ABC", "--address", "pci:0000.00.0a.0", "--print-xml")
        #expect(full.out == """
            <disk type='file' device='cdrom'>
              <driver name='qemu' type='qcow2' cache='none'/>
              <source file='/tmp/a.img'/>
              <target dev='vdb' bus='virtio'/>
              <readonly/>
              <serial>ABC</serial>
              <address type='pci' domain='0x0000' bus='0x00' slot='0x0a' function='0x0'/>
            </disk>


            """)

        // The domain need not exist for --print-xml, as in virsh; a block device becomes type='block'.
        let scsi = try virsh("attach-disk", "nosuch", "/dev/loop-control-not-a-block", "sdb", "--mode", "shareable",
                             "--address", "scsi:0.0.1", "--print-xml")
        #expect(scsi.status == 0, "\(scsi.err)")
        #expect(scsi.out == "<disk type='file'>\n  <source file='/dev/loop-control-not-a-block'/>\n  <target dev='sdb'/>\n"
                 + "  <shareable/>\n  <address type='drive' controller='0' bus='0' unit='1'/>\n</disk>\n\n")

        let ccw = try virsh("attach-disk", "test", "/x", "vdb", "--address", "ccw:0xfe.0.0a", "--print-xml")
        #expect(ccw.out.contains("  <address type='ccw' cssid='0xfe' ssid='0x0' devno='0x000a'/>\n"), "\(ccw.out)")
        let multi = try virsh("attach-disk", "test", "/x", "vdb", "--address", "pci:0.0.1f.7", "--multifunction", "--print-xml")
        #expect(multi.out.contains("<address type='pci' domain='0x0000' bus='0x00' slot='0x1f' function='0x7' multifunction='on'/>"))
        let cdrom = try virsh("attach-disk", "test", "", "hdc", "--type", "cdrom", "--print-xml")
        #expect(cdrom.out == "<disk type='file' device='cdrom'>\n  <source file=''/>\n  <target dev='hdc'/>\n</disk>\n\n")
    }

    @Test func attachDiskRefusesBadInput() throws {
        let cases: [([String], String)] = [
            (["--address", "bogus"], "error: Invalid address.\n"),
            (["--address", "pci:0000.00.0a"], "error: Invalid address.\n"),
            (["--address", "usb:1.2"], "error: expecting a pci:0000.00.00.00 or ccw:00.0.0000 address.\n"),
            (["--mode", "rw"], "error: No support for rw in command 'attach-disk'\n"),
            (["--sourcetype", "nfs"], "error: Unknown source type: 'nfs'\n"),
            (["--current", "--live"], "error: Options --current and --live are mutually exclusive\n"),
        ]
        for (extra, err) in cases {
            let r = try CLI.run(["-c", "test:///default", "attach-disk", "test", "/x", "vdb", "--print-xml"] + extra, timeout: 30)
            #expect(r.status == 1, "\(extra)")
            #expect(r.err == err, "\(extra)")
        }
        let hd = try virsh("attach-disk", "test", "/x", "hdb", "--address", "scsi:0.0.1", "--print-xml")
        #expect(hd.err == "error: expecting an ide:00.00.00 address.\n")
    }

    @Test func attachInterfacePrintXML() throws {
        #expect(try virsh("attach-interface", "test", "network", "default", "--print-xml").out
                == "<interface type='network'>\n  <source network='default'/>\n</interface>\n\n")
        #expect(try virsh("attach-interface", "test", "bridge", "br0", "--model", "virtio", "--mac", "52:54:00:11:22:33",
                          "--target", "vnet7", "--print-xml").out == """
            <interface type='bridge'>
              <source bridge='br0'/>
              <target dev='vnet7'/>
              <mac address='52:54:00:11:22:33'/>
              <model type='virtio'/>
            </interface>


            """)
        #expect(try virsh("attach-interface", "test", "hostdev", "0000:03:00.1", "--managed", "--print-xml").out == """
            <interface type='hostdev' managed='yes'>
              <source>
                <address type='pci' domain='0x0000' bus='0x03' slot='0x00' function='0x1'/>
              </source>
            </interface>


            """)
        let user = try virsh("attach-interface", "test", "user", "x", "--print-xml")
        #expect(user.status == 1)
        #expect(user.err == "error: No support for user in command 'attach-interface'\n")
    }

    @Test(.enabled(if: domainXMLParserLanded, "needs the DomainXML parser"))
    func detachBuildsTheElementFromTheDefinition() throws {
        let disk = try virsh("detach-disk", "test", "vda", "--print-xml")
        #expect(disk.status == 0, "\(disk.err)")
        #expect(disk.out.hasPrefix("<disk type='file' device='disk'>\n  <source file='/guest/diskimage1'/>\n"
                                   + "  <target dev='vda' bus='virtio'/>\n  <address type='pci' "), "\(disk.out)")
        #expect(disk.out.hasSuffix("/>\n</disk>\n\n"), "\(disk.out)")
        // by source path too
        #expect(try virsh("detach-disk", "test", "/guest/diskimage1", "--print-xml").out == disk.out)

        let nic = try virsh("detach-interface", "test", "network", "--mac", "AA:BB:CC:DD:EE:FF", "--print-xml")
        #expect(nic.status == 0, "\(nic.err)")
        #expect(nic.out.hasPrefix("<interface type='network'>\n  <mac address='aa:bb:cc:dd:ee:ff'/>\n  <source network='default'/>\n"), "\(nic.out)")
    }

    @Test(.enabled(if: domainXMLParserLanded, "needs the DomainXML parser"))
    func detachOfAMissingDeviceFails() throws {
        let disk = try virsh("detach-disk", "test", "nosuch")
        #expect(disk.status == 1)
        #expect(disk.err == "error: No disk found whose source path or target is nosuch\n")
        let type = try virsh("detach-interface", "test", "bridge")
        #expect(type.status == 1)
        #expect(type.err == "error: No interface found whose type is bridge\nerror: Failed to detach interface\n")
        let mac = try virsh("detach-interface", "test", "network", "--mac", "52:54:00:00:00:09")
        #expect(mac.err == "error: No interface with MAC address 52:54:00:00:00:09 was found\nerror: Failed to detach interface\n")
        let dom = try virsh("detach-disk", "nosuch", "vda")
        #expect(dom.status == 1)
        #expect(dom.err.hasPrefix("error: failed to get domain 'nosuch'\n"))
    }

    @Test(.enabled(if: domainXMLParserLanded, "needs the DomainXML parser"))
    func changeMediaPrintXML() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("corral-cm-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let xml = dir.appendingPathComponent("cd.xml")
        try """
            <domain type='test'>
              <name>cd</name>
              <memory>65536</memory>
              <os><type>hvm</type></os>
              <devices>
                <disk type='file' device='cdrom'>
                  <driver name='qemu' type='raw'/>
                  <source file='/tmp/old.iso'/>
                  <target dev='hdc' bus='ide'/>
                  <readonly/>
                </disk>
                <disk type='file' device='cdrom'>
                  <target dev='hdd' bus='ide'/>
                  <readonly/>
                </disk>
                <disk type='file' device='disk'>
                  <source file='/tmp/disk.img'/>
                  <target dev='vda' bus='virtio'/>
                </disk>
              </devices>
            </domain>
            """.write(to: xml, atomically: true, encoding: .utf8)
        func run(_ cmd: String) throws -> CLI.Result { try virsh("-q", "define \(xml.path); \(cmd)") }

        let eject = try run("change-media cd hdc --eject --print-xml --config")
        #expect(eject.status == 0, "\(eject.err)")
        #expect(eject.out.hasPrefix("<disk type='file' device='cdrom'>\n  <driver name='qemu' type='raw'/>\n  <target dev='hdc' bus='ide'/>\n  <readonly/>\n"), "\(eject.out)")
        #expect(!eject.out.contains("<source") && !eject.out.hasSuffix("\n"), "\(eject.out)")

        let insert = try run("change-media cd hdd /tmp/new.iso --insert --print-xml")
        #expect(insert.out.hasPrefix("<disk type='file' device='cdrom'>\n"), "\(insert.out)")
        #expect(insert.out.contains("\n  <source file='/tmp/new.iso'/>\n  <target dev='hdd' bus='ide'/>\n"), "\(insert.out)")
        // by the current source path, replacing it
        let update = try run("change-media cd /tmp/old.iso /tmp/new.iso --print-xml")
        #expect(update.out.contains("<source file='/tmp/new.iso'/>") && !update.out.contains("old.iso"), "\(update.out)")
        let block = try run("change-media cd hdc /dev/sr9 --update --block --print-xml")
        #expect(block.out.hasPrefix("<disk type='block' device='cdrom'>") && block.out.contains("<source dev='/dev/sr9'/>"), "\(block.out)")

        let failures: [(String, String)] = [
            ("change-media cd hdc /x --insert", "error: The disk device 'hdc' already has media\n"),
            ("change-media cd hdd --eject", "error: The disk device 'hdd' doesn't have media\n"),
            ("change-media cd hdd --insert", "error: New disk media source was not specified\n"),
            ("change-media cd hdc --eject --insert", "error: Options --eject and --insert are mutually exclusive\n"),
            ("change-media cd vda --eject", "error: No disk found whose source path or target is vda\n"),
        ]
        for (cmd, err) in failures {
            let r = try run(cmd)
            #expect(r.status == 1, "\(cmd)")
            #expect(r.err == err, "\(cmd)")
        }
    }

    @Test func domifaddrTable() throws {
        let header = " Name       MAC address          Protocol     Address\n" + String(repeating: "-", count: 79) + "\n"
        let row = " testnet0   aa:bb:cc:dd:ee:ff    ipv4         192.168.122.3/24\n"
        #expect(try virsh("domifaddr", "test").out == header + row + "\n")
        #expect(try virsh("domifaddr", "test", "--full", "--source", "agent").out == header + row + "\n")
        #expect(try virsh("domifaddr", "test", "--interface", "nosuch").out == header + "\n")
        #expect(try virsh("-q", "domifaddr", "test").out == row)
        let json = try virsh("domifaddr", "test", "--json")
        let items = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]])
        #expect(items.first?["hwaddr"] as? String == "aa:bb:cc:dd:ee:ff")
        let stopped = try virsh("destroy test; domifaddr test")
        #expect(stopped.status == 1)
        #expect(stopped.err == "error: Failed to query for interfaces addresses\nerror: Requested operation is not valid: domain is not running\n")
    }

    @Test func domifaddrUnknownSource() throws {
        let r = try virsh("domifaddr", "test", "--source", "bogus")
        #expect(r.status == 1)
        #expect(r.err == "error: Unknown data source 'bogus'\n")
    }
}

/// The net-* commands against an embedded QEMU driver (session network mode: no host changes).
@Suite struct NetworkCLITests {
    let root: URL
    var uri: String { "qemu:///embed?root=\(root.path)" }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("corral-net-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    func corral(_ args: String...) throws -> CLI.Result { try CLI.run(["-c", uri] + args, timeout: 60) }

    func writeNetwork(_ name: String, _ uuid: String) throws -> String {
        let path = root.appendingPathComponent("\(name).xml").path
        try """
            <network>
              <name>\(name)</name>
              <uuid>\(uuid)</uuid>
              <forward mode='nat'/>
              <bridge name='virbr-\(name)'/>
              <ip address='10.77.0.1' netmask='255.255.255.0'>
                <dhcp>
                  <range start='10.77.0.10' end='10.77.0.20'/>
                </dhcp>
              </ip>
            </network>
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func lifecycle() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        let uuid = "5c0d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f"
        let file = try writeNetwork("corralnet", uuid)

        let def = try corral("net-define", file)
        #expect(def.status == 0, "\(def.err)")
        #expect(def.out == "Network corralnet defined from \(file)\n\n")
        #expect(try corral("net-list").out == " Name   State   Autostart   Persistent\n" + String(repeating: "-", count: 40) + "\n\n")
        #expect(try corral("net-list", "--all").out == """
             Name        State      Autostart   Persistent
            ------------------------------------------------
             corralnet   inactive   no          yes


            """)
        #expect(try corral("net-uuid", "corralnet").out == uuid + "\n\n")
        #expect(try corral("net-name", uuid).out == "corralnet\n\n")

        let start = try corral("net-start", "corralnet")
        #expect(start.status == 0, "\(start.err)")
        #expect(start.out == "Network corralnet started\n\n")
        #expect(try corral("net-autostart", "corralnet").out == "Network corralnet marked as autostarted\n\n")
        #expect(try corral("net-list", "--autostart", "--name").out == "corralnet\n\n")
        #expect(try corral("net-list", "--no-autostart", "--name").out == "\n")
        #expect(try corral("net-info", uuid).out == """
            Name:           corralnet
            UUID:           \(uuid)
            Active:         yes
            Persistent:     yes
            Autostart:      yes
            Bridge:         virbr-corralnet


            """)
        let dump = try corral("net-dumpxml", "corralnet")
        #expect(dump.out.hasPrefix("<network>\n  <name>corralnet</name>\n  <uuid>\(uuid)</uuid>\n"), "\(dump.out)")
        // session mode keeps no leases: an empty table
        #expect(try corral("net-dhcp-leases", "corralnet").out == """
             Expiry Time   MAC address   Protocol   IP address   Hostname   Client ID or DUID
            -----------------------------------------------------------------------------------


            """)
        let json = try corral("net-list", "--all", "--json")
        let items = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]])
        #expect(items.first?["name"] as? String == "corralnet" && items.first?["active"] as? Bool == true)

        let twice = try corral("net-start", "corralnet")
        #expect(twice.status == 1)
        #expect(twice.err.hasPrefix("error: Failed to start network corralnet\nerror: "), "\(twice.err)")
        #expect(try corral("net-autostart", "--disable", "corralnet").out == "Network corralnet unmarked as autostarted\n\n")
        #expect(try corral("net-destroy", "corralnet").out == "Network corralnet destroyed\n\n")
        #expect(try corral("-q", "net-list", "--inactive").out == " corralnet   inactive   no   yes\n")
        #expect(try corral("net-undefine", "corralnet").out == "Network corralnet has been undefined\n\n")
        #expect(try corral("-q", "net-list", "--all").out == "")

        // a transient network goes away when destroyed
        let created = try corral("net-create", file)
        #expect(created.out == "Network corralnet created from \(file)\n\n", "\(created.err)")
        #expect(try corral("-q", "net-list", "--transient", "--name").out == "corralnet\n")
        #expect(try corral("-q", "net-destroy", "corralnet").status == 0)
        #expect(try corral("-q", "net-list", "--all", "--name").out == "")
    }

    @Test func unknownNetwork() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        for cmd in ["net-info", "net-start", "net-destroy", "net-undefine", "net-dumpxml", "net-dhcp-leases", "net-uuid"] {
            let r = try corral(cmd, "nosuch")
            #expect(r.status == 1, "\(cmd)")
            #expect(r.err == "error: failed to get network 'nosuch'\nerror: Network not found: no network with matching name 'nosuch'\n", "\(cmd)")
        }
        let byUUID = try corral("net-name", "11111111-2222-3333-4444-555555555555")
        #expect(byUUID.err == "error: failed to get network '11111111-2222-3333-4444-555555555555'\n"
                + "error: Network not found: no network with matching uuid '11111111-2222-3333-4444-555555555555'\n")
        let both = try corral("net-list", "--name", "--uuid")
        #expect(both.status == 1)
        #expect(both.err == "error: Only one argument from --table, --name and --uuid may be specified.\n")
        let missing = try corral("net-define", root.appendingPathComponent("none.xml").path)
        #expect(missing.status == 1)
        #expect(missing.err.contains("Failed to open file"))
    }
}

/// change-media and attach-disk/detach-disk against a running tiny guest that reads what it got.
@Suite(.serialized) struct DeviceChangeEndToEndTests {
    static let xorrisofs = ["/usr/bin/xorrisofs", "/usr/bin/genisoimage"].first { FileManager.default.isExecutableFile(atPath: $0) }

    let root: URL
    var uri: String { "qemu:///embed?root=\(root.path)" }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("corral-dev-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    func corral(_ args: String...) throws -> CLI.Result { try CLI.run(["-c", uri] + args) }

    /// Runs one shell line on the guest's serial console and returns what the console printed.
    func guest(_ line: String) throws -> String {
        try CLI.run(["-c", uri, "console", "tiny"], stdin: line + "\n", timeout: 60).out
    }

    /// An ISO 9660 image holding hello.txt with `text`.
    func iso(_ name: String, _ text: String) throws -> String {
        let dir = root.appendingPathComponent("iso-\(name)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try text.write(to: dir.appendingPathComponent("hello.txt"), atomically: true, encoding: .utf8)
        let out = root.appendingPathComponent("\(name).iso").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.xorrisofs ?? "/bin/false")
        p.arguments = ["-quiet", "-o", out, dir.path]
        try p.run(); p.waitUntilExit()
        try #require(p.terminationStatus == 0, "xorrisofs failed")
        return out
    }

    @Test(.enabled(if: xorrisofs != nil, "needs xorrisofs or genisoimage"))
    func changeMediaAndHotplugDisk() throws {
        defer {
            _ = try? corral("destroy", "tiny")
            try? FileManager.default.removeItem(at: root)
        }
        // tiny.xml plus an empty CD-ROM drive on virtio-scsi (the guest contract's /dev/sr0)
        let xml = try TinyGuest.xml(in: root)
        let text = try String(contentsOf: xml, encoding: .utf8).replacingOccurrences(of: "<memballoon", with: """
            <controller type='scsi' model='virtio-scsi'/>
                <disk type='file' device='cdrom'>
                  <driver name='qemu' type='raw'/>
                  <target dev='sda' bus='scsi'/>
                  <readonly/>
                </disk>
                <memballoon
            """)
        try text.write(to: xml, atomically: true, encoding: .utf8)
        let one = try iso("one", "corral cdrom one\n"), two = try iso("two", "corral cdrom two\n")
        #expect(try corral("define", xml.path).status == 0)
        let start = try corral("start", "tiny")
        try #require(start.status == 0, "\(start.err)")
        try waitUntil(90, "corral-tiny-guest: ready") {
            let log = try? String(contentsOf: root.appendingPathComponent("log/qemu/tiny-serial0.log"), encoding: .utf8)
            return log?.contains("corral-tiny-guest: ready") ?? false
        }
        let readCD = "mount -t iso9660 /dev/sr0 /mnt/cdrom; cat /mnt/cdrom/hello.txt; umount /mnt/cdrom"

        let insert = try corral("change-media", "tiny", "sda", one, "--insert")
        #expect(insert.status == 0, "\(insert.err)")
        #expect(insert.out == "Successfully inserted media.\n\n")
        #expect(try guest(readCD).contains("corral cdrom one"))
        let again = try corral("change-media", "tiny", "sda", two, "--insert")
        #expect(again.status == 1)
        #expect(again.err == "error: The disk device 'sda' already has media\n")

        // the drive named by its current media, as virsh allows
        let update = try corral("change-media", "tiny", one, two)
        #expect(update.out == "Successfully updated media.\n\n", "\(update.err)")
        #expect(try guest(readCD).contains("corral cdrom two"))
        #expect(try corral("domblklist", "tiny").out.contains(" sda      \(two)\n"))

        let eject = try corral("change-media", "tiny", "sda", "--eject")
        #expect(eject.out == "Successfully ejected media.\n\n", "\(eject.err)")
        #expect(try corral("domblklist", "tiny").out.contains(" sda      -\n"))

        // a live disk: the guest sees it, then it is gone again; the persistent definition is untouched
        let img = root.appendingPathComponent("extra.img").path
        #expect(FileManager.default.createFile(atPath: img, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: img))
        try handle.truncate(atOffset: 16 << 20)
        try handle.close()
        let attach = try corral("attach-disk", "tiny", img, "vdb", "--subdriver", "raw")
        #expect(attach.out == "Disk attached successfully\n\n", "\(attach.err)")
        try waitUntil(30, "the guest to see vdb", poll: 1) { try guest("cat /sys/block/vdb/size").contains("32768") }
        #expect(!(try corral("domblklist", "tiny", "--inactive").out.contains("vdb")))
        let detach = try corral("detach-disk", "tiny", "vdb")
        #expect(detach.out == "Disk detached successfully\n\n", "\(detach.err)")
        #expect(!(try corral("domblklist", "tiny").out.contains("vdb")))
        let gone = try corral("detach-disk", "tiny", "vdb")
        #expect(gone.status == 1)
        #expect(gone.err == "error: No disk found whose source path or target is vdb\n")
    }
}
