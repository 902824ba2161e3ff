import Foundation
import Testing
@testable import DomainXML

@Suite struct NetworkXMLTests {
    static let full = """
        <network ipv6='yes'>
          <name>lab</name>
          <uuid>b849191e-a2ff-4001-ae0c-39c2f36fa851</uuid>
          <metadata>
            <app:info xmlns:app='http://example.org/app'>kept</app:info>
          </metadata>
          <forward dev='eth0' mode='nat'>
            <nat>
              <address start='203.0.113.10' end='203.0.113.20'/>
              <port start='1024' end='65535'/>
            </nat>
            <interface dev='eth0'/>
          </forward>
          <bridge name='virbr7' stp='off' delay='2'/>
          <mac address='52:54:00:c7:53:6c'/>
          <domain name='lab.example' localOnly='yes'/>
          <dns>
            <forwarder addr='8.8.8.8'/>
            <forwarder domain='corp.example' addr='10.1.1.1'/>
            <txt name='example' value='kept verbatim'/>
            <host ip='192.168.50.5'>
              <hostname>db</hostname>
              <hostname>db-alias</hostname>
            </host>
          </dns>
          <ip address='192.168.50.1' netmask='255.255.255.0' localPtr='yes'>
            <tftp root='/srv/tftp'/>
            <dhcp>
              <range start='192.168.50.100' end='192.168.50.200'>
                <lease expiry='1' unit='hours'/>
              </range>
              <host mac='52:54:00:00:00:01' name='web' ip='192.168.50.10'/>
              <bootp file='pxelinux.0'/>
            </dhcp>
          </ip>
          <ip family='ipv6' address='2001:db8:ca2:2::1' prefix='64'/>
          <route address='192.168.222.0' prefix='24' gateway='192.168.50.2'/>
        </network>

        """

