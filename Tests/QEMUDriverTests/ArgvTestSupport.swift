import DomainXML
import Foundation

// Small domain builders for tests that construct the model in code.

func pci(_ slot: Int, function: Int = 0, bus: Int = 0) -> DeviceAddress {
    DeviceAddress(type: "pci", attributes: [XMLAttribute("domain", "0x0000"), XMLAttribute("bus", String(format: "0x%02x", bus)),
                                            XMLAttribute("slot", String(format: "0x%02x", slot)), XMLAttribute("function", "0x\(function)")])
}

func disk(_ dev: String, bus: String, path: String?) -> Disk {
    var d = Disk()
    d.driverName = "qemu"
    d.driverType = path == nil ? nil : "raw"
    d.sourcePath = path
    d.targetDev = dev
    d.targetBus = bus
    return d
}

enum ArgvCases {
    /// No devices at all: headless, only the monitor.
    static var minimal: Domain {
        var d = Domain()
        d.name = "argv-minimal"
        d.uuid = UUID(uuidString: "c7a5fdbd-edaf-9455-926a-d65c16db1809")
        d.memoryKiB = 262144
        d.os.arch = "x86_64"
        d.os.machine = "pc"
        d.features = Features()
        d.features?.acpi = true
        return d
    }
}
