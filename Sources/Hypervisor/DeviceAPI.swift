import Foundation

// Live and persistent device changes (virDomainAttachDeviceFlags and friends) and guest
// interface addresses (virDomainInterfaceAddresses).

/// virDomainModificationImpact plus virDomainDeviceModifyFlags: which definition a change
/// applies to. `current` (no bits) means the live guest when running, else the config.
public struct DeviceModifyFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let current: DeviceModifyFlags = []
    public static let live = DeviceModifyFlags(rawValue: 1 << 0)
    public static let config = DeviceModifyFlags(rawValue: 1 << 1)
    /// update-device: force (e.g. eject a locked CD-ROM tray).
    public static let force = DeviceModifyFlags(rawValue: 1 << 2)
}

/// virDomainInterfaceAddressesSource.
public enum InterfaceAddressSource: UInt32, Sendable {
    case lease = 0, agent = 1, arp = 2
}

/// remote_domain_ip_addr.
public struct DomainIPAddress: Sendable, Equatable {
    public var type: IPAddrType
    public var addr: String
    public var prefix: UInt32
    public init(type: IPAddrType, addr: String, prefix: UInt32) { self.type = type; self.addr = addr; self.prefix = prefix }
}

/// remote_domain_interface: one guest NIC and its addresses.
public struct DomainInterfaceAddresses: Sendable, Equatable {
    public var name: String             // host-side name (vnet0) or the agent's guest-side name
    public var hwaddr: String?
    public var addrs: [DomainIPAddress]
    public init(name: String, hwaddr: String?, addrs: [DomainIPAddress]) { self.name = name; self.hwaddr = hwaddr; self.addrs = addrs }
}

/// Device-change entry points of a driver; defaults answer "not supported".
public protocol DomainDeviceDriver: Sendable {
    /// Adds the device described by `xml` (one <disk>, <interface>, <controller>, <hostdev>, ...).
    func attachDevice(_ dom: DomainRef, xml: String, flags: DeviceModifyFlags) async throws
    /// Removes the device that `xml` identifies (by target dev, MAC, alias or address, as libvirt).
    func detachDevice(_ dom: DomainRef, xml: String, flags: DeviceModifyFlags) async throws
    /// Changes a device in place; for CD-ROM/floppy disks this is the media change (a <disk>
    /// without <source> ejects, with one inserts or replaces).
    func updateDevice(_ dom: DomainRef, xml: String, flags: DeviceModifyFlags) async throws
    func interfaceAddresses(_ dom: DomainRef, source: InterfaceAddressSource, flags: UInt32) async throws -> [DomainInterfaceAddresses]
}

extension DomainDeviceDriver {
    public func attachDevice(_ dom: DomainRef, xml: String, flags: DeviceModifyFlags) async throws { throw VirError.notSupported("virDomainAttachDeviceFlags") }
    public func detachDevice(_ dom: DomainRef, xml: String, flags: DeviceModifyFlags) async throws { throw VirError.notSupported("virDomainDetachDeviceFlags") }
    public func updateDevice(_ dom: DomainRef, xml: String, flags: DeviceModifyFlags) async throws { throw VirError.notSupported("virDomainUpdateDeviceFlags") }
    public func interfaceAddresses(_ dom: DomainRef, source: InterfaceAddressSource, flags: UInt32) async throws -> [DomainInterfaceAddresses] { throw VirError.notSupported("virDomainInterfaceAddresses") }
}
