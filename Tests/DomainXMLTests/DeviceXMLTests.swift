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
