import Foundation
import Testing
@testable import DomainXML

private func domain(_ devices: String = "", extra: String = "") throws -> Domain {
    try Domain(xml: """
    <domain type='qemu'>
      <name>t</name>
      <uuid>00000000-0000-4000-8000-000000000001</uuid>
      <memory>1024</memory>
      <os><type>hvm</type></os>
      \(extra)
      <devices>\(devices)</devices>
    </domain>
    """)
}

private func parseError(_ xml: String) -> String? {
    do { _ = try Domain(xml: xml); return nil } catch { return error.message }
}

@Suite struct ParsingTests {
    @Test func memoryUnitsScaleToKiB() throws {
        let cases: [(String, UInt64)] = [
            ("b", 1), ("bytes", 1), ("KB", 1000), ("k", 1024), ("KiB", 1024), ("MB", 1_000_000),
            ("M", 1_048_576), ("MiB", 1_048_576), ("GB", 1_000_000_000), ("G", 1_073_741_824),
            ("GiB", 1_073_741_824), ("TiB", 1_099_511_627_776), ("mib", 1_048_576),
        ]
        for (unit, kib) in cases {
            let d = try Domain(xml: "<domain type='qemu'><name>m</name><memory unit='\(unit)'>1024</memory><os><type>hvm</type></os></domain>")
            #expect(d.memoryKiB == kib, "unit \(unit)")
        }
        let overflow = parseError("<domain type='qemu'><name>m</name><memory unit='EiB'>99999</memory><os><type>hvm</type></os></domain>")
        #expect(overflow == "XML error: value of <memory> is too large")
    }

    @Test func uuidForms() {
        #expect(parseUUID("c7a5fdbd-edaf-9455-926a-d65c16db1809") != nil)
        #expect(parseUUID("C7A5FDBDEDAF9455926AD65C16DB1809")?.uuidString.lowercased() == "c7a5fdbd-edaf-9455-926a-d65c16db1809")
        #expect(parseUUID("c7a5fdbd-edaf-9455-926a-d65c16db180") == nil)
        #expect(parseUUID("g7a5fdbd-edaf-9455-926a-d65c16db1809") == nil)
    }

    @Test func macAddressesNormalise() {
        #expect(normalizeMAC("52:54:00:AB:c:01") == "52:54:00:ab:0c:01")
        #expect(normalizeMAC("52:54:00:ab:cd") == nil)
        #expect(normalizeMAC("52:54:00:ab:cd:123") == nil)
    }

    @Test func controllerWithoutIndexGetsLowestFree() throws {
        let d = try domain("<controller type='scsi' index='0'/><controller type='scsi'/><controller type='usb'/>")
        #expect(d.devices.controllers.map(\.index) == [0, 1, 0])
    }

    @Test func escapingRoundTrips() throws {
        var d = try domain()
        d.description = "a < b & 'c' \"d\" > e"
        d.title = "tab\there"
        d.devices.disks = [{ var k = Disk(); k.targetDev = "vda"; k.sourcePath = "/x/it's \"here\"\n&<>"; return k }()]
        let xml = d.formatXML()
        #expect(xml.contains("<description>a &lt; b &amp; &apos;c&apos; &quot;d&quot; &gt; e</description>"))
        #expect(xml.contains("file='/x/it&apos;s &quot;here&quot;&#10;&amp;&lt;&gt;'"))
        #expect(try Domain(xml: xml) == d)
    }

    @Test func mixedContentAndCommentsAreKept() throws {
        let d = try domain("""
            <!-- first -->
            <disk type='file'><source file='/a'/><target dev='vda'/></disk>
            stray text <hub type='usb'/>
            """)
        let xml = d.formatXML()
        #expect(xml.contains("<!-- first -->"))
        #expect(xml.contains("stray text"))
        #expect(xml.contains("<hub type='usb'/>"))
        #expect(try Domain(xml: xml).formatXML() == xml)
    }

    @Test func characterReferencesAndCDATA() throws {
        let d = try domain(extra: "<description><![CDATA[<raw> & ]]>&#x41;&#66;</description>")
        #expect(d.description == "<raw> & AB")
        #expect(parseError("<domain type='qemu'><name>&#0;</name></domain>")?.contains("invalid character reference") == true)
    }

