import Testing
@testable import DomainXML

struct DeviceXMLTests {
    let domainXML = """
    <domain type='qemu'>
      <name>dev</name>
      <memory>65536</memory>
      <os><type>hvm</type></os>
      <devices>
        <disk type='file' device='disk'><source file='/a.img'/><target dev='vda' bus='virtio'/></disk>
        <disk type='file' device='disk'><source file='/c.img'/><target dev='vdc' bus='virtio'/></disk>
        <disk type='file' device='cdrom'><target dev='sda' bus='scsi'/></disk>
        <interface type='user'><mac address='52:54:00:00:00:01'/></interface>
        <interface type='user'><mac address='52:54:00:00:00:02'/></interface>
        <input type='tablet' bus='usb'><alias name='input0'/></input>
      </devices>
    </domain>
    """

    @Test func oneDeviceRoundTripsWithUnknownContent() throws {
        let xml = """
        <disk type='file' device='cdrom'>
          <driver name='qemu' type='raw'/>
          <source file='/x.iso' startupPolicy='optional'/>
          <target dev='sda' bus='scsi'/>
          <readonly/>
          <alias name='scsi0-0-0-0'/>
          <address type='drive' controller='0' bus='0' target='0' unit='0'/>
          <vendor>ACME</vendor>
        </disk>

        """
        let dev = try DomainDevice(xml: xml)
        guard case .disk(let d) = dev else { Issue.record("not a disk"); return }
        #expect(d.sourcePath == "/x.iso" && d.alias == "scsi0-0-0-0" && d.readonly)
        let again = dev.formatXML()
        #expect(try DomainDevice(xml: again) == dev)
        #expect(again.contains("startupPolicy='optional'") && again.contains("<vendor>ACME</vendor>"))
        #expect(!dev.formatXML(.inactive).contains("<alias"))
    }

    @Test func badDeviceXMLNamesTheProblem() {
        #expect(throws: DomainXMLError("XML error: unknown device type 'gadget'")) { try DomainDevice(xml: "<gadget/>") }
        #expect(throws: DomainXMLError("XML error: missing target information for <disk> (<target dev=''/>)")) {
            try DomainDevice(xml: "<disk type='file'><source file='/x'/></disk>")
        }
        #expect(throws: DomainXMLError.self) { try DomainDevice(xml: "<disk type='file'") }
        #expect(throws: DomainXMLError("XML error: unable to parse mac address 'zz'")) {
            try DomainDevice(xml: "<interface type='user'><mac address='zz'/></interface>")
        }
    }

    @Test func findsDevicesAsLibvirtDoes() throws {
        let d = try Domain(xml: domainXML)
        #expect(try d.findDevice(DomainDevice(xml: "<disk><target dev='vdc'/></disk>")) == DeviceSlot(element: "disk", index: 1))
        #expect(throws: DomainXMLError("disk vdb not found")) { try d.findDevice(DomainDevice(xml: "<disk><target dev='vdb'/></disk>")) }
        #expect(try d.findDevice(DomainDevice(xml: "<interface type='user'><mac address='52:54:00:00:00:02'/></interface>")).index == 1)
        #expect(throws: DomainXMLError("multiple matching devices found")) { try d.findDevice(DomainDevice(xml: "<interface type='user'/>")) }
        #expect(throws: DomainXMLError("no device matching MAC address 52:54:00:00:00:09 found")) {
            try d.findDevice(DomainDevice(xml: "<interface type='user'><mac address='52:54:00:00:00:09'/></interface>"))
        }
        #expect(try d.findDevice(DomainDevice(xml: "<input type='tablet' bus='usb'/>")).index == 0)
        #expect(throws: DomainXMLError("matching input device not found")) {
            try d.findDevice(DomainDevice(xml: "<input type='tablet' bus='usb'><alias name='input7'/></input>"))
        }
    }

    @Test func addsDisksInTargetOrderAndRefusesClashes() throws {
        var d = try Domain(xml: domainXML)
        try d.addDevice(DomainDevice(xml: "<disk type='file'><source file='/b.img'/><target dev='vdb'/></disk>"))
        #expect(d.devices.disks.map(\.targetDev) == ["vda", "vdb", "vdc", "sda"])
        #expect(throws: DomainXMLError("target vdb already exists")) {
            try d.addDevice(DomainDevice(xml: "<disk type='file'><target dev='vdb'/></disk>"))
        }
        #expect(throws: DomainXMLError("mac 52:54:00:00:00:01 already exists")) {
            try d.addDevice(DomainDevice(xml: "<interface type='user'><mac address='52:54:00:00:00:01'/></interface>"))
        }
        try d.addDevice(DomainDevice(xml: "<controller type='usb' model='qemu-xhci'/>"))
        try d.addDevice(DomainDevice(xml: "<controller type='usb' model='qemu-xhci'/>"))
        #expect(d.devices.controllers.filter { $0.type == "usb" }.map(\.index) == [0, 1])
        let slot = try d.findDevice(DomainDevice(xml: "<disk><target dev='vdc'/></disk>"))
        d.removeDevice(at: slot)
        #expect(d.devices.disks.map(\.targetDev) == ["vda", "vdb", "sda"])
        #expect(d.count(of: "interface") == 2)
    }
}

/// Mangled device elements are rejected or accepted, never crash; accepted ones format to a fixed
/// point and can be looked up in, added to and removed from a domain.
@Test func mangledDeviceXMLNeverCrashes() throws {
    let seeds = [
        "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/x.iso'/><target dev='sda' bus='scsi'/><readonly/><address type='drive' controller='0' bus='0' target='0' unit='0'/></disk>",
        "<interface type='user'><mac address='52:54:00:12:34:56'/><model type='virtio'/><alias name='net1'/></interface>",
        "<hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/><product id='0xbeef'/></source></hostdev>",
        "<controller type='scsi' index='1' model='virtio-scsi'/>",
        "<input type='tablet' bus='usb'><address type='usb' bus='0' port='1'/></input>",
    ]
    let base = try Domain(xml: "<domain type='qemu'><name>f</name><memory>1024</memory><os><type>hvm</type></os><devices>\(seeds[0])\(seeds[1])</devices></domain>")
    var rng = SplitMix64(state: 42)
    let interesting: [UInt8] = Array("<>/&;'\"=!?-# \n\0x".utf8) + [0xFF, 0xC3]
    for seed in seeds {
        let original = Array(seed.utf8)
        for _ in 0..<300 {
            var b = original
            for _ in 0..<Int.random(in: 1...6, using: &rng) where !b.isEmpty {
                let i = Int.random(in: 0..<b.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: b[i] = UInt8.random(in: 0...255, using: &rng)
                case 1: b[i] = interesting.randomElement(using: &rng) ?? 0
                default: b.remove(at: i)
                }
            }
            guard let dev = try? DomainDevice(xml: String(decoding: b, as: UTF8.self)) else { continue }
            let xml = dev.formatXML()
            let again = try? DomainDevice(xml: xml)
            #expect(again?.formatXML() == xml, "not a fixed point: \(xml)")
            var d = base
            if let slot = try? d.findDevice(dev) { d.removeDevice(at: slot) }
            try? d.addDevice(dev)
            _ = d.formatXML()
        }
    }
}
