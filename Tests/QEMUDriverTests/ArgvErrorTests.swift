import DomainXML
import Foundation
import QEMUDriver
import Testing

// What the builder refuses, and that the refusal names the device and the way out.

private func buildError(_ domain: Domain, accel: String = "tcg", caps: QEMUCapabilities = Golden.caps) -> String? {
    let context = QEMULaunchContext(domainDir: "/run/x", logDir: "/log", accel: accel)
    do {
        _ = try QEMUCommandLine.build(domain, context: context, caps: caps)
        return nil
    } catch let error as DomainXMLError {
        return error.message
    } catch {
        return "unexpected error type: \(error)"
    }
}

@Suite struct ArgvErrorTests {
    @Test func tapNetworkingIsRefused() {
        var d = ArgvCases.minimal
        var net = Interface()
        net.type = "network"
        net.sourceNetwork = "default"
        d.devices.interfaces = [net]
        // The driver resolves the network to a tap or user-mode options before building; without that, no argv.
        #expect(buildError(d) == "interface 0 (type='network'): the host side of this interface was not set up (network 'default')")
        d.devices.interfaces[0].type = "direct"
        #expect(buildError(d) == "interface 0 (type='direct'): interface type 'direct' is not supported; use user, network or bridge")
    }

    @Test func usbAddressOnMissingBusOrBadPort() {
        var d = ArgvCases.minimal
        d.devices.controllers = [Controller(type: "usb", index: 0, model: "qemu-xhci")]
        var tablet = Input(type: "tablet", bus: "usb")
        tablet.address = DeviceAddress(type: "usb", attributes: [XMLAttribute("bus", "2"), XMLAttribute("port", "1")])
        d.devices.inputs = [tablet]
        #expect(buildError(d)?.hasPrefix("input 0 (tablet): USB bus 2 does not exist") == true)
        d.devices.inputs[0].address = DeviceAddress(type: "usb", attributes: [XMLAttribute("bus", "0"), XMLAttribute("port", "1.x")])
        #expect(buildError(d)?.hasPrefix("input 0 (tablet): USB port '1.x' must be numbers") == true)
        d.devices.controllers[0].extra.attributes = [XMLAttribute("ports", "40")]
        d.devices.inputs[0].address = nil
        #expect(buildError(d) == "controller type='usb' index='0': ports='40' must be a number from 1 to 15")
    }

    @Test func unknownDiskBus() {
        var d = ArgvCases.minimal
        d.devices.disks = [disk("xvda", bus: "xen", path: "/img")]
        #expect(buildError(d) == "disk 'xvda': disk bus 'xen' is not supported: use virtio, sata, ide, scsi or usb")
    }

    @Test func hostPassthroughNeedsKVM() {
        var d = ArgvCases.minimal
        d.cpu = CPU()
        d.cpu?.mode = "host-passthrough"
        #expect(buildError(d)?.contains("needs KVM") == true)
        let context = QEMULaunchContext(domainDir: "/run/x", logDir: "/log", accel: "kvm")
        #expect((try? QEMUCommandLine.build(d, context: context, caps: Golden.caps))?.contains("host") == true)
    }

    @Test func virtiofsIsRefused() {
        var d = ArgvCases.minimal
        var fs = Filesystem()
        fs.driverType = "virtiofs"
        fs.sourceDir = "/srv"
        fs.targetDir = "srv"
        d.devices.filesystems = [fs]
        #expect(buildError(d)?.contains("virtiofs needs a virtiofsd") == true)
    }

    @Test func deviceMissingFromBinary() {
        var d = ArgvCases.minimal
        d.devices.videos = [Video(model: "qxl")]
        let caps = QEMUCapabilities(version: [7, 2, 0], machines: ["pc"], defaultMachine: "pc", devices: ["VGA"])
        #expect(buildError(d, caps: caps) == "video 0 (qxl): QEMU binary /usr/bin/qemu-system-x86_64 does not support device 'qxl-vga'")
    }

    @Test func unknownCPUModel() {
        var d = ArgvCases.minimal
        d.cpu = CPU()
        d.cpu?.model = "Pentium9000"
        var caps = Golden.caps
        caps.cpuModels = ["qemu64", "max"]
        #expect(buildError(d, caps: caps) == "<cpu><model>Pentium9000</model>: CPU model 'Pentium9000' is not supported by /usr/bin/qemu-system-x86_64")
    }

    @Test func unknownMachine() {
        var d = ArgvCases.minimal
        d.os.machine = "virt"
        let caps = QEMUCapabilities(version: [7, 2, 0], machines: ["pc", "q35"], defaultMachine: "pc", devices: [])
        #expect(buildError(d, caps: caps) == "machine type 'virt' is not supported by /usr/bin/qemu-system-x86_64")
    }

    @Test func spiceAutoportNeedsAllocatedPort() {
        var d = ArgvCases.minimal
        var g = Graphics(type: "spice")
        g.autoport = true
        d.devices.graphics = [g]
        #expect(buildError(d)?.contains("needs a port allocated by the driver") == true)
        var context = Golden.context("x")
        context.graphicsPorts = [0: 5905]
        let argv = try? QEMUCommandLine.build(d, context: context, caps: Golden.caps)
        #expect(argv?.contains("port=5905,addr=127.0.0.1,disable-ticketing=on,seamless-migration=on") == true)
    }

    @Test func missingPCIBus() {
        var d = ArgvCases.minimal
        var net = Interface()
        net.address = pci(0, bus: 3)
        d.devices.interfaces = [net]
        #expect(buildError(d) == "interface 0 (type='user'): PCI bus 3 does not exist: add <controller type='pci' index='3'>")
    }

    @Test func emptyHardDiskIsRefused() {
        var d = ArgvCases.minimal
        d.devices.disks = [disk("vda", bus: "virtio", path: nil)]
        #expect(buildError(d)?.contains("needs a <source>") == true)
    }

    @Test func noShutdownIsNeverPassedAndRebootDestroyMapsToNoReboot() throws {
        var d = ArgvCases.minimal
        d.onReboot = "destroy"
        d.onPoweroff = "destroy"
        let argv = try QEMUCommandLine.build(d, context: Golden.context("x"), caps: Golden.caps)
        #expect(!argv.contains("-no-shutdown"))
        #expect(argv.contains("-no-reboot"))
    }
}

@Suite struct ArgvEscapingTests {
    @Test func commasAndQuotesAreEscaped() throws {
        var d = ArgvCases.minimal
        d.name = "web,1"
        var cd = disk("vda", bus: "virtio", path: "/img/a \"b\"\\c.img")
        cd.serial = "line\nbreak"
        d.devices.disks = [cd]
        let argv = try QEMUCommandLine.build(d, context: QEMULaunchContext(domainDir: "/run/a,b", logDir: "/log", accel: "tcg"), caps: Golden.caps)
        #expect(argv.contains("guest=web,,1,debug-threads=on"))
        #expect(argv.contains("socket,id=charmonitor,path=/run/a,,b/monitor.sock,server=on,wait=off"))
        #expect(argv.contains(#"{"driver":"file","filename":"/img/a \"b\"\\c.img","node-name":"libvirt-1-storage","auto-read-only":true,"discard":"unmap"}"#))
        #expect(argv.contains { $0.contains(#""serial":"line\nbreak""#) })
    }
}
