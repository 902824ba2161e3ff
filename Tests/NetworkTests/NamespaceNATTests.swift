import Foundation
import Hypervisor
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import HostNetworks
@testable import RemoteProtocol

// The real thing, inside a network namespace of its own: corrald runs under `ip netns exec` with a
// temporary root and --network-mode system, a NAT network gets a bridge, dnsmasq and nftables
// rules there, and the tiny guest on it gets a DHCP lease. The host's own interfaces are never touched.

enum NetTestEnv {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    static var corrald: String? {
        [Bundle.main.bundleURL.appendingPathComponent("corrald").path, "\(packageRoot)/.build/debug/corrald"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The tiny guest's directory: $CORRAL_TINY_GUEST_DIR, else built (cached) into .build/tiny-guest-net.
    static let tinyGuestDir: String? = {
        if let d = ProcessInfo.processInfo.environment["CORRAL_TINY_GUEST_DIR"], FileManager.default.fileExists(atPath: "\(d)/vmlinuz") { return d }
        let dir = "\(packageRoot)/.build/tiny-guest-net"
        guard (try? sh(["/bin/bash", "\(packageRoot)/scripts/tiny-guest.sh", dir]))?.status == 0 else { return nil }
        return dir
    }()

    static var ready: Bool {
        geteuid() == 0 && corrald != nil
            && ["/usr/sbin/dnsmasq", "/usr/sbin/nft", "/usr/bin/qemu-system-x86_64"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs a command and returns its status and combined output. Spawned with an empty signal
    /// mask: this process blocks SIGALRM and friends, and a child inheriting that (busybox ping's
    /// -W timer) would wait forever. Output goes through a temporary file, so a daemon the command
    /// leaves behind cannot hold a pipe open.
    @discardableResult
    static func sh(_ argv: [String]) throws -> (status: Int32, out: String) {
        let outPath = NSTemporaryDirectory() + "corral-nettest-out.\(UUID().uuidString)"
        defer { unlink(outPath) }
        let status = try Host.spawnAndWait(argv, stdin: "/dev/null", stdout: outPath, stderr: outPath)
        let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        return (status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f), out)
    }
}

/// A network namespace named corral-test-<random>, deleted (with everything in it) at the end.
final class TestNamespace {
    let name = "corral-test-\(UUID().uuidString.prefix(8).lowercased())"
    init() throws {
        let r = try NetTestEnv.sh(["/usr/sbin/ip", "netns", "add", name])
        guard r.status == 0 else { throw VirError(.systemError, "ip netns add failed: \(r.out)") }
        try exec(["/usr/sbin/ip", "link", "set", "lo", "up"])
    }
    @discardableResult
    func exec(_ argv: [String]) throws -> String {
        let r = try NetTestEnv.sh(["/usr/sbin/ip", "netns", "exec", name] + argv)
        guard r.status == 0 else { throw VirError(.systemError, "\(argv.joined(separator: " ")) in \(name) failed: \(r.out)") }
        return r.out
    }
    func linkExists(_ dev: String) -> Bool { (try? exec(["/usr/sbin/ip", "link", "show", "dev", dev])) != nil }
    deinit { _ = try? NetTestEnv.sh(["/usr/sbin/ip", "netns", "del", name]) }
}

/// corrald inside the namespace, stopped by its pid at the end.
final class NamespacedDaemon {
    let process = Process()
    let root: String
    let log: String
    var socket: String { "\(root)/run/libvirt-sock" }

    /// `shellPrefix`: a shell snippet run in the namespace before exec'ing corrald (e.g. a private mount).
    init(_ ns: TestNamespace, root: String, shellPrefix: String? = nil) throws {
        self.root = root
        log = "\(root).corrald.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        let daemon = [NetTestEnv.corrald ?? "corrald", "--root", root, "--network-mode", "system", "--no-autostart"]
        if let shellPrefix {
            process.arguments = ["netns", "exec", ns.name, "/usr/bin/unshare", "--mount", "--propagation", "private",
                                 "/bin/sh", "-c", "\(shellPrefix) && exec \"$0\" \"$@\""] + daemon
        } else {
            process.arguments = ["netns", "exec", ns.name] + daemon
        }
        let h = FileHandle(forWritingAtPath: log)
        process.standardOutput = h
        process.standardError = h
        try process.run()
    }

    func connect() async throws -> RemoteDriver {
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: socket) {
            guard process.isRunning, Date() < deadline else {
                throw VirError(.systemError, "corrald did not come up: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        return try await RemoteDriver.connect(.unix(path: socket), name: "qemu:///system", keepalive: nil)
    }

    /// Stops corrald, then whatever it left running under this root (guests and networks outlive
    /// the daemon, as in libvirt): QEMU and dnsmasq, by the pids recorded in the root.
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        process.waitUntilExit()
        let fm = FileManager.default
        var pidFiles = ((try? fm.contentsOfDirectory(atPath: "\(root)/run/qemu")) ?? []).map { "\(root)/run/qemu/\($0)/qemu.pid" }
        pidFiles += ((try? fm.contentsOfDirectory(atPath: "\(root)/run/network")) ?? []).filter { $0.hasSuffix(".pid") }.map { "\(root)/run/network/\($0)" }
        for file in pidFiles {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8),
                  let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else { continue }
            kill(pid, SIGKILL)
        }
    }
}

/// A guest console's output, collected in the background.
final class ConsoleText: Sendable {
    let stream: any ByteStream
    private let text = Mutex("")
    init(_ stream: any ByteStream) {
        self.stream = stream
        Task { [self] in
            while let chunk = try? await stream.read() { text.withLock { $0 += String(decoding: chunk, as: UTF8.self) } }
        }
    }
    /// Waits for `needle` after what earlier waits consumed, and consumes through it.
    func waitFor(_ needle: String, seconds: Double) async -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            let found = text.withLock { t -> Bool in
                guard let r = t.range(of: needle) else { return false }
                t.removeSubrange(..<r.upperBound)
                return true
            }
            if found { return true }
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        return false
    }
    func send(_ s: String) async throws { try await stream.write(Array(s.utf8)) }
}

@Suite(.enabled(if: NetTestEnv.ready, "needs root, corrald, dnsmasq, nft and QEMU"), .serialized)
struct NamespaceNATTests {
    static let natXML = """
        <network>
          <name>testnat</name>
          <forward mode='nat'/>
          <bridge name='virbr9'/>
          <ip address='192.168.150.1' netmask='255.255.255.0'>
            <dhcp>
              <range start='192.168.150.100' end='192.168.150.120'/>
            </dhcp>
          </ip>
        </network>
        """