    @Test func parsesEveryModeledField() throws {
        let n = try NetworkDef(xml: Self.full)
        #expect(n.name == "lab")
        #expect(n.uuid?.uuidString.lowercased() == "b849191e-a2ff-4001-ae0c-39c2f36fa851")
        #expect(n.forwardMode == "nat")
        #expect(n.forward?.dev == "eth0")
        #expect(n.forward?.natPortStart == 1024 && n.forward?.natPortEnd == 65535)
        #expect(n.forward?.natAddressStart == "203.0.113.10")
        #expect(n.bridge == {
            var b = NetworkBridge(name: "virbr7"); b.stp = false; b.delay = 2; return b
        }())
        #expect(n.mac == "52:54:00:c7:53:6c")
        #expect(n.domain?.name == "lab.example" && n.domain?.localOnly == true)
        #expect(n.dns?.forwarders.map(\.addr) == ["8.8.8.8", "10.1.1.1"])
        #expect(n.dns?.hosts.first?.hostnames == ["db", "db-alias"])
        #expect(n.ips.count == 2)
        #expect(n.ipv4?.prefixLength == 24)
        #expect(n.ipv4?.dhcp?.ranges.map(\.start) == ["192.168.50.100"])
        #expect(n.ipv4?.dhcp?.hosts.first?.ip == "192.168.50.10")
        #expect(n.ips[1].prefixLength == 64 && !n.ips[1].isIPv4)
    }

    @Test func roundTripIsLossless() throws {
        let n = try NetworkDef(xml: Self.full)
        #expect(n.formatXML() == Self.full)
        #expect(try NetworkDef(xml: n.formatXML()) == n)
    }

    @Test func isolatedNetworkAndForwardWithoutModeMeanNat() throws {
        let isolated = try NetworkDef(xml: "<network><name>iso</name><ip address='10.9.0.1' prefix='24'/></network>")
        #expect(isolated.forwardMode == "none" && isolated.hasManagedBridge)
        let bare = try NetworkDef(xml: "<network><name>n</name><forward/></network>")
        #expect(bare.forwardMode == "nat")
        #expect(bare.formatXML() == "<network>\n  <name>n</name>\n  <forward/>\n</network>\n")
    }

    @Test func definingFillsInUUIDBridgeAndMAC() throws {
        var n = try NetworkDef(xml: "<network><name>n</name><forward mode='route'/><ip address='10.3.0.1' netmask='255.255.0.0'/></network>")
        n.applyDefaults { ["virbr0", "virbr1"].contains($0) }
        #expect(n.uuid != nil)
        #expect(n.bridge?.name == "virbr2" && n.bridge?.stp == true && n.bridge?.delay == 0)
        let mac = try #require(n.mac)
        #expect(mac.hasPrefix("52:54:00:") && mac.count == 17)
        let xml = n.formatXML()
        #expect(xml.contains("<bridge name='virbr2' stp='on' delay='0'/>"))
        #expect(xml.range(of: "<bridge")!.lowerBound < xml.range(of: "<mac")!.lowerBound)
        // An explicit template and explicit values are respected.
        var t = try NetworkDef(xml: "<network><name>t</name><bridge name='lab%d' stp='off'/></network>")
        t.applyDefaults { $0 == "lab0" }
        #expect(t.bridge?.name == "lab1" && t.bridge?.stp == false)
    }

    @Test(arguments: [
        ("<network/>", "missing name"),
        ("<network><name>a/b</name></network>", "cannot contain '/'"),
        ("<domain><name>x</name></domain>", "expected root element <network>"),
        ("<network><name>x</name><uuid>nope</uuid></network>", "malformed uuid"),
        ("<network><name>x</name><forward mode='tunnel'/></network>", "unknown forwarding type 'tunnel'"),
        ("<network><name>x</name><bridge name='this-name-is-far-too-long'/></network>", "invalid bridge name"),
        ("<network><name>x</name><bridge stp='maybe'/></network>", "bridge stp"),
        ("<network><name>x</name><bridge name='-x'/></network>", "invalid bridge name '-x'"),
        ("<network><name>x</name><forward dev='eth0\" accept'/></network>", "invalid forward dev"),
        ("<network><name>x</name><domain name='a,b'/></network>", "invalid domain name 'a,b'"),
        ("<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp><host mac='52:54:00:00:00:01' name='a b'/></dhcp></ip></network>",
         "invalid DHCP host name 'a b'"),
        ("<network><name>x</name><mac address='zz'/></network>", "invalid mac address 'zz'"),
        ("<network><name>x</name><mac address='01:00:5e:00:00:01'/></network>", "multicast"),
        ("<network><name>x</name><ip address='10.0.0.1' netmask='255.255.255.0' prefix='24'/></network>", "both a prefix and a netmask"),
        ("<network><name>x</name><ip address='10.0.0.1' netmask='255.0.255.0'/></network>", "invalid netmask"),
        ("<network><name>x</name><ip address='10.0.0.300'/></network>", "invalid address '10.0.0.300'"),
        ("<network><name>x</name><ip family='ipv6' address='10.0.0.1'/></network>", "family 'ipv6'"),
        ("<network><name>x</name><ip address='10.0.0.1' prefix='33'/></network>", "invalid prefix"),
        ("<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.1.2' end='10.0.1.9'/></dhcp></ip></network>",
         "not entirely within network 10.0.0.1/24"),
        ("<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.9' end='10.0.0.2'/></dhcp></ip></network>",
         "is reversed"),
        ("<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp><host mac='52:54:00:00:00:01' ip='10.1.0.5'/></dhcp></ip></network>",
         "static host address '10.1.0.5'"),
        ("<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp/></ip><ip address='10.1.0.1' prefix='24'><dhcp/></ip></network>",
         "multiple IPv4 dhcp"),
        ("<network><name>x</name><forward mode='nat'><nat><port start='9' end='2'/></nat></forward></network>", "nat port range"),
        ("<network><name>x</name><forward mode='route'><nat/></forward></network>", "only be used when"),
        ("<network><name>x</name><dns><host ip='10.0.0.5'/></dns></network>", "has no <hostname>"),
        ("<network><name>x</name><forward mode='open'/></network>", "needs at least one <ip>"),
    ])
    func rejectsBadInputWithAClearError(xml: String, message: String) {
        do {
            _ = try NetworkDef(xml: xml)
            Issue.record("accepted: \(xml)")
        } catch {
            #expect(error.message.contains(message), "\(error.message)")
        }
    }

    @Test func subnetsContainAndOverlap() throws {
        let a = try #require(IPSubnet(address: "192.168.122.1", prefix: 24))
        #expect(a.description == "192.168.122.0/24")
        #expect(a.contains("192.168.122.254") && !a.contains("192.168.123.1"))
        #expect(a.overlaps(try #require(IPSubnet(address: "192.168.0.0", prefix: 16))))
        #expect(!a.overlaps(try #require(IPSubnet(address: "192.168.123.0", prefix: 24))))
        let v6 = try #require(IPSubnet(address: "2001:db8:ca2:2::1", prefix: 64))
        #expect(v6.description == "2001:db8:ca2:2::/64")
        #expect(v6.contains("2001:db8:ca2:2::99") && !v6.overlaps(a))
    }

    @Test func interfacePortForwardsExpandRanges() throws {
        let dom = try Domain(xml: """
            <domain type='qemu'><name>d</name><memory>65536</memory><os><type>hvm</type></os><devices>
              <interface type='user'>
                <portForward proto='tcp' address='127.0.0.1'>
                  <range start='2222' to='22'/>
                  <range start='8000' end='8003' to='80'/>
                  <range start='8001' exclude='yes'/>
                </portForward>
                <portForward proto='udp'><range start='5353'/></portForward>
              </interface>
            </devices></domain>
            """)
        let nic = try #require(dom.devices.interfaces.first)
        let fwd = try nic.portForwards()
        #expect(fwd.map { "\($0.proto):\($0.address ?? "*"):\($0.hostPort)-\($0.guestPort)" } == [
            "tcp:127.0.0.1:2222-22", "tcp:127.0.0.1:8000-80", "tcp:127.0.0.1:8002-82", "tcp:127.0.0.1:8003-83", "udp:*:5353-5353",
        ])
        // Kept verbatim in the domain XML.
        #expect(dom.formatXML().contains("<range start='2222' to='22'/>"))
        var bad = nic
        bad.extra.children = [.element(name: "portForward", attributes: [XMLAttribute("proto", "sctp")], children: [])]
        #expect(throws: DomainXMLError.self) { try bad.portForwards() }
    }
}
