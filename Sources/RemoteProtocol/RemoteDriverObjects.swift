import Foundation
import Hypervisor

// The remote driver's storage, network and device-change methods: each the call libvirt's
// client library makes for it (the _FLAGS and list-all variants; the legacy ones only exist
// on the server for old clients).

extension RemoteDriver {
    // MARK: Storage pools

    public func listAllStoragePools(flags: ListStoragePoolsFlags) async throws -> [StoragePoolRef] {
        try await call(Procedures.connectListAllStoragePools, ListAllObjectsArgs(needResults: 1, flags: flags.rawValue)).objects
    }
    public func lookupStoragePool(name: String) async throws -> StoragePoolRef {
        try await call(Procedures.storagePoolLookupByName, StringValue(name)).object
    }
    public func lookupStoragePool(uuid: UUID) async throws -> StoragePoolRef {
        try await call(Procedures.storagePoolLookupByUUID, UUIDArgs(uuid)).object
    }
    public func lookupStoragePool(volume: StorageVolRef) async throws -> StoragePoolRef {
        try await call(Procedures.storagePoolLookupByVolume, StorageVolArgs(volume)).object
    }
    public func defineStoragePool(xml: String, flags: UInt32) async throws -> StoragePoolRef {
        try await call(Procedures.storagePoolDefineXML, XMLFlagsArgs(xml, flags: flags)).object
    }
    public func createStoragePool(xml: String, flags: StoragePoolCreateFlags) async throws -> StoragePoolRef {
        try await call(Procedures.storagePoolCreateXML, XMLFlagsArgs(xml, flags: flags.rawValue)).object
    }
    public func buildStoragePool(_ pool: StoragePoolRef, flags: StoragePoolBuildFlags) async throws {
        _ = try await call(Procedures.storagePoolBuild, StoragePoolFlagsArgs(pool, flags: flags.rawValue))
    }
    public func startStoragePool(_ pool: StoragePoolRef, flags: StoragePoolCreateFlags) async throws {
        _ = try await call(Procedures.storagePoolCreate, StoragePoolFlagsArgs(pool, flags: flags.rawValue))
    }
    public func destroyStoragePool(_ pool: StoragePoolRef) async throws {
        _ = try await call(Procedures.storagePoolDestroy, StoragePoolArgs(pool))
    }
    public func deleteStoragePool(_ pool: StoragePoolRef, flags: UInt32) async throws {
        _ = try await call(Procedures.storagePoolDelete, StoragePoolFlagsArgs(pool, flags: flags))
    }
    public func undefineStoragePool(_ pool: StoragePoolRef) async throws {
        _ = try await call(Procedures.storagePoolUndefine, StoragePoolArgs(pool))
    }
    public func refreshStoragePool(_ pool: StoragePoolRef, flags: UInt32) async throws {
        _ = try await call(Procedures.storagePoolRefresh, StoragePoolFlagsArgs(pool, flags: flags))
    }
    public func storagePoolInfo(_ pool: StoragePoolRef) async throws -> StoragePoolInfo {
        try await call(Procedures.storagePoolGetInfo, StoragePoolArgs(pool)).info
    }
    public func storagePoolXML(_ pool: StoragePoolRef, flags: StorageXMLFlags) async throws -> String {
        try await call(Procedures.storagePoolGetXMLDesc, StoragePoolFlagsArgs(pool, flags: flags.rawValue)).value
    }
    public func storagePoolAutostart(_ pool: StoragePoolRef) async throws -> Bool {
        try await call(Procedures.storagePoolGetAutostart, StoragePoolArgs(pool)).value != 0
    }
    public func setStoragePoolAutostart(_ pool: StoragePoolRef, _ on: Bool) async throws {
        _ = try await call(Procedures.storagePoolSetAutostart, ObjectIntArgs(pool, on ? 1 : 0))
    }
    public func storagePoolIsActive(_ pool: StoragePoolRef) async throws -> Bool {
        try await call(Procedures.storagePoolIsActive, StoragePoolArgs(pool)).value != 0
    }
    public func storagePoolIsPersistent(_ pool: StoragePoolRef) async throws -> Bool {
        try await call(Procedures.storagePoolIsPersistent, StoragePoolArgs(pool)).value != 0
    }
    public func listAllStorageVolumes(_ pool: StoragePoolRef, flags: UInt32) async throws -> [StorageVolRef] {
        try await call(Procedures.storagePoolListAllVolumes, StoragePoolListAllVolumesArgs(pool, needResults: 1, flags: flags)).objects
    }

