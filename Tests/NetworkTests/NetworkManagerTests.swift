import DomainXML
import Foundation
import Hypervisor
import Testing
@testable import HostNetworks

/// A temporary state root, removed at the end.
final class TempRoot {
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("corral-net-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite struct DnsmasqConfigTests {
    @Test func natNetworkConfig() throws {
        let net = try NetworkDef(xml: """
            <network><name>lab</name><forward mode='nat'/><bridge name='virbr5'/>
              <domain name='lab.example' localOnly='yes'/>
              <dns><forwarder addr='9.9.9.9'/><forwarder domain='corp' addr='10.1.1.1'/>
                <host ip='192.168.50.5'><hostname>db</hostname></host></dns>
              <ip address='192.168.50.1' prefix='24'><dhcp>
                <range start='192.168.50.100' end='192.168.50.199'/>
                <host mac='52:54:00:00:00:01' name='web' ip='192.168.50.10'/>
              </dhcp></ip></network>
            """)
        let conf = try Dnsmasq.config(for: net, bridge: "virbr5", pidFile: "/r/lab.pid", leaseFile: "/r/lab.leases")
        let lines = conf.split(separator: "\n").map(String.init)
        for expected in ["pid-file=/r/lab.pid", "except-interface=lo", "bind-dynamic", "interface=virbr5", "no-hosts",
                         "domain=lab.example", "local=/lab.example/", "server=9.9.9.9", "server=/corp/10.1.1.1", "no-resolv",
                         "host-record=db,192.168.50.5", "dhcp-range=192.168.50.100,192.168.50.199,255.255.255.0",
                         "dhcp-host=52:54:00:00:00:01,192.168.50.10,web", "dhcp-leasefile=/r/lab.leases",
                         "dhcp-lease-max=100", "dhcp-authoritative", "no-ping"] {
            #expect(lines.contains(expected), "missing \(expected) in\n\(conf)")
        }
        // Bound to the bridge only.
        #expect(lines.filter { $0.hasPrefix("interface=") } == ["interface=virbr5"])
    }

    @Test func noDHCPWithoutRangesAndDHCPv6Refused() throws {
        let plain = try NetworkDef(xml: "<network><name>p</name><ip address='10.4.0.1' prefix='16'/></network>")
        let conf = try Dnsmasq.config(for: plain, bridge: "br9", pidFile: "/p", leaseFile: "/l")
        #expect(!conf.contains("dhcp-range") && !conf.contains("dhcp-leasefile"))
        let v6 = try NetworkDef(xml: "<network><name>six</name><ip family='ipv6' address='fd00::1' prefix='64'><dhcp><range start='fd00::10' end='fd00::20'/></dhcp></ip></network>")
        #expect(throws: VirError.self) { try Dnsmasq.config(for: v6, bridge: "br9", pidFile: "/p", leaseFile: "/l") }
    }

    @Test func leaseFileParsing() {
        let text = """
            1764255600 52:54:00:aa:bb:cc 192.168.150.57 tiny 01:52:54:00:aa:bb:cc
            0 52:54:00:AA:BB:DD 192.168.150.58 * *
            garbage line
            1764255600 not-a-mac not-an-ip x y
            duid 00:01:00:01:2c:d1:9f:21:52:54:00:12:34:56
            1764255700 1234 fd00::57 six 00:04:12
            """
        let leases = Dnsmasq.parseLeases(text, bridge: "virbr3", prefixV4: 24)
        #expect(leases.count == 3)
        #expect(leases[0] == NetworkDHCPLease(iface: "virbr3", expiryTime: 1764255600, type: .ipv4, mac: "52:54:00:aa:bb:cc",
                                              ipaddr: "192.168.150.57", prefix: 24, hostname: "tiny", clientid: "01:52:54:00:aa:bb:cc"))
        #expect(leases[1].mac == "52:54:00:aa:bb:dd" && leases[1].hostname == nil && leases[1].clientid == nil && leases[1].expiryTime == 0)
        #expect(leases[2].type == .ipv6 && leases[2].iaid == "1234" && leases[2].prefix == 64 && leases[2].mac == nil)
    }

    @Test func nftRulesPerMode() throws {
        let s = try #require(IPSubnet(address: "192.168.150.1", prefix: 24))
        let nat = try #require(Host.nftRules(table: "corral_virbr3", bridge: "virbr3", mode: "nat", subnets: [s], forwardDev: nil, portRange: nil))
        #expect(nat.hasPrefix("table ip corral_virbr3 {"))
        #expect(nat.contains("ip saddr 192.168.150.0/24 ip daddr != 192.168.150.0/24 meta l4proto { tcp, udp } masquerade to :1024-65535"))
        #expect(nat.contains("type nat hook postrouting priority srcnat"))
        #expect(nat.contains("oifname \"virbr3\" ip daddr 192.168.150.0/24 ct state established,related accept"))
        let route = try #require(Host.nftRules(table: "t", bridge: "virbr3", mode: "route", subnets: [s], forwardDev: "eth1", portRange: nil))
        #expect(!route.contains("masquerade") && route.contains("iifname \"virbr3\" oifname \"eth1\" ip saddr 192.168.150.0/24 accept"))
        let isolated = try #require(Host.nftRules(table: "t", bridge: "virbr3", mode: "none", subnets: [s], forwardDev: nil, portRange: nil))
        #expect(!isolated.contains("accept\n    iifname \"virbr3\" ip saddr") && isolated.contains("iifname \"virbr3\" reject"))
        #expect(Host.nftRules(table: "t", bridge: "virbr3", mode: "open", subnets: [s], forwardDev: nil, portRange: nil) == nil)
        #expect(Host.nftTable(bridge: "br-lab.1") == "corral_br_lab_1")
    }
}

