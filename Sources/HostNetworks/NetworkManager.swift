import Foundation
import DomainXML
import Hypervisor

// Module Network: libvirt's network driver for one state root. Network configs live in
// ROOT/etc/network (NAME.xml, autostart/NAME), runtime state (live XML, dnsmasq config, leases,
// pid) in ROOT/run/network (layout in NetworkFiles.swift). The QEMU driver owns one
// NetworkManager and forwards to it. Every change holds one flock, so several processes may
// share a root.

/// How networks reach the host, as libvirt's system and session daemons differ.
public enum NetworkMode: String, Sendable {
    /// Privileged: a Linux bridge per network, dnsmasq for DHCP/DNS, nftables NAT; guests on tap devices.
    case system
    /// Unprivileged: each guest NIC on a network gets QEMU user-mode networking shaped by the network's XML.
    case session
}

/// What a guest NIC on a network is plugged into.
public enum GuestNetBackend: Sendable, Equatable {
    /// System mode: a tap device enslaved to this bridge.
    case bridge(String)
    /// Session mode: QEMU user networking with these options.
    case user(UserNetOptions)
}

/// QEMU `-netdev user` options that reproduce a network's addressing in user mode.
public struct UserNetOptions: Sendable, Equatable {
    public var net: String?          // 192.168.122.0/24
    public var host: String?         // the network's own address, the guest's gateway
    public var dhcpStart: String?
    public var dns: String?
    public init(net: String? = nil, host: String? = nil, dhcpStart: String? = nil, dns: String? = nil) {
        self.net = net; self.host = host; self.dhcpStart = dhcpStart; self.dns = dns
    }
}

