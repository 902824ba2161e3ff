import Foundation
import Testing
import DomainXML
import Hypervisor
@testable import QEMUDriver

// Hotplugging a NIC on a virtual network into a running guest (virsh attach-interface --live
// network NAME): in session mode the host side is user-mode networking shaped by the network,
// set up at attach time as a start would, and gone again after the detach.

@Suite(.enabled(if: tinyGuestDir != nil && domainXMLWorks(), "needs the tiny guest (scripts/tiny-guest.sh)"), .serialized)
struct DeviceChangeNetworkTests {
    @Test func sessionNetworkNICHotplugAndUnplug() async throws {
        let dir = try #require(tinyGuestDir)
        let root = try TempRoot()
        defer { root.cleanup() }
        let d = try QEMUDriver.open(root: root.path, networkMode: .session)
        let net = try await d.defineNetwork(xml: """
            <network><name>hot</name><forward mode='nat'/>
              <ip address='10.77.0.1' prefix='24'><dhcp><range start='10.77.0.50' end='10.77.0.60'/></dhcp></ip>
            </network>
            """, flags: 0)
        // The tiny guest without its data disk and without any NIC.
        let xml = try String(contentsOfFile: "\(dir)/tiny.xml", encoding: .utf8)
            .replacingOccurrences(of: #"<disk[\s\S]*?</disk>"#, with: "", options: .regularExpression)
            .replacingOccurrences(of: #"<interface[\s\S]*?</interface>"#, with: "", options: .regularExpression)
        let dom = try await d.startDomain(try await d.defineDomain(xml: xml, validate: true), flags: [])
        let name = dom.name
        let console = ConsoleCollector(try await d.openConsole(dom, devName: nil, force: false))
        #expect(await console.waitFor("corral-tiny-guest: ready", seconds: 120))
        #expect(await console.waitFor("tiny# ", seconds: 10))
        func liveNICs() async throws -> [Interface] { try Domain(xml: try await d.domainXML(dom, flags: [])).devices.interfaces }
        func infoNetwork() async throws -> String {
            try await d.withMonitor(name) { qmp in
                try await qmp.execute("human-monitor-command", arguments: ["command-line": "info network"]).string ?? ""
            }
        }

        // On an inactive network: refused, nothing added anywhere.
        let nic = "<interface type='network'><source network='hot'/><model type='virtio'/></interface>"
        let inactive = await errorMessage { try await d.attachDevice(dom, xml: nic, flags: .live) }
        #expect(inactive?.message.contains("network 'hot' is not active") == true, "\(String(describing: inactive))")
        #expect(try await liveNICs().isEmpty)
        #expect(try await !infoNetwork().contains("hostnet0"))

        try await d.startNetwork(net)
        try await d.attachDevice(dom, xml: nic, flags: .live)
        let nics = try await liveNICs()
        #expect(nics.count == 1)
        let added = try #require(nics.first)
        #expect(added.type == "network" && added.sourceNetwork == "hot" && added.alias == "net0")
        #expect(added.targetDev == nil)    // no tap in session mode
        let mac = try #require(added.mac)
        // QEMU has the device and a user netdev with the network's addressing.
        let type = try await d.withMonitor(name) { qmp in
            try await qmp.execute("qom-get", arguments: ["path": "/machine/peripheral/net0", "property": "type"]).string
        }
        #expect(type == "virtio-net-pci")
        let info = try await infoNetwork()
        #expect(info.contains("hostnet0") && info.contains("net=10.77.0.0"), "\(info)")
        #expect(info.contains(mac), "\(info)")
        // Live only: the persistent definition has no NIC.
        #expect(try Domain(xml: try await d.domainXML(dom, flags: .inactive)).devices.interfaces.isEmpty)

        // The guest sees eth0 and gets the network's first DHCP address from it.
        try await console.send("i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done; udhcpc -i eth0 -s /etc/udhcpc/default.script -t 5 -T 1 -n -q >/dev/null 2>&1; ip -4 addr show eth0\n")
        #expect(await console.waitFor("inet 10.77.0.50/24", seconds: 40))

        // virsh detach-interface --mac: gone from QEMU, the guest and the live XML.
        try await d.detachDevice(dom, xml: "<interface type='network'><mac address='\(mac)'/></interface>", flags: .live)
        #expect(try await liveNICs().isEmpty)
        #expect(try await !infoNetwork().contains("hostnet0"))
        try await console.send("i=0; while [ -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done; [ -e /sys/class/net/eth0 ] || echo ETH0\"\"-GONE\n")
        #expect(await console.waitFor("ETH0-GONE", seconds: 30))
        let again = await errorMessage { try await d.detachDevice(dom, xml: "<interface type='network'><mac address='\(mac)'/></interface>", flags: .live) }
        #expect(again?.code == .deviceMissing)

        // A second attach reuses the freed names.
        try await d.attachDevice(dom, xml: nic, flags: .live)
        #expect(try await liveNICs().map(\.alias) == ["net0"])
        #expect(try await infoNetwork().contains("hostnet0"))

        try await d.destroyDomain(dom, flags: 0)
        await console.stream.close()
        try await d.destroyNetwork(net)
    }
}
