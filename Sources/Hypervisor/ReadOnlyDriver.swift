import Foundation

/// Wraps a driver for a read-only connection (virsh -r): queries pass through, anything
/// that changes a domain or reveals secrets fails as libvirt's does, naming the public API.
public struct ReadOnlyDriver: HypervisorDriver {
    public let base: any HypervisorDriver
    public init(_ base: any HypervisorDriver) { self.base = base }

    public func uri() async throws -> String { try await base.uri() }
    public func hypervisorType() async throws -> String { try await base.hypervisorType() }
    public func hypervisorVersion() async throws -> UInt64 { try await base.hypervisorVersion() }
    public func hostname() async throws -> String { try await base.hostname() }
    public func capabilitiesXML() async throws -> String { try await base.capabilitiesXML() }
    public func domainCapabilitiesXML(emulator: String?, arch: String?, machine: String?, virtType: String?) async throws -> String {
        try await base.domainCapabilitiesXML(emulator: emulator, arch: arch, machine: machine, virtType: virtType)
    }
    public func nodeInfo() async throws -> NodeInfo { try await base.nodeInfo() }
    public func close() async { await base.close() }

    public func listAllDomains(flags: ListDomainsFlags) async throws -> [DomainRef] { try await base.listAllDomains(flags: flags) }
    public func lookupDomain(name: String) async throws -> DomainRef { try await base.lookupDomain(name: name) }
    public func lookupDomain(uuid: UUID) async throws -> DomainRef { try await base.lookupDomain(uuid: uuid) }
    public func lookupDomain(id: Int32) async throws -> DomainRef { try await base.lookupDomain(id: id) }

    public func defineDomain(xml: String, validate: Bool) async throws -> DomainRef { throw VirError.readOnly("virDomainDefineXML") }
    public func undefineDomain(_ dom: DomainRef, flags: UInt32) async throws { throw VirError.readOnly("virDomainUndefine") }
    public func startDomain(_ dom: DomainRef, flags: DomainCreateFlags) async throws -> DomainRef { throw VirError.readOnly("virDomainCreate") }
    public func createDomain(xml: String, flags: DomainCreateFlags) async throws -> DomainRef { throw VirError.readOnly("virDomainCreateXML") }
    public func shutdownDomain(_ dom: DomainRef, flags: UInt32) async throws { throw VirError.readOnly("virDomainShutdown") }
    public func destroyDomain(_ dom: DomainRef, flags: UInt32) async throws { throw VirError.readOnly("virDomainDestroy") }
    public func rebootDomain(_ dom: DomainRef, flags: UInt32) async throws { throw VirError.readOnly("virDomainReboot") }
    public func resetDomain(_ dom: DomainRef) async throws { throw VirError.readOnly("virDomainReset") }
    public func suspendDomain(_ dom: DomainRef) async throws { throw VirError.readOnly("virDomainSuspend") }
    public func resumeDomain(_ dom: DomainRef) async throws { throw VirError.readOnly("virDomainResume") }

    public func domainInfo(_ dom: DomainRef) async throws -> DomainInfo { try await base.domainInfo(dom) }
    public func domainState(_ dom: DomainRef) async throws -> DomainStateReason { try await base.domainState(dom) }
    public func domainXML(_ dom: DomainRef, flags: DomainXMLFlags) async throws -> String {
        if flags.contains(.secure) { throw VirError.readOnly("virDomainGetXMLDesc with secure flag") }
        return try await base.domainXML(dom, flags: flags)
    }
    public func isPersistent(_ dom: DomainRef) async throws -> Bool { try await base.isPersistent(dom) }
    public func autostart(_ dom: DomainRef) async throws -> Bool { try await base.autostart(dom) }
    public func setAutostart(_ dom: DomainRef, _ on: Bool) async throws { throw VirError.readOnly("virDomainSetAutostart") }
    public func vcpuInfo(_ dom: DomainRef) async throws -> [VCPUInfo] { try await base.vcpuInfo(dom) }
    public func allDomainStats(_ doms: [DomainRef]?, types: StatsTypes) async throws -> [DomainStatsRecord] {
        try await base.allDomainStats(doms, types: types)
    }
    public func openConsole(_ dom: DomainRef, devName: String?, force: Bool) async throws -> any ByteStream {
        throw VirError.readOnly("virDomainOpenConsole")
    }
    public func domainXMLToNative(format: String, xml: String) async throws -> String {
        throw VirError.readOnly("virConnectDomainXMLToNative")
    }
    public func events() async throws -> AsyncStream<DomainEvent> { try await base.events() }