/// The virtual networks of one state root.
public actor NetworkManager {
    public let root: String
    public let mode: NetworkMode
    let paths: NetworkPaths

    public init(root: String, mode: NetworkMode) {
        self.root = root
        self.mode = mode
        paths = NetworkPaths(root: root)
    }

    // MARK: Reading state

    struct Entry {
        var name: String
        var config: NetworkDef?
        var live: NetworkDef?
        var uuid: UUID { (live ?? config)?.uuid ?? UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)) }
        var ref: NetworkRef { NetworkRef(name: name, uuid: uuid) }
        var isActive: Bool { live != nil }
        var current: NetworkDef? { live ?? config }
    }

    private func load(_ path: String) -> NetworkDef? {
        guard let text = Files.read(path) else { return nil }
        return try? NetworkDef(xml: text)
    }

    /// A network whose recorded start predates the host's last boot is inactive (its host state is gone).
    private func liveDef(_ name: String) -> NetworkDef? {
        guard let def = load(paths.live(name)) else { return nil }
        if let st = status(name), let boot = st.bootID, boot != HostIdentity.bootID { return nil }
        return def
    }

    func status(_ name: String) -> NetworkStatus? {
        guard let text = Files.read(paths.status(name)) else { return nil }
        return try? JSONDecoder().decode(NetworkStatus.self, from: Data(text.utf8))
    }

    func entry(_ name: String) -> Entry? {
        guard !name.isEmpty, !name.contains("/") else { return nil }
        let e = Entry(name: name, config: load(paths.config(name)), live: liveDef(name))
        return e.config == nil && e.live == nil ? nil : e
    }

    func entries() -> [Entry] {
        let names = Set(NetworkPaths.names(in: paths.configDir)).union(NetworkPaths.names(in: paths.runDir))
        return names.sorted().compactMap(entry)
    }

    func resolve(_ ref: NetworkRef) throws -> Entry {
        if let e = entry(ref.name), e.uuid == ref.uuid { return e }
        if let e = entries().first(where: { $0.uuid == ref.uuid }) { return e }
        throw VirError.noNetwork(uuid: ref.uuid.uuidString.lowercased())
    }

    private func withLock<T>(_ body: () async throws -> T) async throws -> T {
        try paths.create()
        let lock = try await NetworkLock.acquire(paths.lock)
        defer { lock.release() }
        return try await body()
    }

    // MARK: Lookup and listing

    public func listAll(flags: ListNetworksFlags) -> [NetworkRef] {
        entries().filter { e in
            func group(_ bits: ListNetworksFlags, _ matches: [(ListNetworksFlags, Bool)]) -> Bool {
                flags.intersection(bits).isEmpty || matches.contains { flags.contains($0.0) && $0.1 }
            }
            let auto = Files.exists(paths.autostart(e.name))
            return group([.active, .inactive], [(.active, e.isActive), (.inactive, !e.isActive)])
                && group([.persistent, .transient], [(.persistent, e.config != nil), (.transient, e.config == nil)])
                && group([.autostart, .noAutostart], [(.autostart, auto), (.noAutostart, !auto)])
        }.map(\.ref)
    }

    public func lookup(name: String) throws -> NetworkRef {
        guard let e = entry(name) else { throw VirError.noNetwork(name: name) }
        return e.ref
    }

    public func lookup(uuid: UUID) throws -> NetworkRef {
        guard let e = entries().first(where: { $0.uuid == uuid }) else { throw VirError.noNetwork(uuid: uuid.uuidString.lowercased()) }
        return e.ref
    }

    // MARK: Define / undefine

    /// Parses, validates and fills in libvirt's defaults; `existing` keeps a redefined network's uuid, bridge and MAC.
    func prepare(_ xml: String, existing: [Entry]) throws -> NetworkDef {
        var def: NetworkDef
        do { def = try NetworkDef(xml: xml) } catch {
            throw VirError(.xmlError, error.message, domain: .net)
        }
        let old = existing.first { $0.name == def.name }?.current
        if def.uuid == nil { def.uuid = old?.uuid }
        if let uuid = def.uuid, let other = existing.first(where: { $0.uuid == uuid && $0.name != def.name }) {
            throw VirError(.operationFailed, "operation failed: network '\(other.name)' is already defined with uuid \(uuid.uuidString.lowercased())", domain: .net)
        }
        if let old, let uuid = def.uuid, let oldUUID = old.uuid, uuid != oldUUID {
            throw VirError(.operationFailed, "operation failed: network '\(def.name)' already exists with uuid \(oldUUID.uuidString.lowercased())", domain: .net)
        }
        if def.hasManagedBridge, def.bridge?.name == nil, let b = old?.bridge?.name {
            if def.bridge == nil { def.bridge = NetworkBridge() }
            def.bridge?.name = b
        }
        if def.mac == nil { def.mac = old?.mac }
        let others = existing.filter { $0.name != def.name }
        let usedBridges = Set(others.flatMap { [$0.config?.bridge?.name, $0.live?.bridge?.name].compactMap { $0 } })
        let checkHost = mode == .system
        def.applyDefaults { usedBridges.contains($0) || (checkHost && Host.interfaceExists($0)) }
        if def.hasManagedBridge, let b = def.bridge?.name, let other = others.first(where: {
            $0.config?.bridge?.name == b || $0.live?.bridge?.name == b
        }) {
            throw VirError(.operationFailed, "operation failed: bridge name '\(b)' already in use by network '\(other.name)'", domain: .net)
        }
        return def
    }

    public func define(xml: String) async throws -> NetworkRef {
        try await withLock {
            let def = try prepare(xml, existing: entries())
            try Files.writeAtomically(def.formatXML(), to: paths.config(def.name))
            return NetworkRef(name: def.name, uuid: def.uuid ?? UUID())
        }
    }

    public func undefine(_ ref: NetworkRef) async throws {
        try await withLock {
            let e = try resolve(ref)
            guard e.config != nil else {
                throw VirError(.operationInvalid, "Requested operation is not valid: cannot undefine transient network", domain: .net)
            }
            // An active network stays up as a transient one, as in libvirt.
            Files.remove(paths.autostart(e.name))
            Files.remove(paths.config(e.name))
        }
    }

    // MARK: Start / destroy

    public func start(_ ref: NetworkRef) async throws {
        try await withLock {
            let e = try resolve(ref)
            guard !e.isActive else {
                throw VirError(.operationInvalid, "Requested operation is not valid: network is already active", domain: .net)
            }
            guard let def = e.config else { throw VirError.noNetwork(name: e.name) }
            try startLocked(def)
        }
    }

    /// virNetworkCreateXML: a transient network, started.
    public func create(xml: String) async throws -> NetworkRef {
        try await withLock {
            let all = entries()
            let def = try prepare(xml, existing: all)
            if let same = all.first(where: { $0.name == def.name }) {
                if same.isActive {
                    throw VirError(.operationInvalid, "Requested operation is not valid: network '\(def.name)' is already active", domain: .net)
                }
                throw VirError(.operationFailed, "operation failed: network '\(def.name)' already exists with uuid \(same.uuid.uuidString.lowercased())", domain: .net)
            }
            try startLocked(def)
            return NetworkRef(name: def.name, uuid: def.uuid ?? UUID())
        }
    }

    /// Sets up the host side (system mode) and writes the live XML; on any failure undoes what it did.
    private func startLocked(_ def: NetworkDef) throws {
        var live = def
        if live.forwardMode == "nat" {
            // The live XML shows the masquerade port range libvirt applies.
            if live.forward?.natPortStart == nil { live.forward?.natPortStart = 1024; live.forward?.natPortEnd = 65535 }
        }
        var st = NetworkStatus(mode: mode.rawValue, bridge: nil, nftTable: nil, dnsmasq: false,
                               netns: HostIdentity.netns, bootID: HostIdentity.bootID)
        if mode == .system {
            do {
                try setUpHost(live, status: &st)
            } catch {
                tearDown(def.name, st)
                throw error
            }
        } else {
            try checkSessionNetwork(def)
        }
        do {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try Files.writeAtomically(String(decoding: try enc.encode(st), as: UTF8.self), to: paths.status(def.name))
            // Written last: its presence is what "active" means.
            try Files.writeAtomically(live.formatXML(), to: paths.live(def.name))
        } catch {
            tearDown(def.name, st)
            Files.remove(paths.status(def.name))
            throw error
        }
    }

    private func setUpHost(_ def: NetworkDef, status st: inout NetworkStatus) throws {
        switch def.forwardMode {
        case "nat", "route", "open", "none": break
        case "bridge":
            // Guests join an existing host bridge: nothing to set up, but it must be there.
            guard let b = def.bridge?.name, Host.interfaceExists(b) else {
                throw VirError(.operationFailed, "operation failed: bridge '\(def.bridge?.name ?? def.forward?.dev ?? "?")' of network '\(def.name)' does not exist on the host", domain: .net)
            }
            return
        default:
            throw VirError(.configUnsupported, "unsupported configuration: forward mode '\(def.forwardMode)' of network '\(def.name)' is not supported yet", domain: .net)
        }
        guard let bridge = def.bridge?.name else {
            throw VirError(.internalError, "internal error: network '\(def.name)' has no bridge name", domain: .net)
        }
        // Check everything before touching the host, so a refusal leaves nothing behind.
        if Host.interfaceExists(bridge) {
            throw VirError(.operationFailed, "operation failed: bridge name '\(bridge)' of network '\(def.name)' is already in use by a host interface", domain: .net)
        }
        try checkSubnets(def)
        let needsDnsmasq = def.ips.contains { $0.isIPv4 }
        let dnsmasq = Dnsmasq.binary
        if needsDnsmasq && dnsmasq == nil {
            throw VirError(.systemError, "Cannot start network '\(def.name)': dnsmasq is not installed (install Debian's dnsmasq-base); it serves the network's DHCP and DNS", domain: .net)
        }
        let table = Host.nftTable(bridge: bridge)
        let rules = Host.nftRules(table: table, bridge: bridge, mode: def.forwardMode, subnets: def.ips.compactMap(\.subnet),
                                  forwardDev: def.forward?.dev,
                                  portRange: def.forward?.natPortStart.map { ($0, def.forward?.natPortEnd ?? 65535) })
        if rules != nil && Host.nft == nil {
            throw VirError(.systemError, "Cannot start network '\(def.name)': nft (nftables) is not installed; it sets up the network's NAT and forwarding", domain: .net)
        }
        let conf = try needsDnsmasq
            ? Dnsmasq.config(for: def, bridge: bridge, pidFile: paths.dnsmasqPid(def.name), leaseFile: paths.leases(def.name))
            : nil

        try Host.createBridge(bridge, mac: def.mac, stp: def.bridge?.stp ?? true, delay: def.bridge?.delay ?? 0)
        st.bridge = bridge
        for ip in def.ips { try Host.addAddress(ip, to: bridge) }
        try Host.setUp(bridge)
        if let rules {
            if ["nat", "route"].contains(def.forwardMode) { try Host.enableIPv4Forwarding() }
            Host.deleteTable(table)   // a leftover from a crashed run of the same network
            try Host.loadRules(rules)
            st.nftTable = table
        }
        if let conf, let dnsmasq {
            try Files.writeAtomically(conf, to: paths.dnsmasqConf(def.name))
            Files.remove(paths.dnsmasqPid(def.name))
            if !Files.exists(paths.leases(def.name)) { try Files.writeAtomically("", to: paths.leases(def.name)) }
            st.dnsmasq = true
            // dnsmasq daemonizes once it has bound its sockets and written the pid file; a failure exits non-zero.
            try Host.run([dnsmasq, "--conf-file=\(paths.dnsmasqConf(def.name))"])
            guard Host.readPid(paths.dnsmasqPid(def.name)) != nil else {
                throw VirError(.systemError, "dnsmasq for network '\(def.name)' did not write its pid file \(paths.dnsmasqPid(def.name))", domain: .net)
            }
        }
    }

    /// Refuses a subnet that overlaps another active network of this root or a route already on the host.
    private func checkSubnets(_ def: NetworkDef) throws {
        let mine = def.ips.compactMap(\.subnet)
        for other in entries() where other.name != def.name {
            guard let live = other.live else { continue }
            for s in live.ips.compactMap(\.subnet) {
                if let m = mine.first(where: { $0.overlaps(s) }) {
                    throw VirError(.operationFailed, "operation failed: network '\(def.name)' subnet \(m) overlaps network '\(other.name)' (\(s))", domain: .net)
                }
            }
        }
        for (iface, s) in Host.ipv4Routes() {
            if let m = mine.first(where: { $0.overlaps(s) }) {
                throw VirError(.operationFailed, "operation failed: network '\(def.name)' subnet \(m) is already in use by interface \(iface) (route \(s))", domain: .net)
            }
        }
    }

    private func checkSessionNetwork(_ def: NetworkDef) throws {
        guard def.hasManagedBridge else {
            throw VirError(.configUnsupported, "unsupported configuration: forward mode '\(def.forwardMode)' of network '\(def.name)' needs the system network mode (a privileged corrald)", domain: .net)
        }
        if let ip = def.ipv4 { _ = try userOptions(def, ip) }
    }

    /// Undoes what `st` says was set up. Only in the network namespace that set it up: from any
    /// other (e.g. a CLI on the host while the daemon runs in a test namespace) it would hit the wrong interfaces.
    private func tearDown(_ name: String, _ st: NetworkStatus) {
        if st.dnsmasq, let pid = Host.readPid(paths.dnsmasqPid(name)) { Host.terminate(pid, program: "dnsmasq") }
        if let t = st.nftTable { Host.deleteTable(t) }
        if let b = st.bridge { Host.deleteLink(b) }
        Files.remove(paths.dnsmasqPid(name))
        Files.remove(paths.dnsmasqConf(name))
    }

    public func destroy(_ ref: NetworkRef) async throws {
        try await withLock {
            let e = try resolve(ref)
            guard e.isActive else {
                throw VirError(.operationInvalid, "Requested operation is not valid: network '\(e.name)' is not active", domain: .net)
            }
            if let st = status(e.name) {
                if st.mode == NetworkMode.system.rawValue, let ns = st.netns, ns != HostIdentity.netns {
                    throw VirError(.operationInvalid, "Requested operation is not valid: network '\(e.name)' was started in another network namespace (\(ns)); destroy it from there", domain: .net)
                }
                tearDown(e.name, st)
            }
            Files.remove(paths.live(e.name))
            Files.remove(paths.status(e.name))
            Files.remove(paths.leases(e.name))
        }
    }

    // MARK: Queries

    public func xml(_ ref: NetworkRef, flags: NetworkXMLFlags) throws -> String {
        let e = try resolve(ref)
        if flags.contains(.inactive), let c = e.config { return c.formatXML() }
        guard let def = e.current else { throw VirError.noNetwork(name: e.name) }
        return def.formatXML()
    }

    public func bridgeName(_ ref: NetworkRef) throws -> String {
        let e = try resolve(ref)
        guard let b = e.current?.bridge?.name else {
            throw VirError(.internalError, "internal error: network '\(e.name)' does not have a bridge name.", domain: .net)
        }
        return b
    }

    public func autostart(_ ref: NetworkRef) throws -> Bool { Files.exists(paths.autostart(try resolve(ref).name)) }

    public func setAutostart(_ ref: NetworkRef, _ on: Bool) async throws {
        try await withLock {
            let e = try resolve(ref)
            guard e.config != nil else {
                throw VirError(.operationInvalid, "Requested operation is not valid: cannot set autostart for transient network", domain: .net)
            }
            let path = paths.autostart(e.name)
            if on {
                guard !Files.exists(path) else { return }
                do { try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: paths.config(e.name)) } catch {
                    throw VirError(.systemError, "Failed to create symlink '\(path)': \(error.localizedDescription)", domain: .net)
                }
            } else {
                Files.remove(path)
            }
        }
    }

    public func isActive(_ ref: NetworkRef) throws -> Bool { try resolve(ref).isActive }
    public func isPersistent(_ ref: NetworkRef) throws -> Bool { try resolve(ref).config != nil }

    /// dnsmasq's leases (system mode). In session mode QEMU's built-in DHCP server keeps no lease
    /// record that can be read from outside, so the list is empty there.
    public func dhcpLeases(_ ref: NetworkRef, mac: String?) throws -> [NetworkDHCPLease] {
        let e = try resolve(ref)
        guard let live = e.live, let st = status(e.name), st.dnsmasq, let bridge = live.bridge?.name,
              let text = Files.read(paths.leases(e.name)) else { return [] }
        let v4 = live.ipv4?.prefixLength ?? 24
        let v6 = live.ips.first { !$0.isIPv4 }?.prefixLength ?? 64
        let want = mac?.lowercased()
        let now = Int64(Date().timeIntervalSince1970)
        // Like libvirt, leases past their expiry are left out even before dnsmasq drops them from the file.
        return Dnsmasq.parseLeases(text, bridge: bridge, prefixV4: UInt32(v4), prefixV6: UInt32(v6))
            .filter { (want == nil || $0.mac == want) && ($0.expiryTime == 0 || $0.expiryTime > now) }
    }

    /// Every active network's leases, for domifaddr (source=lease) of a guest's MACs.
    public func leases(forMAC mac: String, network: String) -> [NetworkDHCPLease] {
        guard let e = entry(network), e.isActive else { return [] }
        return (try? dhcpLeases(e.ref, mac: mac)) ?? []
    }

    // MARK: Guests

    /// What a guest NIC with `<source network='NAME'/>` plugs into. The network must be active.
    public func guestBackend(network name: String) throws -> GuestNetBackend {
        guard let e = entry(name) else { throw VirError.noNetwork(name: name) }
        guard let live = e.live else {
            throw VirError(.operationInvalid, "Requested operation is not valid: network '\(name)' is not active", domain: .net)
        }
        let st = status(name)
        if (st?.mode ?? mode.rawValue) == NetworkMode.system.rawValue {
            guard let b = live.bridge?.name else {
                throw VirError(.internalError, "internal error: network '\(name)' does not have a bridge name.", domain: .net)
            }
            return .bridge(b)
        }
        guard let ip = live.ipv4 else { return .user(UserNetOptions()) }
        return .user(try userOptions(live, ip))
    }

    /// Maps a network's IPv4 addressing onto slirp: the subnet, the network's address as the
    /// gateway, the first DHCP range's start, and a DNS address inside the subnet clear of both.
    func userOptions(_ def: NetworkDef, _ ip: NetworkIP) throws -> UserNetOptions {
        guard let subnet = ip.subnet, subnet.bytes.count == 4 else {
            throw VirError(.xmlError, "XML error: network '\(def.name)' has an invalid IPv4 address", domain: .net)
        }
        let base = subnet.bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard subnet.prefix <= 29 else {
            throw VirError(.configUnsupported, "unsupported configuration: network '\(def.name)' subnet \(subnet) is too small for user-mode networking (at most /29)", domain: .net)
        }
        let size = UInt32(1) << UInt32(32 - subnet.prefix)
        // Wrapping arithmetic: the subnet may end at 255.255.255.255. The default DHCP start stays
        // inside small subnets (base+15 is past the end of a /29).
        let host = IPv4.parse(ip.address) ?? base &+ 2
        let start = ip.dhcp?.ranges.first.flatMap { IPv4.parse($0.start) } ?? base &+ min(15, size / 2)
        // slirp hands out 16 addresses from dhcpstart; keep the DNS address out of that block.
        let dns = (1..<size - 1).lazy.map { base &+ $0 }.first { $0 != host && $0 &- start >= 16 }
        return UserNetOptions(net: "\(subnet)", host: IPv4.format(host), dhcpStart: IPv4.format(start), dns: dns.map(IPv4.format))
    }

    /// Creates a tap device for a guest NIC on `bridge` (system mode), named vnetN.
    public func createTap(bridge: String, guestMAC: String?) async throws -> String {
        guard mode == .system else {
            throw VirError(.operationUnsupported, "Operation not supported: tap devices need the system network mode (a privileged corrald)", domain: .net)
        }
        return try await withLock { try Host.createTap(bridge: bridge, guestMAC: guestMAC) }
    }

    /// Removes guest tap devices, but only from the namespace they were created in.
    public nonisolated static func removeTaps(_ names: [String], createdIn netns: String?) {
        guard netns == nil || netns == HostIdentity.netns else { return }
        for n in names where n.hasPrefix("vnet") { Host.deleteLink(n) }
    }

    public nonisolated static var currentNetns: String? { HostIdentity.netns }

    // MARK: The default network

    /// libvirt's `default` network (NAT on virbr0, 192.168.122.0/24), defined and marked autostart
    /// on the first system-mode start of a root; never recreated once the user undefined it.
    /// Picks the next free 192.168.N.0/24 if 122 is already routed on the host.
    public func defineDefaultNetworkIfFirstStart() async throws -> Bool {
        guard mode == .system else { return false }
        try paths.create()
        guard !Files.exists(paths.defaultMarker) else { return false }
        if entry("default") == nil {
            let routes = Host.ipv4Routes().map(\.subnet)
            let third = (122...254).first { n in
                guard let s = IPSubnet(address: "192.168.\(n).0", prefix: 24) else { return false }
                return !routes.contains { $0.overlaps(s) }
            } ?? 122
            let bridge = Host.interfaceExists("virbr0") ? nil : "virbr0"
            let xml = """
                <network>
                  <name>default</name>
                  <forward mode='nat'/>
                  \(bridge.map { "<bridge name='\($0)' stp='on' delay='0'/>" } ?? "")
                  <ip address='192.168.\(third).1' netmask='255.255.255.0'>
                    <dhcp>
                      <range start='192.168.\(third).2' end='192.168.\(third).254'/>
                    </dhcp>
                  </ip>
                </network>
                """
            let ref = try await define(xml: xml)
            try await setAutostart(ref, true)
        }
        try Files.writeAtomically("", to: paths.defaultMarker)
        return true
    }
}