    /// The tiny guest with its NIC on `network` and no data disk.
    static func guestXML(dir: String, network: String, mac: String) -> String {
        """
        <domain type='qemu'>
          <name>tinynet</name>
          <memory unit='MiB'>256</memory>
          <vcpu>1</vcpu>
          <os>
            <type arch='x86_64' machine='pc'>hvm</type>
            <kernel>\(dir)/vmlinuz</kernel>
            <initrd>\(dir)/initrd.img</initrd>
            <cmdline>console=ttyS0 quiet panic=-1 mitigations=off cryptomgr.notests tsc=reliable no_timer_check i8042.noaux</cmdline>
          </os>
          <features><acpi/><apic/></features>
          <devices>
            <emulator>/usr/bin/qemu-system-x86_64</emulator>
            <interface type='network'>
              <mac address='\(mac)'/>
              <source network='\(network)'/>
              <model type='virtio'/>
            </interface>
            <serial type='pty'><target port='0'/></serial>
            <console type='pty'><target type='serial' port='0'/></console>
          </devices>
        </domain>
        """
    }

    @Test func natNetworkGivesTheGuestALease() async throws {
        let guestDir = try #require(NetTestEnv.tinyGuestDir, "the tiny guest could not be built")
        let ns = try TestNamespace()
        let root = "/tmp/corral-nettest-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: root); try? FileManager.default.removeItem(atPath: "\(root).corrald.log") }
        let daemon = try NamespacedDaemon(ns, root: root)
        defer { daemon.stop() }
        let d = try await daemon.connect()

        // The default network was defined (autostart; --no-autostart keeps it down here) on this first system-mode start.
        let def = try await d.lookupNetwork(name: "default")
        #expect(try await d.networkAutostart(def))

        let net = try await d.defineNetwork(xml: Self.natXML, flags: 0)
        try await d.startNetwork(net)
        #expect(try await d.networkIsActive(net))
        #expect(try await d.networkBridgeName(net) == "virbr9")
        #expect(ns.linkExists("virbr9") && !FileManager.default.fileExists(atPath: "/sys/class/net/virbr9"))
        #expect(try ns.exec(["/usr/sbin/ip", "-4", "addr", "show", "dev", "virbr9"]).contains("192.168.150.1/24"))
        let rules = try ns.exec(["/usr/sbin/nft", "list", "table", "ip", "corral_virbr9"])
        #expect(rules.contains("masquerade"))
        let dnsmasqPid = try #require(Int32((try? String(contentsOfFile: "\(root)/run/network/testnat.pid", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""))
        #expect(kill(dnsmasqPid, 0) == 0)

        // A bridge name that exists, and an overlapping subnet: refused, nothing left behind.
        try ns.exec(["/usr/sbin/ip", "link", "add", "taken0", "type", "bridge"])
        let taken = try await d.defineNetwork(xml: "<network><name>taken</name><bridge name='taken0'/><ip address='10.20.0.1' prefix='24'/></network>", flags: 0)
        await #expect { try await d.startNetwork(taken) } throws: { "\($0)".contains("bridge name 'taken0'") && "\($0)".contains("already in use") }
        let overlap = try await d.defineNetwork(xml: "<network><name>overlap</name><bridge name='virbr8'/><forward/><ip address='192.168.150.129' prefix='25'/></network>", flags: 0)
        await #expect { try await d.startNetwork(overlap) } throws: { "\($0)".contains("overlaps network 'testnat'") }
        #expect(!ns.linkExists("virbr8"))
        #expect((try? ns.exec(["/usr/sbin/nft", "list", "table", "ip", "corral_virbr8"])) == nil)
        #expect(try await !d.networkIsActive(overlap))

        // The guest: a vnet tap on the bridge, and a lease from dnsmasq.
        let mac = "52:54:00:5e:ed:01"
        let dom = try await d.startDomain(try await d.defineDomain(xml: Self.guestXML(dir: guestDir, network: "testnat", mac: mac), validate: true), flags: [])
        let live = try await d.domainXML(dom, flags: [])
        #expect(live.contains("<target dev='vnet0'/>"))
        #expect(try ns.exec(["/usr/sbin/ip", "link", "show", "dev", "vnet0"]).contains("master virbr9"))

        var leases: [NetworkDHCPLease] = []
        let deadline = Date().addingTimeInterval(120)
        while leases.isEmpty && Date() < deadline {
            try await Task.sleep(nanoseconds: 500_000_000)
            leases = try await d.networkDHCPLeases(net, mac: nil)
        }
        let lease = try #require(leases.first, "no DHCP lease within 120 s; dnsmasq config:\n\((try? String(contentsOfFile: "\(root)/run/network/testnat.conf", encoding: .utf8)) ?? "")")
        #expect(lease.mac == mac && lease.iface == "virbr9" && lease.prefix == 24 && lease.type == .ipv4)
        #expect(lease.ipaddr.hasPrefix("192.168.150.1") && (100...120).contains(Int(lease.ipaddr.split(separator: ".").last ?? "") ?? 0))
        #expect(try await d.networkDHCPLeases(net, mac: "52:54:00:00:00:99").isEmpty)

        let addrs = try await d.interfaceAddresses(dom, source: .lease, flags: 0)
        #expect(addrs == [DomainInterfaceAddresses(name: "vnet0", hwaddr: mac, addrs: [DomainIPAddress(type: .ipv4, addr: lease.ipaddr, prefix: 24)])])
        await #expect { _ = try await d.interfaceAddresses(dom, source: .agent, flags: 0) } throws: { "\($0)".contains("not supported yet") }

        // The guest answers on its leased address from the bridge's side.
        #expect((try? ns.exec(["/bin/busybox", "ping", "-c", "3", "-W", "5", lease.ipaddr])) != nil)

        // Real virsh sees the same lease and address over the remote protocol.
        let uri = "qemu+unix:///system?socket=\(daemon.socket)"
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/virsh") {
            let leasesOut = try NetTestEnv.sh(["/usr/bin/virsh", "-c", uri, "net-dhcp-leases", "testnat"])
            #expect(leasesOut.status == 0 && leasesOut.out.contains(mac) && leasesOut.out.contains("\(lease.ipaddr)/24"), "\(leasesOut.out)")
            let ifaddr = try NetTestEnv.sh(["/usr/bin/virsh", "-c", uri, "domifaddr", "tinynet"])
            #expect(ifaddr.status == 0 && ifaddr.out.contains("vnet0") && ifaddr.out.contains("\(lease.ipaddr)/24"), "\(ifaddr.out)")
        }