    // MARK: Storage volumes

    public func lookupStorageVolume(pool: StoragePoolRef, name: String) async throws -> StorageVolRef {
        try await call(Procedures.storageVolLookupByName, ObjectStringArgs(pool, name)).object
    }
    public func lookupStorageVolume(key: String) async throws -> StorageVolRef {
        try await call(Procedures.storageVolLookupByKey, StringValue(key)).object
    }
    public func lookupStorageVolume(path: String) async throws -> StorageVolRef {
        try await call(Procedures.storageVolLookupByPath, StringValue(path)).object
    }
    public func createStorageVolume(_ pool: StoragePoolRef, xml: String, flags: StorageVolCreateFlags) async throws -> StorageVolRef {
        try await call(Procedures.storageVolCreateXML, ObjectXMLFlagsArgs(pool, xml: xml, flags: flags.rawValue)).object
    }
    public func createStorageVolume(_ pool: StoragePoolRef, xml: String, from source: StorageVolRef,
                                    flags: StorageVolCreateFlags) async throws -> StorageVolRef {
        try await call(Procedures.storageVolCreateXMLFrom,
                       StorageVolCreateXMLFromArgs(pool, xml: xml, clonevol: source, flags: flags.rawValue)).object
    }
    public func deleteStorageVolume(_ vol: StorageVolRef, flags: StorageVolDeleteFlags) async throws {
        _ = try await call(Procedures.storageVolDelete, StorageVolFlagsArgs(vol, flags: flags.rawValue))
    }
    public func wipeStorageVolume(_ vol: StorageVolRef, algorithm: StorageVolWipeAlgorithm, flags: UInt32) async throws {
        // As virsh vol-wipe: the plain call for the default algorithm.
        if algorithm == .zero {
            _ = try await call(Procedures.storageVolWipe, StorageVolFlagsArgs(vol, flags: flags))
        } else {
            _ = try await call(Procedures.storageVolWipePattern, StorageVolWipePatternArgs(vol, algorithm: algorithm.rawValue, flags: flags))
        }
    }
    public func storageVolumeInfo(_ vol: StorageVolRef) async throws -> StorageVolInfo {
        try await call(Procedures.storageVolGetInfo, StorageVolArgs(vol)).info
    }
    public func storageVolumeXML(_ vol: StorageVolRef, flags: UInt32) async throws -> String {
        try await call(Procedures.storageVolGetXMLDesc, StorageVolFlagsArgs(vol, flags: flags)).value
    }
    public func storageVolumePath(_ vol: StorageVolRef) async throws -> String {
        try await call(Procedures.storageVolGetPath, StorageVolArgs(vol)).value
    }
    public func resizeStorageVolume(_ vol: StorageVolRef, capacity: UInt64, flags: StorageVolResizeFlags) async throws {
        _ = try await call(Procedures.storageVolResize, StorageVolResizeArgs(vol, capacity: capacity, flags: flags.rawValue))
    }

    /// The stream takes the bytes to store; finish() commits and reports the server's
    /// verdict, close() alone aborts. This client sends no holes, so the sparse flag is
    /// dropped (the data, zeros included, is sent as is).
    public func uploadStorageVolume(_ vol: StorageVolRef, offset: UInt64, length: UInt64,
                                    flags: StorageVolTransferFlags) async throws -> any ByteStream {
        try await openTransfer(Procedures.storageVolUpload, StorageVolTransferArgs(vol, offset: offset, length: length,
                                                                                 flags: flags.subtracting(.sparseStream).rawValue))
    }

    /// The stream yields the volume's bytes, then nil; finish() (or close()) ends it.
    /// Without the sparse flag the server sends holes as data, which is what readers expect.
    public func downloadStorageVolume(_ vol: StorageVolRef, offset: UInt64, length: UInt64,
                                      flags: StorageVolTransferFlags) async throws -> any ByteStream {
        try await openTransfer(Procedures.storageVolDownload, StorageVolTransferArgs(vol, offset: offset, length: length,
                                                                                   flags: flags.subtracting(.sparseStream).rawValue))
    }

    private func openTransfer(_ p: Procedure<StorageVolTransferArgs, XDRVoid>, _ args: StorageVolTransferArgs) async throws -> any ByteStream {
        let stream = RemoteStream(client: client, abortOnClose: true)
        do {
            _ = try p.result(of: try await client.roundTrip(procedure: p.number, args: args, name: p.name, opening: stream))
        } catch {
            client.removeStream(serial: stream.attachedSerial)
            stream.deliverEnd(nil)
            throw error
        }
        return stream
    }

