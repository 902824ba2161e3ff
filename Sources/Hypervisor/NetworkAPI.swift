import Foundation

// Virtual networks in the hypervisor-neutral API, after libvirt's virNetworkDriver.

/// remote_nonnull_network.
public struct NetworkRef: Sendable, Hashable {
    public var name: String
    public var uuid: UUID
    public init(name: String, uuid: UUID) { self.name = name; self.uuid = uuid }
}

/// virConnectListAllNetworksFlags.
public struct ListNetworksFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let inactive = ListNetworksFlags(rawValue: 1 << 0)
    public static let active = ListNetworksFlags(rawValue: 1 << 1)
    public static let persistent = ListNetworksFlags(rawValue: 1 << 2)
    public static let transient = ListNetworksFlags(rawValue: 1 << 3)
    public static let autostart = ListNetworksFlags(rawValue: 1 << 4)
    public static let noAutostart = ListNetworksFlags(rawValue: 1 << 5)
}

/// virNetworkXMLFlags.
public struct NetworkXMLFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let inactive = NetworkXMLFlags(rawValue: 1 << 0)
}

/// virIPAddrType.
public enum IPAddrType: Int32, Sendable {
    case ipv4 = 0, ipv6 = 1
}

/// virNetworkDHCPLease (remote_network_dhcp_lease).
public struct NetworkDHCPLease: Sendable, Equatable {
    public var iface: String          // the network's bridge
    public var expiryTime: Int64      // seconds since the epoch; 0 = never
    public var type: IPAddrType
    public var mac: String?
    public var iaid: String?
    public var ipaddr: String
    public var prefix: UInt32
    public var hostname: String?
    public var clientid: String?
    public init(iface: String, expiryTime: Int64, type: IPAddrType, mac: String?, iaid: String? = nil,
                ipaddr: String, prefix: UInt32, hostname: String?, clientid: String?) {
        self.iface = iface; self.expiryTime = expiryTime; self.type = type; self.mac = mac; self.iaid = iaid
        self.ipaddr = ipaddr; self.prefix = prefix; self.hostname = hostname; self.clientid = clientid
    }
}

/// Network entry points of a driver; defaults answer "not supported".
public protocol NetworkDriver: Sendable {
    func listAllNetworks(flags: ListNetworksFlags) async throws -> [NetworkRef]
    func lookupNetwork(name: String) async throws -> NetworkRef
    func lookupNetwork(uuid: UUID) async throws -> NetworkRef
    func defineNetwork(xml: String, flags: UInt32) async throws -> NetworkRef
    /// A transient network, started (virNetworkCreateXML).
    func createNetwork(xml: String, flags: UInt32) async throws -> NetworkRef
    func undefineNetwork(_ net: NetworkRef) async throws
    /// virNetworkCreate (virsh net-start).
    func startNetwork(_ net: NetworkRef) async throws
    func destroyNetwork(_ net: NetworkRef) async throws
    func networkXML(_ net: NetworkRef, flags: NetworkXMLFlags) async throws -> String
    func networkBridgeName(_ net: NetworkRef) async throws -> String
    func networkAutostart(_ net: NetworkRef) async throws -> Bool
    func setNetworkAutostart(_ net: NetworkRef, _ on: Bool) async throws
    func networkIsActive(_ net: NetworkRef) async throws -> Bool
    func networkIsPersistent(_ net: NetworkRef) async throws -> Bool
    /// Leases handed out by the network's DHCP server, optionally only for one MAC.
    func networkDHCPLeases(_ net: NetworkRef, mac: String?) async throws -> [NetworkDHCPLease]
}

extension VirError {
    public static func noNetwork(name: String) -> VirError {
        VirError(.noNetwork, "Network not found: no network with matching name '\(name)'", domain: .net)
    }
    public static func noNetwork(uuid: String) -> VirError {
        VirError(.noNetwork, "Network not found: no network with matching uuid '\(uuid)'", domain: .net)
    }
}

extension NetworkDriver {
    public func listAllNetworks(flags: ListNetworksFlags) async throws -> [NetworkRef] { throw VirError.notSupported("virConnectListAllNetworks") }
    public func lookupNetwork(name: String) async throws -> NetworkRef { throw VirError.notSupported("virNetworkLookupByName") }
    public func lookupNetwork(uuid: UUID) async throws -> NetworkRef { throw VirError.notSupported("virNetworkLookupByUUID") }
    public func defineNetwork(xml: String, flags: UInt32) async throws -> NetworkRef { throw VirError.notSupported("virNetworkDefineXML") }
    public func createNetwork(xml: String, flags: UInt32) async throws -> NetworkRef { throw VirError.notSupported("virNetworkCreateXML") }
    public func undefineNetwork(_ net: NetworkRef) async throws { throw VirError.notSupported("virNetworkUndefine") }
    public func startNetwork(_ net: NetworkRef) async throws { throw VirError.notSupported("virNetworkCreate") }
    public func destroyNetwork(_ net: NetworkRef) async throws { throw VirError.notSupported("virNetworkDestroy") }
    public func networkXML(_ net: NetworkRef, flags: NetworkXMLFlags) async throws -> String { throw VirError.notSupported("virNetworkGetXMLDesc") }
    public func networkBridgeName(_ net: NetworkRef) async throws -> String { throw VirError.notSupported("virNetworkGetBridgeName") }
    public func networkAutostart(_ net: NetworkRef) async throws -> Bool { throw VirError.notSupported("virNetworkGetAutostart") }
    public func setNetworkAutostart(_ net: NetworkRef, _ on: Bool) async throws { throw VirError.notSupported("virNetworkSetAutostart") }
    public func networkIsActive(_ net: NetworkRef) async throws -> Bool { throw VirError.notSupported("virNetworkIsActive") }
    public func networkIsPersistent(_ net: NetworkRef) async throws -> Bool { throw VirError.notSupported("virNetworkIsPersistent") }
    public func networkDHCPLeases(_ net: NetworkRef, mac: String?) async throws -> [NetworkDHCPLease] { throw VirError.notSupported("virNetworkGetDHCPLeases") }
}