    @Test func unknownDeviceTypesAreRejectedWithTheirValue() {
        #expect(parseError("<domain type='qemu'><name>x</name><memory>1</memory><os><type>hvm</type></os><devices><controller type='warp'/></devices></domain>")
            == "unsupported configuration: unknown controller type 'warp'")
        #expect(parseError("<domain type='qemu'><name>x</name><memory>1</memory><os><type>hvm</type></os><devices><input type='joystick'/></devices></domain>")
            == "unsupported configuration: unknown input device type 'joystick'")
        #expect(parseError("<domain type='qemu'><name>x</name><memory>1</memory><os><type>hvm</type></os><devices><graphics type='x11'/></devices></domain>")
            == "unsupported configuration: unknown graphics type 'x11'")
        #expect(parseError("<domain type='xqemu'><name>x</name></domain>") == "unsupported configuration: invalid domain type xqemu")
        #expect(parseError("<domain><name>x</name></domain>") == "XML error: missing domain type attribute")
    }

    @Test func limits() {
        let deep = String(repeating: "<a>", count: 300) + String(repeating: "</a>", count: 300)
        let msg = parseError("<domain type='qemu'><name>x</name>\(deep)</domain>")
        #expect(msg?.contains("nested deeper than 256") == true)
        let huge = String(repeating: "x", count: XMLLimits.maxBytes)
        #expect(parseError("<domain type='qemu'><name>\(huge)</name></domain>")?.contains("larger than") == true)
        #expect(parseError("<domain type='qemu'><name>a\u{01}b</name></domain>")?.contains("invalid control character") == true)
    }

    @Test func usbHostdevNeedsAnIdentity() {
        let msg = parseError("<domain type='qemu'><name>x</name><memory>1</memory><os><type>hvm</type></os><devices><hostdev mode='subsystem' type='usb'><source/></hostdev></devices></domain>")
        #expect(msg?.contains("vendor/product id or a bus/device address") == true)
    }
}

@Suite struct FormattingTests {
    static let live = """
    <domain type='kvm' id='7'>
      <name>live</name>
      <uuid>00000000-0000-4000-8000-000000000002</uuid>
      <memory unit='KiB'>1024</memory>
      <os><type>hvm</type></os>
      <devices>
        <interface type='network'>
          <mac address='52:54:00:00:00:02'/>
          <source network='default'/>
          <target dev='vnet3'/>
          <alias name='net0'/>
        </interface>
        <serial type='pty'>
          <source path='/dev/pts/4'/>
          <target port='0'/>
          <alias name='serial0'/>
        </serial>
        <console type='pty' tty='/dev/pts/4'>
          <source path='/dev/pts/4'/>
          <target type='serial' port='0'/>
          <alias name='ua-console'/>
        </console>
        <graphics type='vnc' port='5900' autoport='yes' passwd='hunter2' passwdValidTo='2030-01-01T00:00:00'/>
        <graphics type='spice' port='5901' tlsPort='5902' autoport='yes'/>
      </devices>
    </domain>
    """

    @Test func liveXMLKeepsRuntimeState() throws {
        let xml = try Domain(xml: Self.live).formatXML()
        #expect(xml.hasPrefix("<domain type='kvm' id='7'>\n"))
        #expect(xml.contains("<alias name='net0'/>"))
        #expect(xml.contains("<source path='/dev/pts/4'/>"))
        #expect(xml.contains("<target dev='vnet3'/>"))
        #expect(xml.contains("<graphics type='vnc' port='5900' autoport='yes'/>"))
        #expect(!xml.contains("hunter2"))
        #expect(!xml.contains("passwdValidTo"))
    }

    @Test func inactiveOmitsLiveOnlyData() throws {
        let xml = try Domain(xml: Self.live).formatXML(.inactive)
        #expect(xml.hasPrefix("<domain type='kvm'>\n"))
        #expect(!xml.contains("net0"))
        #expect(!xml.contains("serial0"))
        #expect(xml.contains("<alias name='ua-console'/>"), "user aliases survive")
        #expect(!xml.contains("/dev/pts/4"))
        #expect(!xml.contains("vnet3"))
        #expect(xml.contains("<graphics type='vnc' port='-1' autoport='yes'/>"))
        #expect(xml.contains("<graphics type='spice' autoport='yes'/>"))
    }

    @Test func secureIncludesPasswords() throws {
        let xml = try Domain(xml: Self.live).formatXML([.secure])
        #expect(xml.contains("passwd='hunter2' passwdValidTo='2030-01-01T00:00:00'"))
    }