    public func osType(_ dom: DomainRef) async throws -> String { try await base.osType(dom) }
    public func securityModel() async throws -> SecurityModel { try await base.securityModel() }
    public func securityLabel(_ dom: DomainRef) async throws -> SecurityLabel? { try await base.securityLabel(dom) }
}

// Storage, networks, device changes: queries pass through, changes are refused.
extension ReadOnlyDriver {
    public func listAllStoragePools(flags: ListStoragePoolsFlags) async throws -> [StoragePoolRef] { try await base.listAllStoragePools(flags: flags) }
    public func lookupStoragePool(name: String) async throws -> StoragePoolRef { try await base.lookupStoragePool(name: name) }
    public func lookupStoragePool(uuid: UUID) async throws -> StoragePoolRef { try await base.lookupStoragePool(uuid: uuid) }
    public func lookupStoragePool(volume: StorageVolRef) async throws -> StoragePoolRef { try await base.lookupStoragePool(volume: volume) }
    public func defineStoragePool(xml: String, flags: UInt32) async throws -> StoragePoolRef { throw VirError.readOnly("virStoragePoolDefineXML") }
    public func createStoragePool(xml: String, flags: StoragePoolCreateFlags) async throws -> StoragePoolRef { throw VirError.readOnly("virStoragePoolCreateXML") }
    public func buildStoragePool(_ pool: StoragePoolRef, flags: StoragePoolBuildFlags) async throws { throw VirError.readOnly("virStoragePoolBuild") }
    public func startStoragePool(_ pool: StoragePoolRef, flags: StoragePoolCreateFlags) async throws { throw VirError.readOnly("virStoragePoolCreate") }
    public func destroyStoragePool(_ pool: StoragePoolRef) async throws { throw VirError.readOnly("virStoragePoolDestroy") }
    public func deleteStoragePool(_ pool: StoragePoolRef, flags: UInt32) async throws { throw VirError.readOnly("virStoragePoolDelete") }
    public func undefineStoragePool(_ pool: StoragePoolRef) async throws { throw VirError.readOnly("virStoragePoolUndefine") }
    public func refreshStoragePool(_ pool: StoragePoolRef, flags: UInt32) async throws { throw VirError.readOnly("virStoragePoolRefresh") }
    public func storagePoolInfo(_ pool: StoragePoolRef) async throws -> StoragePoolInfo { try await base.storagePoolInfo(pool) }
    public func storagePoolXML(_ pool: StoragePoolRef, flags: StorageXMLFlags) async throws -> String { try await base.storagePoolXML(pool, flags: flags) }
    public func storagePoolAutostart(_ pool: StoragePoolRef) async throws -> Bool { try await base.storagePoolAutostart(pool) }
    public func setStoragePoolAutostart(_ pool: StoragePoolRef, _ on: Bool) async throws { throw VirError.readOnly("virStoragePoolSetAutostart") }
    public func storagePoolIsActive(_ pool: StoragePoolRef) async throws -> Bool { try await base.storagePoolIsActive(pool) }
    public func storagePoolIsPersistent(_ pool: StoragePoolRef) async throws -> Bool { try await base.storagePoolIsPersistent(pool) }
    public func listAllStorageVolumes(_ pool: StoragePoolRef, flags: UInt32) async throws -> [StorageVolRef] { try await base.listAllStorageVolumes(pool, flags: flags) }
    public func lookupStorageVolume(pool: StoragePoolRef, name: String) async throws -> StorageVolRef { try await base.lookupStorageVolume(pool: pool, name: name) }
    public func lookupStorageVolume(key: String) async throws -> StorageVolRef { try await base.lookupStorageVolume(key: key) }
    public func lookupStorageVolume(path: String) async throws -> StorageVolRef { try await base.lookupStorageVolume(path: path) }
    public func createStorageVolume(_ pool: StoragePoolRef, xml: String, flags: StorageVolCreateFlags) async throws -> StorageVolRef { throw VirError.readOnly("virStorageVolCreateXML") }
    public func createStorageVolume(_ pool: StoragePoolRef, xml: String, from source: StorageVolRef, flags: StorageVolCreateFlags) async throws -> StorageVolRef { throw VirError.readOnly("virStorageVolCreateXMLFrom") }
    public func deleteStorageVolume(_ vol: StorageVolRef, flags: StorageVolDeleteFlags) async throws { throw VirError.readOnly("virStorageVolDelete") }
    public func wipeStorageVolume(_ vol: StorageVolRef, algorithm: StorageVolWipeAlgorithm, flags: UInt32) async throws { throw VirError.readOnly("virStorageVolWipePattern") }
    public func storageVolumeInfo(_ vol: StorageVolRef) async throws -> StorageVolInfo { try await base.storageVolumeInfo(vol) }
    public func storageVolumeInfo(_ vol: StorageVolRef, flags: StorageVolInfoFlags) async throws -> StorageVolInfo { try await base.storageVolumeInfo(vol, flags: flags) }
    public func storageVolumeXML(_ vol: StorageVolRef, flags: UInt32) async throws -> String { try await base.storageVolumeXML(vol, flags: flags) }
    public func storageVolumePath(_ vol: StorageVolRef) async throws -> String { try await base.storageVolumePath(vol) }
    public func resizeStorageVolume(_ vol: StorageVolRef, capacity: UInt64, flags: StorageVolResizeFlags) async throws { throw VirError.readOnly("virStorageVolResize") }
    public func uploadStorageVolume(_ vol: StorageVolRef, offset: UInt64, length: UInt64, flags: StorageVolTransferFlags) async throws -> any ByteStream { throw VirError.readOnly("virStorageVolUpload") }
    // libvirt checks read-only in virStorageVolDownload too (it reveals the guest's data).
    public func downloadStorageVolume(_ vol: StorageVolRef, offset: UInt64, length: UInt64, flags: StorageVolTransferFlags) async throws -> any ByteStream { throw VirError.readOnly("virStorageVolDownload") }

