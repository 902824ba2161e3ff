import Foundation
import DomainXML
import Hypervisor
import HostNetworks

// The QEMU driver's network side: NetworkDriver forwarded to the root's NetworkManager, the host
// end of guest NICs on networks and bridges (tap devices or user-mode networking), and
// interface addresses from the networks' DHCP leases.

extension QEMUDriver {
    public func listAllNetworks(flags: ListNetworksFlags) async throws -> [NetworkRef] { await networks.listAll(flags: flags) }
    public func lookupNetwork(name: String) async throws -> NetworkRef { try await networks.lookup(name: name) }
    public func lookupNetwork(uuid: UUID) async throws -> NetworkRef { try await networks.lookup(uuid: uuid) }
    public func defineNetwork(xml: String, flags: UInt32) async throws -> NetworkRef { try await networks.define(xml: xml) }
    public func createNetwork(xml: String, flags: UInt32) async throws -> NetworkRef { try await networks.create(xml: xml) }
    public func undefineNetwork(_ net: NetworkRef) async throws { try await networks.undefine(net) }
    public func startNetwork(_ net: NetworkRef) async throws { try await networks.start(net) }
    public func destroyNetwork(_ net: NetworkRef) async throws { try await networks.destroy(net) }
    public func networkXML(_ net: NetworkRef, flags: NetworkXMLFlags) async throws -> String { try await networks.xml(net, flags: flags) }
    public func networkBridgeName(_ net: NetworkRef) async throws -> String { try await networks.bridgeName(net) }
    public func networkAutostart(_ net: NetworkRef) async throws -> Bool { try await networks.autostart(net) }
    public func setNetworkAutostart(_ net: NetworkRef, _ on: Bool) async throws { try await networks.setAutostart(net, on) }
    public func networkIsActive(_ net: NetworkRef) async throws -> Bool { try await networks.isActive(net) }
    public func networkIsPersistent(_ net: NetworkRef) async throws -> Bool { try await networks.isPersistent(net) }
    public func networkDHCPLeases(_ net: NetworkRef, mac: String?) async throws -> [NetworkDHCPLease] {
        try await networks.dhcpLeases(net, mac: mac)
    }

    /// The daemon's first system-mode start: libvirt's `default` NAT network, defined and autostarted once.
    public func defineDefaultNetworkIfFirstStart() async throws -> Bool {
        try await networks.defineDefaultNetworkIfFirstStart()
    }

    /// Starts persistent networks marked autostart that are not active; returns (name, error) per failure.
    public func autostartNetworks() async -> [(name: String, error: Error?)] {
        let refs = await networks.listAll(flags: [.autostart, .inactive, .persistent])
        var out: [(String, Error?)] = []
        for ref in refs {
            do { try await networks.start(ref); out.append((ref.name, nil)) } catch { out.append((ref.name, error)) }
        }
        return out
    }

    /// virDomainInterfaceAddresses. Only the lease source exists so far: the guest's NICs on
    /// networks, with the addresses the network's dnsmasq leased to their MACs (as libvirt).
    public func interfaceAddresses(_ dom: DomainRef, source: InterfaceAddressSource, flags: UInt32) async throws -> [DomainInterfaceAddresses] {
        switch source {
        case .lease: break
        case .agent, .arp:
            throw VirError(.operationUnsupported, "Operation not supported: interface addresses from the \(source == .agent ? "guest agent" : "ARP table") are not supported yet; use the lease source", domain: .qemu)
        }
        let e = try resolve(dom)
        guard e.isActive, let live = e.live else { throw VirError.notRunning(e.name) }
        var out: [DomainInterfaceAddresses] = []
        for nic in live.devices.interfaces where nic.type == "network" {
            guard let net = nic.sourceNetwork, let mac = nic.mac else { continue }
            let leases = await networks.leases(forMAC: mac, network: net)
            guard !leases.isEmpty else { continue }
            out.append(DomainInterfaceAddresses(name: nic.targetDev ?? "-", hwaddr: mac,
                                                addrs: leases.map { DomainIPAddress(type: $0.type, addr: $0.ipaddr, prefix: $0.prefix) }))
        }
        return out
    }