    @Test func modelChangesAreFormatted() throws {
        var d = try domain()
        d.devices.disks.append({ var k = Disk(); k.targetDev = "vdb"; k.targetBus = "virtio"; k.sourcePath = "/img"; return k }())
        d.memoryKiB = 2048
        let xml = d.formatXML()
        #expect(xml.contains("<memory unit='KiB'>2048</memory>"))
        #expect(xml.contains("""
            <disk type='file' device='disk'>
              <source file='/img'/>
              <target dev='vdb' bus='virtio'/>
            </disk>
        """))
        #expect(xml.hasSuffix("</domain>\n"))
    }
}

@Suite struct DefaultsTests {
    @Test func fillsUUIDAndMACs() throws {
        var d = try Domain(xml: "<domain type='qemu'><name>x</name><memory>1024</memory><os><type>hvm</type></os><devices><interface type='user'/><interface type='user'/></devices></domain>")
        d.applyDefaults()
        #expect(d.uuid != nil)
        let macs = d.devices.interfaces.compactMap(\.mac)
        #expect(macs.count == 2 && Set(macs).count == 2)
        #expect(macs.allSatisfy { $0.hasPrefix("52:54:00:") && normalizeMAC($0) == $0 })
        let once = d
        d.applyDefaults()
        #expect(d == once)
    }

    @Test func diskIndexLikeLibvirt() {
        #expect(DomainDefaults.diskIndex("sda") == 0)
        #expect(DomainDefaults.diskIndex("hdc") == 2)
        #expect(DomainDefaults.diskIndex("vdz") == 25)
        #expect(DomainDefaults.diskIndex("sdaa") == 26)
        #expect(DomainDefaults.diskIndex("xvdb") == 1)
        #expect(DomainDefaults.diskIndex("sda1") == nil)
        #expect(DomainDefaults.diskIndex("nvme0n1") == nil)
    }

    @Test func pciAddressesAreUniqueAndUsable() throws {
        for name in Golden.cases {
            var d = try Domain(xml: Golden.read("\(name).xml"))
            d.applyDefaults()
            #expect(d.pciConflict() == nil, "\(name): \(String(describing: d.pciConflict()))")
        }
        let a = try #require(PCIAddress(DeviceAddress(type: "pci", attributes: [
            XMLAttribute("domain", "0x0000"), XMLAttribute("bus", "0x00"), XMLAttribute("slot", "0x01"),
            XMLAttribute("function", "0x2")])))
        #expect(a.qemuAddr == "0x1.0x2")
        #expect(a.description == "0000:00:01.2")
        #expect(PCIAddress(a.deviceAddress) == a)
        #expect(PCIAddress(DeviceAddress(type: "pci", attributes: [XMLAttribute("slot", "0x40")])) == nil)
    }

    @Test func q35PutsPCIeDevicesBehindRootPorts() throws {
        var d = try Domain(xml: """
            <domain type='kvm'><name>q</name><memory>1024</memory>
              <os><type arch='x86_64' machine='pc-q35-8.2'>hvm</type></os>
              <devices>
                <controller type='pci' index='0' model='pcie-root'/>
                <controller type='pci' index='1' model='pcie-root-port'/>
                <disk type='file'><source file='/a'/><target dev='vda' bus='virtio'/></disk>
                <interface type='user'><mac address='52:54:00:00:00:01'/><model type='rtl8139'/></interface>
              </devices>
            </domain>
            """)
        d.applyDefaults()
        let ports = d.devices.controllers.filter { $0.model == "pcie-root-port" }
        let usb = d.devices.controllers.first { $0.type == "usb" }
        #expect(PCIAddress(usb?.address) == PCIAddress(bus: 1, slot: 0), "the existing free port is used first")
        #expect(PCIAddress(d.devices.disks[0].address) == PCIAddress(bus: 2, slot: 0))
        #expect(PCIAddress(d.devices.interfaces[0].address)?.bus == 0, "conventional PCI stays on pcie.0")
        #expect(ports.map(\.index) == [1, 2, 3, 4], "disk and balloon get new ports, plus one spare")
        #expect(d.pciUsage().filter { $0.address.bus != 0 }.count == 3)
        let xml = d.formatXML()
        #expect(xml.contains("""
                <controller type='pci' index='1' model='pcie-root-port'>
                  <model name='pcie-root-port'/>
                  <target chassis='1' port='0x10'/>
                  <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0' multifunction='on'/>
                </controller>
            """))
        let once = d
        d.applyDefaults()
        #expect(d == once, "no extra ports on a second pass")
    }

    @Test func existingAddressesAreRespected() throws {
        var d = try domain("""
            <interface type='user'><mac address='52:54:00:00:00:09'/>
              <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/></interface>
            <disk type='file'><source file='/a'/><target dev='vda' bus='virtio'/></disk>
            """)
        d.applyDefaults()
        #expect(PCIAddress(d.devices.interfaces[0].address)?.slot == 3)
        #expect(PCIAddress(d.devices.disks[0].address)?.slot == 2)
        #expect(PCIAddress(d.devices.memballoon?.address)?.slot == 4, "slot 3 is taken")
    }
}
