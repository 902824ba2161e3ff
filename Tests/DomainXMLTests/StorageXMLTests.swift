import Foundation
import Testing
@testable import DomainXML

private func poolError(_ xml: String) -> String? {
    do { _ = try StoragePool(xml: xml); return nil } catch { return error.message }
}

private func volError(_ xml: String) -> String? {
    do { _ = try StorageVolume(xml: xml); return nil } catch { return error.message }
}

@Suite struct StoragePoolXMLTests {
    @Test func dirPoolFormatsInLibvirtOrder() throws {
        // Elements deliberately out of order, sizes in other units.
        let p = try StoragePool(xml: """
        <pool type='dir'>
          <target><permissions><group>0</group><mode>0755</mode><owner>107</owner></permissions><path>/var/lib//images/</path></target>
          <available unit='KiB'>1</available>
          <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
          <name>default</name>
          <capacity unit='G'>2</capacity>
          <allocation>5</allocation>
        </pool>
        """)
        #expect(p.targetPath == "/var/lib/images")
        #expect(p.capacity == 2 << 30 && p.allocation == 5 && p.available == 1024)
        #expect(p.formatXML() == """
        <pool type='dir'>
          <name>default</name>
          <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
          <capacity unit='bytes'>2147483648</capacity>
          <allocation unit='bytes'>5</allocation>
          <available unit='bytes'>1024</available>
          <source>
          </source>
          <target>
            <path>/var/lib/images</path>
            <permissions>
              <mode>0755</mode>
              <owner>107</owner>
              <group>0</group>
            </permissions>
          </target>
        </pool>

        """)
    }

    @Test func unknownContentSurvivesRoundTrip() throws {
        let xml = """
        <pool type='logical' future='x'>
          <name>vg</name>
          <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>
          <capacity unit='bytes'>0</capacity>
          <allocation unit='bytes'>0</allocation>
          <available unit='bytes'>0</available>
          <features>
            <cow state='no'/>
          </features>
          <source>
            <device path='/dev/loop0' part_separator='no'/>
            <device path='/dev/loop1'/>
            <name>vgdata</name>
            <format type='lvm2'/>
            <vendor name='acme'/>
          </source>
          <target>
            <path>/dev/vgdata</path>
            <!-- kept -->
            <encryption format='x'/>
          </target>
        </pool>

        """
        let p = try StoragePool(xml: xml)
        #expect(p.source.devices.map(\.path) == ["/dev/loop0", "/dev/loop1"])
        #expect(p.source.name == "vgdata" && p.source.format == "lvm2")
        #expect(p.formatXML() == xml)
        #expect(try StoragePool(xml: p.formatXML()) == p)
    }

    @Test func netfsAndIscsiParse() throws {
        let nfs = try StoragePool(xml: """
        <pool type='netfs'><name>n</name><source><host name='nfs.example' port='2049'/><dir path='/export'/><format type='nfs'/></source><target><path>/mnt/n</path></target></pool>
        """)
        #expect(nfs.source.hosts.first?.name == "nfs.example" && nfs.source.hosts.first?.port == 2049 && nfs.source.dir == "/export")
        let iscsi = try StoragePool(xml: """
        <pool type='iscsi'><name>i</name><source><host name='10.0.0.1'/><device path='iqn.2013-06.com.example:iscsi-pool'/><initiator><iqn name='iqn.x'/></initiator></source><target><path>/dev/disk/by-path</path></target></pool>
        """)
        #expect(iscsi.source.devices.first?.path == "iqn.2013-06.com.example:iscsi-pool")
        #expect(iscsi.formatXML().contains("<iqn name='iqn.x'/>"))
        #expect(StoragePool.supportedTypes.contains("netfs") == false)
    }

    @Test func defaultsFillUUIDAndLogicalNames() throws {
        var p = try StoragePool(xml: "<pool type='logical'><name>vg0</name><source><device path='/dev/sdz'/></source></pool>")
        p.applyDefaults()
        #expect(p.uuid != nil)
        #expect(p.source.name == "vg0" && p.targetPath == "/dev/vg0" && p.source.format == "lvm2")
    }

    @Test func badPoolsAreNamed() {
        #expect(poolError("<pool><name>x</name></pool>") == "XML error: storage pool missing type attribute")
        #expect(poolError("<pool type='floppy'><name>x</name></pool>") == "XML error: unknown storage pool type floppy")
        #expect(poolError("<pool type='dir'><target><path>/x</path></target></pool>") == "XML error: missing pool source name element")
        #expect(poolError("<pool type='dir'><name>x</name></pool>") == "XML error: missing storage pool target path")
        #expect(poolError("<pool type='dir'><name>a/b</name><target><path>/x</path></target></pool>") == "XML error: name 'a/b' cannot contain '/'")
        #expect(poolError("<pool type='dir'><name>x</name><target><path>rel</path></target></pool>") == "XML error: storage pool target path 'rel' must be absolute")
        #expect(poolError("<pool type='dir'><name>x</name><uuid>nope</uuid><target><path>/x</path></target></pool>") == "XML error: malformed uuid element 'nope' in <pool>")
        #expect(poolError("<pool type='fs'><name>x</name><target><path>/x</path></target></pool>") == "XML error: missing storage pool source device path")
        #expect(poolError("<pool type='fs'><name>x</name><source><device path='/d'/><format type='ntfs3'/></source><target><path>/x</path></target></pool>") == "XML error: unknown pool format type 'ntfs3' for a fs pool")
        #expect(poolError("<pool type='netfs'><name>x</name><source><dir path='/e'/></source><target><path>/x</path></target></pool>") == "XML error: missing storage pool source host name")
        #expect(poolError("<pool type='dir'><name>x</name><capacity unit='parsecs'>1</capacity><target><path>/x</path></target></pool>") == "unsupported configuration: unknown unit 'parsecs' in <capacity>")
        #expect(poolError("<pool type='dir'><name>x</name><target><path>/x</path><permissions><mode>999</mode></permissions></target></pool>") == "XML error: malformed octal mode '999' in <permissions>")
        #expect(poolError("<volume><name>x</name></volume>") == "XML error: unexpected root element <volume>, expecting <pool>")
        #expect(poolError("<pool type='dir'><name>x</name>") != nil)
    }
}

@Suite struct StorageVolumeXMLTests {
    @Test func unitsScaleToBytes() throws {
        let cases: [(String, UInt64)] = [("b", 1), ("bytes", 1), ("KB", 1000), ("k", 1024), ("KiB", 1024), ("M", 1 << 20),
                                         ("MB", 1_000_000), ("GiB", 1 << 30), ("G", 1 << 30), ("T", 1 << 40)]
        for (unit, scale) in cases {
            let v = try StorageVolume(xml: "<volume><name>v</name><capacity unit='\(unit)'>3</capacity></volume>")
            #expect(v.capacity == 3 * scale, "unit \(unit)")
        }
        let v = try StorageVolume(xml: "<volume><name>v</name><capacity>42</capacity></volume>")
        #expect(v.capacity == 42)
        #expect(volError("<volume><name>v</name><capacity unit='E'>99</capacity></volume>") == "XML error: value of <capacity> is too large")
    }

    @Test func volumeFormatsInLibvirtOrderAndKeepsUnknowns() throws {
        let xml = """
        <volume type='file'>
          <name>disk.qcow2</name>
          <key>/pool/disk.qcow2</key>
          <capacity unit='bytes'>1073741824</capacity>
          <allocation unit='bytes'>200704</allocation>
          <physical unit='bytes'>196616</physical>
          <target>
            <path>/pool/disk.qcow2</path>
            <format type='qcow2'/>
            <permissions>
              <mode>0600</mode>
              <owner>0</owner>
              <group>0</group>
            </permissions>
            <timestamps>
              <atime>1700000000.5</atime>
              <mtime>1700000001.25</mtime>
              <ctime>1700000002.125</ctime>
            </timestamps>
            <compat>1.1</compat>
            <clusterSize unit='B'>65536</clusterSize>
            <features>
              <lazy_refcounts/>
            </features>
          </target>
          <backingStore>
            <path>/pool/base.img</path>
            <format type='raw'/>
          </backingStore>
        </volume>
        """
        let v = try StorageVolume(xml: xml)
        #expect(v.format == "qcow2" && v.compat == "1.1" && v.backingStore?.path == "/pool/base.img" && v.backingStore?.format == "raw")
        #expect(v.timestamps?.mtime == "1700000001.25")
        let out = v.formatXML()
        #expect(out == xml + "\n")
        #expect(try StorageVolume(xml: out) == v)
    }

    @Test func badVolumesAreNamed() {
        #expect(volError("<volume><capacity>1</capacity></volume>") == "XML error: missing volume name element")
        #expect(volError("<volume><name>v</name></volume>") == "XML error: missing capacity element")
        #expect(volError("<volume><name>v</name><capacity>-1</capacity></volume>") == "XML error: invalid value '-1' for <capacity>: expected a non-negative integer")
        #expect(volError("<volume><name>v</name><capacity unit='X'>1</capacity></volume>") == "unsupported configuration: unknown unit 'X' in <capacity>")
        #expect(volError("<volume type='tape'><name>v</name><capacity>1</capacity></volume>") == "XML error: unknown volume type 'tape'")
        #expect(volError("<volume><name>v</name><capacity>1</capacity><target><format type='zip'/></target></volume>") == "XML error: unknown volume format type zip")
        #expect(volError("<volume><name>../v</name><capacity>1</capacity></volume>") == "XML error: name '../v' cannot contain '/'")
        #expect(volError("<volume><name>..</name><capacity>1</capacity></volume>") == "XML error: volume name '..' is not allowed")
        #expect(volError("<volume><name>v</name><capacity>1</capacity><target><compat>x</compat></target></volume>") == "XML error: forbidden characters in 'compat' attribute: 'x'")
        #expect(volError("<volume><name>v</name><backingStore><format type='raw'/></backingStore></volume>") == "XML error: missing volume backing store path in <backingStore>")
        // A backing store stands in for the capacity.
        #expect(volError("<volume><name>v</name><backingStore><path>/b</path></backingStore></volume>") == nil)
    }
}

/// Mangled pool and volume documents are rejected or accepted, never crash; what parses formats
/// to a fixed point.
@Suite struct StorageXMLFuzzTests {
    static let seeds = [
        "<pool type='fs'><name>f</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid><source><host name='h' port='1'/><device path='/dev/x'/><dir path='/d'/><name>n</name><format type='ext4'/><x a='1'/></source><target><path>/t</path><permissions><mode>0700</mode><owner>1</owner><group>2</group><label>l</label></permissions></target><y/></pool>",
        "<volume type='file'><name>v</name><key>k</key><source><z/></source><capacity unit='G'>1</capacity><allocation>0</allocation><physical>3</physical><target><path>/p</path><format type='qcow2'/><permissions><mode>0600</mode></permissions><timestamps><atime>1.2</atime></timestamps><compat>1.1</compat></target><backingStore><path>/b</path><format type='raw'/></backingStore></volume>",
    ]

    @Test func mutationsNeverCrash() {
        var rng = SplitMix64(state: 42)
        let interesting: [UInt8] = Array("<>/&;'\"=!?- \n0x".utf8) + [0xFF]
        for seed in Self.seeds {
            let original = Array(seed.utf8)
            for n in 0...original.count { exercise(String(decoding: original[..<n], as: UTF8.self)) }
            for _ in 0..<400 {
                var b = original
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let i = Int.random(in: 0..<b.count, using: &rng)
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: b[i] = interesting.randomElement(using: &rng) ?? 0
                    case 1: b.remove(at: i)
                    default: b.insert(contentsOf: b[i..<min(b.count, i + 8)], at: i)
                    }
                    if b.isEmpty { break }
                }
                exercise(String(decoding: b, as: UTF8.self))
            }
        }
    }

    private func exercise(_ text: String) {
        if var p = try? StoragePool(xml: text) {
            let xml = p.formatXML()
            #expect((try? StoragePool(xml: xml))?.formatXML() == xml, "pool not idempotent for input:\n\(text)")
            p.applyDefaults()
            _ = p.formatXML(inactive: true)
        }
        if let v = try? StorageVolume(xml: text) {
            let xml = v.formatXML()
            #expect((try? StorageVolume(xml: xml))?.formatXML() == xml, "volume not idempotent for input:\n\(text)")
        }
    }
}
