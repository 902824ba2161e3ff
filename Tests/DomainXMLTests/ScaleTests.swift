import Testing
@testable import DomainXML

@Suite struct ScaleTests {
    /// Many devices stay linear: each element is visited a bounded number of times.
    @Test func manyDevices() throws {
        let n = 5_000
        var xml = "<domain type='qemu'><name>big</name><memory>1024</memory><os><type>hvm</type></os><devices>"
        for i in 0..<n {
            xml += "<disk type='file'><source file='/d\(i)'/><target dev='vd\(i)' bus='virtio'/></disk><channel type='pty'><target type='virtio'/></channel>"
        }
        xml += "</devices></domain>"
        var d = try Domain(xml: xml)
        #expect(d.devices.disks.count == n)
        d.applyDefaults()
        #expect(d.devices.channels.last?.address?["port"] == String(n))
        let out = d.formatXML()
        #expect(try Domain(xml: out).devices.disks.count == n)
    }
}
