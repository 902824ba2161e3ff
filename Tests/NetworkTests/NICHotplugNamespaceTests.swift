import Foundation
import Hypervisor
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import RemoteProtocol

// A NIC hotplugged into a running guest on a system-mode network, inside a namespace of its own
// (corrald under `ip netns exec`, as NamespaceNATTests): the attach makes a vnet tap on the
// bridge like a start does, the detach and the stop remove it, a failed attach leaves none.

@Suite(.enabled(if: NetTestEnv.ready, "needs root, corrald, dnsmasq, nft and QEMU"), .serialized)
struct NICHotplugNamespaceTests {
    @Test func tapOfAHotpluggedNICComesAndGoes() async throws {
        let guestDir = try #require(NetTestEnv.tinyGuestDir, "the tiny guest could not be built")
        let ns = try TestNamespace()
        let root = "/tmp/corral-nettest-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: root); try? FileManager.default.removeItem(atPath: "\(root).corrald.log") }
        let daemon = try NamespacedDaemon(ns, root: root)
        defer { daemon.stop() }
        let d = try await daemon.connect()

        let net = try await d.defineNetwork(xml: """
            <network><name>hotnat</name><forward mode='nat'/><bridge name='virbr7'/>
              <ip address='192.168.160.1' prefix='24'><dhcp><range start='192.168.160.100' end='192.168.160.120'/></dhcp></ip>
            </network>
            """, flags: 0)
        try await d.startNetwork(net)
        let xml = NamespaceNATTests.guestXML(dir: guestDir, network: "hotnat", mac: "52:54:00:5e:ed:01")
            .replacingOccurrences(of: #"<interface[\s\S]*?</interface>"#, with: "", options: .regularExpression)
        let dom = try await d.startDomain(try await d.defineDomain(xml: xml, validate: true), flags: [])
        let tapsFile = "\(root)/run/qemu/\(dom.name)/taps.json"
        func recordedTaps() -> String { (try? String(contentsOfFile: tapsFile, encoding: .utf8)) ?? "" }
        #expect(!ns.linkExists("vnet0"))
        let console = ConsoleText(try await d.openConsole(dom, devName: nil, force: false))
        try await console.send("\n")
        #expect(await console.waitFor("tiny# ", seconds: 120))

        // QEMU refuses the device (its PCI slot is the ISA bridge's): the tap made for it goes too.
        let mac = "52:54:00:5e:ed:07"
        let clash = await #expect(throws: VirError.self) {
            try await d.attachDevice(dom, xml: """
                <interface type='network'><mac address='\(mac)'/><source network='hotnat'/><model type='virtio'/>
                  <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'/></interface>
                """, flags: .live)
        }
        #expect(clash.map { "\($0)".contains("slot 1") } == true, "\(String(describing: clash))")
        #expect(!ns.linkExists("vnet0"))
        #expect(!recordedTaps().contains("vnet0"))
        #expect(!(try await d.domainXML(dom, flags: [])).contains("<interface"))

        // virsh attach-interface --live network hotnat: a tap on the bridge, named in the live XML.
        let nic = "<interface type='network'><mac address='\(mac)'/><source network='hotnat'/><model type='virtio'/></interface>"
        try await d.attachDevice(dom, xml: nic, flags: .live)
        let live = try await d.domainXML(dom, flags: [])
        #expect(live.contains("<target dev='vnet0'/>") && live.contains("<alias name='net0'/>"), "\(live)")
        #expect(try ns.exec(["/usr/sbin/ip", "link", "show", "dev", "vnet0"]).contains("master virbr7"))
        #expect(recordedTaps().contains("vnet0"))

        // The guest's eth0 gets a lease from the network's dnsmasq and answers from the bridge.
        try await console.send("i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done; udhcpc -i eth0 -s /etc/udhcpc/default.script -t 5 -T 1 -n -q >/dev/null 2>&1; ip -4 addr show eth0\n")
        #expect(await console.waitFor("inet 192.168.160.1", seconds: 60))
        let leases = try await d.networkDHCPLeases(net, mac: mac)
        let lease = try #require(leases.first, "no lease for the hotplugged NIC")
        #expect((try? ns.exec(["/bin/busybox", "ping", "-c", "3", "-W", "5", lease.ipaddr])) != nil)

        // virsh detach-interface --mac: the tap is deleted and forgotten.
        try await d.detachDevice(dom, xml: "<interface type='network'><mac address='\(mac)'/></interface>", flags: .live)
        #expect(!ns.linkExists("vnet0"))
        #expect(!recordedTaps().contains("vnet0"))
        #expect(!(try await d.domainXML(dom, flags: [])).contains("<interface"))

        // Attached again (type='bridge' this time), then the guest stops: the stop removes the tap.
        try await d.attachDevice(dom, xml: "<interface type='bridge'><mac address='\(mac)'/><source bridge='virbr7'/><model type='virtio'/></interface>", flags: .live)
        #expect(ns.linkExists("vnet0"))
        try await d.destroyDomain(dom, flags: 0)
        #expect(!ns.linkExists("vnet0"))
        await console.stream.close()
        try await d.destroyNetwork(net)
        try await d.undefineDomain(dom, flags: 0)
        await d.close()
    }
}