    // MARK: Networks

    public func listAllNetworks(flags: ListNetworksFlags) async throws -> [NetworkRef] {
        try await call(Procedures.connectListAllNetworks, ListAllObjectsArgs(needResults: 1, flags: flags.rawValue)).objects
    }
    public func lookupNetwork(name: String) async throws -> NetworkRef {
        try await call(Procedures.networkLookupByName, StringValue(name)).object
    }
    public func lookupNetwork(uuid: UUID) async throws -> NetworkRef {
        try await call(Procedures.networkLookupByUUID, UUIDArgs(uuid)).object
    }
    public func defineNetwork(xml: String, flags: UInt32) async throws -> NetworkRef {
        // As libvirt's client: the _FLAGS call (libvirt 7.7+) only when there are flags.
        if flags == 0 { return try await call(Procedures.networkDefineXML, StringValue(xml)).object }
        return try await call(Procedures.networkDefineXMLFlags, XMLFlagsArgs(xml, flags: flags)).object
    }
    public func createNetwork(xml: String, flags: UInt32) async throws -> NetworkRef {
        if flags == 0 { return try await call(Procedures.networkCreateXML, StringValue(xml)).object }
        return try await call(Procedures.networkCreateXMLFlags, XMLFlagsArgs(xml, flags: flags)).object
    }
    public func undefineNetwork(_ net: NetworkRef) async throws { _ = try await call(Procedures.networkUndefine, NetworkArgs(net)) }
    public func startNetwork(_ net: NetworkRef) async throws { _ = try await call(Procedures.networkCreate, NetworkArgs(net)) }
    public func destroyNetwork(_ net: NetworkRef) async throws { _ = try await call(Procedures.networkDestroy, NetworkArgs(net)) }
    public func networkXML(_ net: NetworkRef, flags: NetworkXMLFlags) async throws -> String {
        try await call(Procedures.networkGetXMLDesc, NetworkFlagsArgs(net, flags: flags.rawValue)).value
    }
    public func networkBridgeName(_ net: NetworkRef) async throws -> String {
        try await call(Procedures.networkGetBridgeName, NetworkArgs(net)).value
    }
    public func networkAutostart(_ net: NetworkRef) async throws -> Bool {
        try await call(Procedures.networkGetAutostart, NetworkArgs(net)).value != 0
    }
    public func setNetworkAutostart(_ net: NetworkRef, _ on: Bool) async throws {
        _ = try await call(Procedures.networkSetAutostart, ObjectIntArgs(net, on ? 1 : 0))
    }
    public func networkIsActive(_ net: NetworkRef) async throws -> Bool {
        try await call(Procedures.networkIsActive, NetworkArgs(net)).value != 0
    }
    public func networkIsPersistent(_ net: NetworkRef) async throws -> Bool {
        try await call(Procedures.networkIsPersistent, NetworkArgs(net)).value != 0
    }
    public func networkDHCPLeases(_ net: NetworkRef, mac: String?) async throws -> [NetworkDHCPLease] {
        try await call(Procedures.networkGetDHCPLeases, NetworkGetDHCPLeasesArgs(net, mac: mac, needResults: 1)).leases
    }

    // MARK: Device changes

    public func attachDevice(_ dom: DomainRef, xml: String, flags: DeviceModifyFlags) async throws {
        _ = try await call(Procedures.domainAttachDeviceFlags, DomainDeviceFlagsArgs(dom, xml: xml, flags: flags.rawValue))
    }
    public func detachDevice(_ dom: DomainRef, xml: String, flags: DeviceModifyFlags) async throws {
        _ = try await call(Procedures.domainDetachDeviceFlags, DomainDeviceFlagsArgs(dom, xml: xml, flags: flags.rawValue))
    }
    public func updateDevice(_ dom: DomainRef, xml: String, flags: DeviceModifyFlags) async throws {
        _ = try await call(Procedures.domainUpdateDeviceFlags, DomainDeviceFlagsArgs(dom, xml: xml, flags: flags.rawValue))
    }
    public func interfaceAddresses(_ dom: DomainRef, source: InterfaceAddressSource, flags: UInt32) async throws -> [DomainInterfaceAddresses] {
        try await call(Procedures.domainInterfaceAddresses, DomainInterfaceAddressesArgs(dom, source: source.rawValue, flags: flags)).ifaces
    }
}
