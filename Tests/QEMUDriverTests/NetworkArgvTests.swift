import DomainXML
import Foundation
import HostNetworks
import QEMUDriver
import Testing

// The -netdev side of guest NICs: taps the driver created (system mode), user-mode networking
// shaped by a network (session mode), and <portForward> as hostfwd.

@Suite struct NetworkArgvTests {
    func netdevs(_ xml: String, backends: [Int: InterfaceBackend] = [:]) throws -> [String] {
        let d = try Domain(xml: """
            <domain type='qemu'><name>n</name><memory>65536</memory><os><type arch='x86_64' machine='pc'>hvm</type></os>
            <devices>\(xml)</devices></domain>
            """)
        var context = QEMULaunchContext(domainDir: "/run/x", logDir: "/log", accel: "tcg")
        context.interfaceBackends = backends
        let argv = try QEMUCommandLine.build(d, context: context, caps: Golden.caps)
        return argv.indices.filter { argv[$0] == "-netdev" && $0 + 1 < argv.count }.map { argv[$0 + 1] }
    }

    @Test func tapOnANetworkOrBridge() throws {
        let nics = """
            <interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/><model type='virtio'/></interface>
            <interface type='bridge'><source bridge='br0'/><model type='e1000'/></interface>
            """
        #expect(try netdevs(nics, backends: [0: .tap("vnet0"), 1: .tap("vnet1")]) == [
            #"{"type":"tap","id":"hostnet0","ifname":"vnet0","script":"no","downscript":"no"}"#,
            #"{"type":"tap","id":"hostnet1","ifname":"vnet1","script":"no","downscript":"no"}"#,
        ])
    }

    @Test func sessionNetworkIsUserModeWithTheNetworksAddresses() throws {
        let options = UserNetOptions(net: "192.168.122.0/24", host: "192.168.122.1", dhcpStart: "192.168.122.2", dns: "192.168.122.18")
        #expect(try netdevs("<interface type='network'><source network='default'/></interface>", backends: [0: .user(options)]) == [
            #"{"type":"user","id":"hostnet0","net":"192.168.122.0/24","host":"192.168.122.1","dhcpstart":"192.168.122.2","dns":"192.168.122.18"}"#,
        ])
    }

    @Test func userPortForwardsBecomeHostfwd() throws {
        let nic = """
            <interface type='user'>
              <portForward proto='tcp' address='127.0.0.1'><range start='2222' to='22'/></portForward>
              <portForward proto='udp'><range start='5000' end='5001' to='6000'/></portForward>
            </interface>
            """
        #expect(try netdevs(nic) == [
            #"{"type":"user","id":"hostnet0","hostfwd":[{"str":"tcp:127.0.0.1:2222-:22"},{"str":"udp::5000-:6000"},{"str":"udp::5001-:6001"}]}"#,
        ])
        // A plain user interface keeps libvirt's argv.
        #expect(try netdevs("<interface type='user'/>") == [#"{"type":"user","id":"hostnet0"}"#])
        #expect(throws: DomainXMLError.self) {
            try netdevs("<interface type='user'><portForward proto='tcp'><range start='0'/></portForward></interface>")
        }
    }
}
