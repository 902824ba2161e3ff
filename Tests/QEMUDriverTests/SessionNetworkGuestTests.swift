import Foundation
import Testing
import DomainXML
import Hypervisor
@testable import QEMUDriver

// Session mode for real: a guest NIC on a network gets user-mode networking with the network's
// subnet, gateway and DHCP start; the guest's DHCP client gets its address from there, and a
// <portForward> on a user interface listens on the host.

@Suite(.enabled(if: tinyGuestDir != nil && domainXMLWorks(), "needs the tiny guest (scripts/tiny-guest.sh)"), .serialized)
struct SessionNetworkGuestTests {
    @Test func guestOnASessionNetworkGetsTheNetworksAddress() async throws {
        let dir = try #require(tinyGuestDir)
        let root = try TempRoot()
        defer { root.cleanup() }
        let d = try QEMUDriver.open(root: root.path, networkMode: .session)
        let net = try await d.defineNetwork(xml: """
            <network><name>lab</name><forward mode='nat'/>
              <ip address='10.66.0.1' prefix='24'><dhcp><range start='10.66.0.50' end='10.66.0.60'/></dhcp></ip>
            </network>
            """, flags: 0)
        // A guest on an inactive network does not start.
        let port = try QEMUDriver.freeTCPPort(from: 20022, avoiding: [])
        let xml = try String(contentsOfFile: "\(dir)/tiny.xml", encoding: .utf8)
            .replacingOccurrences(of: #"<disk[\s\S]*?</disk>"#, with: "", options: .regularExpression)
            .replacingOccurrences(of: "<interface type='user'>", with: """
                <interface type='network'><source network='lab'/><model type='virtio'/></interface>
                <interface type='user'><portForward proto='tcp' address='127.0.0.1'><range start='\(port)' to='22'/></portForward>
                """)
        let dom = try await d.defineDomain(xml: xml, validate: true)
        await #expect { _ = try await d.startDomain(dom, flags: []) } throws: { "\($0)".contains("network 'lab' is not active") }

        try await d.startNetwork(net)
        _ = try await d.startDomain(dom, flags: [])
        let console = ConsoleCollector(try await d.openConsole(dom, devName: nil, force: false))
        #expect(await console.waitFor("corral-tiny-guest: ready", seconds: 90))
        #expect(await console.waitFor("tiny# ", seconds: 10))
        try await console.send("ip -4 addr show eth0; ip route\n")
        #expect(await console.waitFor("inet 10.66.0.50/24", seconds: 10))
        #expect(await console.waitFor("default via 10.66.0.1", seconds: 10))
        // The forwarded port listens on the host's loopback.
        let listening = (try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8))?
            .contains(String(format: "0100007F:%04X 00000000:0000 0A", port)) ?? false
        #expect(listening)
        // No host-side DHCP server in session mode, so no leases to report (domifaddr is empty too).
        #expect(try await d.networkDHCPLeases(net, mac: nil).isEmpty)
        #expect(try await d.interfaceAddresses(dom, source: .lease, flags: 0).isEmpty)
        try await d.destroyDomain(dom, flags: 0)
        try await d.destroyNetwork(net)
    }
}