    public func listAllNetworks(flags: ListNetworksFlags) async throws -> [NetworkRef] { try await base.listAllNetworks(flags: flags) }
    public func lookupNetwork(name: String) async throws -> NetworkRef { try await base.lookupNetwork(name: name) }
    public func lookupNetwork(uuid: UUID) async throws -> NetworkRef { try await base.lookupNetwork(uuid: uuid) }
    public func defineNetwork(xml: String, flags: UInt32) async throws -> NetworkRef { throw VirError.readOnly("virNetworkDefineXML") }
    public func createNetwork(xml: String, flags: UInt32) async throws -> NetworkRef { throw VirError.readOnly("virNetworkCreateXML") }
    public func undefineNetwork(_ net: NetworkRef) async throws { throw VirError.readOnly("virNetworkUndefine") }
    public func startNetwork(_ net: NetworkRef) async throws { throw VirError.readOnly("virNetworkCreate") }
    public func destroyNetwork(_ net: NetworkRef) async throws { throw VirError.readOnly("virNetworkDestroy") }
    public func networkXML(_ net: NetworkRef, flags: NetworkXMLFlags) async throws -> String { try await base.networkXML(net, flags: flags) }
    public func networkBridgeName(_ net: NetworkRef) async throws -> String { try await base.networkBridgeName(net) }
    public func networkAutostart(_ net: NetworkRef) async throws -> Bool { try await base.networkAutostart(net) }
    public func setNetworkAutostart(_ net: NetworkRef, _ on: Bool) async throws { throw VirError.readOnly("virNetworkSetAutostart") }
    public func networkIsActive(_ net: NetworkRef) async throws -> Bool { try await base.networkIsActive(net) }
    public func networkIsPersistent(_ net: NetworkRef) async throws -> Bool { try await base.networkIsPersistent(net) }
    public func networkDHCPLeases(_ net: NetworkRef, mac: String?) async throws -> [NetworkDHCPLease] { try await base.networkDHCPLeases(net, mac: mac) }

    public func attachDevice(_ dom: DomainRef, xml: String, flags: DeviceModifyFlags) async throws { throw VirError.readOnly("virDomainAttachDeviceFlags") }
    public func detachDevice(_ dom: DomainRef, xml: String, flags: DeviceModifyFlags) async throws { throw VirError.readOnly("virDomainDetachDeviceFlags") }
    public func updateDevice(_ dom: DomainRef, xml: String, flags: DeviceModifyFlags) async throws { throw VirError.readOnly("virDomainUpdateDeviceFlags") }
    public func interfaceAddresses(_ dom: DomainRef, source: InterfaceAddressSource, flags: UInt32) async throws -> [DomainInterfaceAddresses] {
        // libvirt refuses the agent source on read-only connections (it talks to the guest).
        if source == .agent { throw VirError.readOnly("virDomainInterfaceAddresses with agent source") }
        return try await base.interfaceAddresses(dom, source: source, flags: flags)
    }
}