    // MARK: Guest NICs

    /// Resolves the host side of every `<interface type='network'|'bridge'>` before QEMU starts:
    /// a vnetN tap on the bridge (system mode; its name goes into the live XML's <target dev>) or
    /// user-mode options (session mode). On failure, taps already made are removed.
    func setUpInterfaces(_ def: inout Domain) async throws -> (backends: [Int: InterfaceBackend], taps: [String]) {
        var backends: [Int: InterfaceBackend] = [:]
        var taps: [String] = []
        do {
            for i in def.devices.interfaces.indices {
                guard let backend = try await setUpInterface(&def.devices.interfaces[i], index: i) else { continue }
                backends[i] = backend
                if case .tap(let tap) = backend { taps.append(tap) }
            }
        } catch {
            NetworkManager.removeTaps(taps, createdIn: nil)
            throw error
        }
        return (backends, taps)
    }

    /// The host side of one NIC (also for a hotplugged one: pass its backend to the argv builder's
    /// context, then `recordTaps` it): nil for types that need none (user). A tap it creates is
    /// named in `nic.targetDev`.
    func setUpInterface(_ nic: inout Interface, index i: Int) async throws -> InterfaceBackend? {
        let bridge: String
        switch nic.type {
        case "network":
            guard let name = nic.sourceNetwork, !name.isEmpty else {
                throw VirError(.xmlError, "XML error: interface \(i) of type 'network' has no <source network='...'/>", domain: .qemu)
            }
            switch try await networks.guestBackend(network: name) {
            case .user(let options): return .user(options)
            case .bridge(let b): bridge = b
            }
        case "bridge":
            guard let b = nic.sourceBridge, !b.isEmpty else {
                throw VirError(.xmlError, "XML error: interface \(i) of type 'bridge' has no <source bridge='...'/>", domain: .qemu)
            }
            bridge = b
        default:
            return nil
        }
        let tap = try await networks.createTap(bridge: bridge, guestMAC: nic.mac)
        nic.targetDev = tap
        return .tap(tap)
    }

    /// Remembers a running domain's taps (and the namespace they live in) in its run directory,
    /// added to those already recorded.
    func recordTaps(_ taps: [String], domain name: String) {
        guard !taps.isEmpty else { return }
        let path = "\(state.domainRunDir(name))/taps.json"
        let old = FileIO.read(path).flatMap { try? JSONDecoder().decode(TapRecord.self, from: $0) }
        let record = TapRecord(netns: NetworkManager.currentNetns, taps: (old?.taps ?? []) + taps.filter { !(old?.taps ?? []).contains($0) })
        if let data = try? JSONEncoder().encode(record) {
            try? FileIO.writeAtomically(data, to: path, durable: false)
        }
    }

    /// Deletes one tap of a running domain (a detached or failed hotplugged NIC) and forgets it,
    /// if the domain's record has it; from the namespace it was created in only.
    func releaseTap(_ tap: String, domain name: String) {
        let path = "\(state.domainRunDir(name))/taps.json"
        guard let data = FileIO.read(path),
              var record = try? JSONDecoder().decode(TapRecord.self, from: data),
              record.taps.contains(tap) else { return }
        NetworkManager.removeTaps([tap], createdIn: record.netns)
        record.taps.removeAll { $0 == tap }
        if let out = try? JSONEncoder().encode(record) {
            try? FileIO.writeAtomically(out, to: path, durable: false)
        }
    }

    /// Deletes the taps of a domain whose QEMU has exited (from its namespace only).
    func releaseTaps(domain name: String) {
        guard let data = FileIO.read("\(state.domainRunDir(name))/taps.json"),
              let record = try? JSONDecoder().decode(TapRecord.self, from: data) else { return }
        NetworkManager.removeTaps(record.taps, createdIn: record.netns)
    }
}

struct TapRecord: Codable {
    var netns: String?
    var taps: [String]
}