@Suite struct NetworkManagerSessionTests {
    static let natXML = """
        <network><name>lab</name><forward mode='nat'/>
          <ip address='192.168.150.1' netmask='255.255.255.0'><dhcp><range start='192.168.150.100' end='192.168.150.200'/></dhcp></ip>
        </network>
        """

    @Test func defineStartDestroyUndefine() async throws {
        let root = TempRoot()
        let m = NetworkManager(root: root.path, mode: .session)
        let ref = try await m.define(xml: Self.natXML)
        #expect(FileManager.default.fileExists(atPath: "\(root.path)/etc/network/lab.xml"))
        let xml = try await m.xml(ref, flags: [])
        #expect(xml.contains("<uuid>\(ref.uuid.uuidString.lowercased())</uuid>"))
        #expect(xml.contains("<bridge name='virbr0' stp='on' delay='0'/>") && xml.contains("<mac address='52:54:00:"))
        #expect(try await m.listAll(flags: [.inactive]) == [ref])
        #expect(try await m.isActive(ref) == false)
        #expect(try await m.isPersistent(ref))

        try await m.start(ref)
        #expect(try await m.isActive(ref))
        #expect(try await m.xml(ref, flags: []).contains("<port start='1024' end='65535'/>"))
        #expect(try await !m.xml(ref, flags: .inactive).contains("<port"))
        await #expect(throws: VirError.self) { try await m.start(ref) }
        // A second manager on the same root (another process) sees the same state.
        let other = NetworkManager(root: root.path, mode: .session)
        #expect(try await other.listAll(flags: [.active]) == [ref])
        #expect(try await other.guestBackend(network: "lab") == .user(UserNetOptions(
            net: "192.168.150.0/24", host: "192.168.150.1", dhcpStart: "192.168.150.100", dns: "192.168.150.2")))
        #expect(try await m.dhcpLeases(ref, mac: nil).isEmpty)

        try await m.setAutostart(ref, true)
        #expect(try await m.listAll(flags: [.autostart]) == [ref])
        // Undefining an active network leaves it running as a transient one.
        try await m.undefine(ref)
        #expect(try await m.isActive(ref))
        #expect(try await !m.isPersistent(ref))
        #expect(try await m.listAll(flags: [.autostart]).isEmpty)
        try await m.destroy(ref)
        await #expect(throws: VirError.self) { try await m.lookup(name: "lab") }
    }

    /// The top of the address space and the smallest subnet: no overflow, a DHCP start inside the subnet.
    @Test func sessionOptionsForATopSlash29() async throws {
        let root = TempRoot()
        let m = NetworkManager(root: root.path, mode: .session)
        let ref = try await m.define(xml: """
            <network><name>top</name><ip address='255.255.255.249' prefix='29'/></network>
            """)
        try await m.start(ref)
        #expect(try await m.guestBackend(network: "top") == .user(UserNetOptions(
            net: "255.255.255.248/29", host: "255.255.255.249", dhcpStart: "255.255.255.252", dns: "255.255.255.250")))
        try await m.destroy(ref)
    }

    @Test func clashesAndRedefinition() async throws {
        let root = TempRoot()
        let m = NetworkManager(root: root.path, mode: .session)
        let a = try await m.define(xml: Self.natXML)
        // Redefining without uuid keeps the uuid, bridge and MAC.
        let before = try await m.xml(a, flags: [])
        let again = try await m.define(xml: Self.natXML.replacingOccurrences(of: "mode='nat'", with: "mode='route'"))
        #expect(again == a)
        let after = try await m.xml(a, flags: [])
        #expect(after.contains("mode='route'"))
        func line(_ s: String, _ tag: String) -> Substring? { s.split(separator: "\n").first { $0.contains(tag) } }
        #expect(line(before, "<mac") == line(after, "<mac") && line(before, "<bridge") == line(after, "<bridge"))
        // Same uuid, other name.
        let clash = "<network><name>other</name><uuid>\(a.uuid.uuidString)</uuid></network>"
        await #expect { try await m.define(xml: clash) } throws: { ($0 as? VirError)?.message.contains("already defined with uuid") == true }
        // Same name, other uuid.
        let clash2 = "<network><name>lab</name><uuid>\(UUID().uuidString)</uuid></network>"
        await #expect { try await m.define(xml: clash2) } throws: { ($0 as? VirError)?.message.contains("already exists with uuid") == true }
        // Explicit bridge name used by another network.
        let taken = "<network><name>b</name><bridge name='virbr0'/></network>"
        await #expect { try await m.define(xml: taken) } throws: { ($0 as? VirError)?.message.contains("already in use by network 'lab'") == true }
        // Automatic bridge names skip the ones in use.
        let c = try await m.define(xml: "<network><name>c</name></network>")
        #expect(try await m.bridgeName(c) == "virbr1")
        // Bad XML reaches the caller with the parser's message.
        await #expect { try await m.define(xml: "<network><name>x</name><forward mode='tunnel'/></network>") } throws: {
            ($0 as? VirError)?.message.contains("unknown forwarding type 'tunnel'") == true
        }
        // Transient: create starts at once, nothing persistent is written.
        let t = try await m.create(xml: "<network><name>t</name><ip address='10.77.0.1' prefix='24'/></network>")
        #expect(try await m.isActive(t))
        #expect(try await !m.isPersistent(t))
        #expect(!FileManager.default.fileExists(atPath: "\(root.path)/etc/network/t.xml"))
        await #expect(throws: VirError.self) { try await m.setAutostart(t, true) }
        try await m.destroy(t)
        #expect(try await m.listAll(flags: []).map(\.name) == ["c", "lab"])
    }

    @Test func sessionModeRefusesHostOnlyThings() async throws {
        let root = TempRoot()
        let m = NetworkManager(root: root.path, mode: .session)
        let b = try await m.define(xml: "<network><name>br</name><forward mode='bridge'/><bridge name='br0'/></network>")
        await #expect { try await m.start(b) } throws: { ($0 as? VirError)?.message.contains("needs the system network mode") == true }
        #expect(try await m.isActive(b) == false)
        await #expect { _ = try await m.createTap(bridge: "br0", guestMAC: nil) } throws: {
            ($0 as? VirError)?.message.contains("system network mode") == true
        }
        let small = try await m.define(xml: "<network><name>s</name><ip address='10.8.0.1' prefix='30'/></network>")
        await #expect { try await m.start(small) } throws: { ($0 as? VirError)?.message.contains("too small") == true }
        await #expect { _ = try await m.guestBackend(network: "s") } throws: { ($0 as? VirError)?.message.contains("not active") == true }
        #expect(try await m.defineDefaultNetworkIfFirstStart() == false)
    }

    /// An active system-mode network as start leaves it on disk; reading leases needs nothing else.
    @Test func leasesFromTheLeaseFileWithoutExpiredOnes() async throws {
        let root = TempRoot()
        let run = "\(root.path)/run/network"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        try """
            <network><name>x</name><uuid>6a1f0a3e-4a56-4f0b-9d3b-0e4e0f6f7a11</uuid><bridge name='virbr4'/>
            <ip address='10.5.0.1' prefix='16'><dhcp><range start='10.5.0.10' end='10.5.0.20'/></dhcp></ip></network>
            """.write(toFile: "\(run)/x.xml", atomically: true, encoding: .utf8)
        try #"{"mode":"system","dnsmasq":true}"#.write(toFile: "\(run)/x.json", atomically: true, encoding: .utf8)
        let future = Int(Date().timeIntervalSince1970) + 3600
        try """
            \(future) 52:54:00:00:00:0a 10.5.0.10 one *
            1000 52:54:00:00:00:0b 10.5.0.11 expired *
            0 52:54:00:00:00:0c 10.5.0.12 * *
            """.write(toFile: "\(run)/x.leases", atomically: true, encoding: .utf8)
        let m = NetworkManager(root: root.path, mode: .system)
        let ref = try await m.lookup(name: "x")
        let all = try await m.dhcpLeases(ref, mac: nil)
        #expect(all.map(\.ipaddr) == ["10.5.0.10", "10.5.0.12"])
        #expect(all.allSatisfy { $0.iface == "virbr4" && $0.prefix == 16 })
        #expect(await m.leases(forMAC: "52:54:00:00:00:0C", network: "x").map(\.ipaddr) == ["10.5.0.12"])
        #expect(await m.leases(forMAC: "52:54:00:00:00:0b", network: "x").isEmpty)
        #expect(await m.leases(forMAC: "52:54:00:00:00:0a", network: "nope").isEmpty)
    }

    @Test func defaultNetworkOnlyOnceInSystemMode() async throws {
        let root = TempRoot()
        let m = NetworkManager(root: root.path, mode: .system)
        #expect(try await m.defineDefaultNetworkIfFirstStart())
        let ref = try await m.lookup(name: "default")
        let xml = try await m.xml(ref, flags: [])
        #expect(xml.contains("<forward mode='nat'/>") && xml.contains("netmask='255.255.255.0'") && xml.contains("<range start='192.168."))
        #expect(try await m.autostart(ref))
        try await m.undefine(ref)
        #expect(try await m.defineDefaultNetworkIfFirstStart() == false)
        #expect(try await m.listAll(flags: []).isEmpty)
    }
}