        // NAT: an "uplink" namespace with no route back to the guest subnet still gets answers,
        // because the guest's packets leave masqueraded as the namespace's own address.
        let uplink = try TestNamespace()
        try ns.exec(["/usr/sbin/ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1"])
        try ns.exec(["/usr/sbin/ip", "link", "set", "up1", "netns", uplink.name])
        try ns.exec(["/usr/sbin/ip", "addr", "add", "198.51.100.1/24", "dev", "up0"])
        try ns.exec(["/usr/sbin/ip", "link", "set", "up0", "up"])
        try uplink.exec(["/usr/sbin/ip", "addr", "add", "198.51.100.2/24", "dev", "up1"])
        try uplink.exec(["/usr/sbin/ip", "link", "set", "up1", "up"])
        let console = ConsoleText(try await d.openConsole(dom, devName: nil, force: false))
        try await console.send("\n")
        #expect(await console.waitFor("tiny# ", seconds: 60))
        // The echoed command line shows "NAT-$((40+2))", only the shell's output "NAT-42".
        try await console.send("ping -c 3 -W 3 198.51.100.2 >/dev/null && echo NAT-$((40+2))\n")
        #expect(await console.waitFor("NAT-42", seconds: 30))

        // Stopping the guest removes its tap; destroying the network removes bridge, rules and dnsmasq.
        try await d.destroyDomain(dom, flags: 0)
        #expect(!ns.linkExists("vnet0"))
        try await d.destroyNetwork(net)
        #expect(!ns.linkExists("virbr9"))
        #expect((try? ns.exec(["/usr/sbin/nft", "list", "table", "ip", "corral_virbr9"])) == nil)
        var gone = false
        for _ in 0..<50 where !gone { gone = kill(dnsmasqPid, 0) != 0; if !gone { try await Task.sleep(nanoseconds: 50_000_000) } }
        #expect(gone)
        try await d.undefineDomain(dom, flags: 0)
        await d.close()
    }

    /// Without dnsmasq (hidden by a private bind mount, for this daemon only) a network with DHCP
    /// does not start, says why, and leaves no bridge or rules behind.
    @Test func missingDnsmasqIsAClearErrorAndNothingIsLeft() async throws {
        let ns = try TestNamespace()
        let root = "/tmp/corral-nettest-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: root); try? FileManager.default.removeItem(atPath: "\(root).corrald.log") }
        let daemon = try NamespacedDaemon(ns, root: root, shellPrefix: "mount --bind /dev/null /usr/sbin/dnsmasq")
        defer { daemon.stop() }
        let d = try await daemon.connect()
        let net = try await d.defineNetwork(xml: Self.natXML, flags: 0)
        await #expect { try await d.startNetwork(net) } throws: { "\($0)".contains("dnsmasq is not installed") }
        #expect(try await !d.networkIsActive(net))
        #expect(!ns.linkExists("virbr9"))
        #expect((try? ns.exec(["/usr/sbin/nft", "list", "table", "ip", "corral_virbr9"])) == nil)
        // The host's dnsmasq was never hidden from anyone else.
        #expect(FileManager.default.isExecutableFile(atPath: "/usr/sbin/dnsmasq"))
        await d.close()
    }
}
