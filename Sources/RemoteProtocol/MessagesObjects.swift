import Foundation
import Hypervisor

// Wire structs for storage pools and volumes, virtual networks, device changes and interface
// addresses, field for field as in remote_protocol.x. Structs that only differ in which object
// they carry are generic over it (`ObjectArgs<StoragePoolRef>` is remote_storage_pool_*_args
// with just `remote_nonnull_storage_pool pool;`); each type names the .x structs it stands for.

extension XDRLimits {
    public static let storagePoolListMax = 16_384      // REMOTE_STORAGE_POOL_LIST_MAX
    public static let storageVolListMax = 16_384       // REMOTE_STORAGE_VOL_LIST_MAX
    public static let networkListMax = 16_384          // REMOTE_NETWORK_LIST_MAX
    public static let networkDHCPLeasesMax = 65_536    // REMOTE_NETWORK_DHCP_LEASES_MAX
    public static let domainInterfaceMax = 2048        // REMOTE_DOMAIN_INTERFACE_MAX
    public static let domainIPAddrMax = 2048           // REMOTE_DOMAIN_IP_ADDR_MAX
}

/// An object reference that travels as a nonnull struct: pools, volumes, networks, domains.
public protocol RemoteObject: XDRCodable, Equatable {}
extension DomainRef: RemoteObject {}
extension NetworkRef: RemoteObject {}

/// remote_nonnull_storage_pool.
extension StoragePoolRef: RemoteObject {
    public init(xdr: inout XDRReader) throws(XDRError) {
        let name = try xdr.readString()
        self.init(name: name, uuid: try UUID(xdr: &xdr))
    }
    public func encode(xdr: inout XDRWriter) { xdr.writeString(name); uuid.encode(xdr: &xdr) }
}

/// remote_nonnull_storage_vol.
extension StorageVolRef: RemoteObject {
    public init(xdr: inout XDRReader) throws(XDRError) {
        let pool = try xdr.readString()
        let name = try xdr.readString()
        self.init(pool: pool, name: name, key: try xdr.readString())
    }
    public func encode(xdr: inout XDRWriter) { xdr.writeString(pool); xdr.writeString(name); xdr.writeString(key) }
}

// MARK: Generic shapes

/// `{remote_nonnull_X obj;}`: args of pool create/destroy/undefine/get_info/get_autostart/
/// is_active/is_persistent/num_of_volumes, vol get_info/get_path, network create/destroy/
/// undefine/get_bridge_name/get_autostart/is_active/is_persistent; ret of every lookup,
/// define and create_xml of pools, volumes and networks.
public struct ObjectArgs<Object: RemoteObject>: XDRCodable, Equatable {
    public var object: Object
    public init(_ object: Object) { self.object = object }
    public init(xdr: inout XDRReader) throws(XDRError) { object = try Object(xdr: &xdr) }
    public func encode(xdr: inout XDRWriter) { object.encode(xdr: &xdr) }
}

/// `{remote_nonnull_X obj; unsigned int flags;}`: pool create/build/delete/refresh/get_xml_desc,
/// vol delete/wipe/get_xml_desc/get_info_flags, network get_xml_desc.
public struct ObjectFlagsArgs<Object: RemoteObject>: XDRCodable, Equatable {
    public var object: Object
    public var flags: UInt32
    public init(_ object: Object, flags: UInt32 = 0) { self.object = object; self.flags = flags }
    public init(xdr: inout XDRReader) throws(XDRError) { object = try Object(xdr: &xdr); flags = try xdr.readUInt32() }
    public func encode(xdr: inout XDRWriter) { object.encode(xdr: &xdr); xdr.writeUInt32(flags) }
}

/// `{remote_nonnull_X obj; int value;}`: pool and network set_autostart (autostart),
/// storage_pool_list_volumes (maxnames).
public struct ObjectIntArgs<Object: RemoteObject>: XDRCodable, Equatable {
    public var object: Object
    public var value: Int32
    public init(_ object: Object, _ value: Int32) { self.object = object; self.value = value }
    public init(xdr: inout XDRReader) throws(XDRError) { object = try Object(xdr: &xdr); value = try xdr.readInt32() }
    public func encode(xdr: inout XDRWriter) { object.encode(xdr: &xdr); xdr.writeInt32(value) }
}

/// `{remote_nonnull_X obj; remote_nonnull_string s;}`: storage_vol_lookup_by_name (pool, name),
/// domain_attach_device / domain_detach_device (dom, xml).
public struct ObjectStringArgs<Object: RemoteObject>: XDRCodable, Equatable {
    public var object: Object
    public var string: String
    public init(_ object: Object, _ string: String) { self.object = object; self.string = string }
    public init(xdr: inout XDRReader) throws(XDRError) { object = try Object(xdr: &xdr); string = try xdr.readString() }
    public func encode(xdr: inout XDRWriter) { object.encode(xdr: &xdr); xdr.writeString(string) }
}

/// `{remote_nonnull_X obj; remote_nonnull_string xml; unsigned int flags;}`: storage_vol_create_xml
/// (pool, xml, flags), domain_attach/detach/update_device_flags (dom, xml, flags).
public struct ObjectXMLFlagsArgs<Object: RemoteObject>: XDRCodable, Equatable {
    public var object: Object
    public var xml: String
    public var flags: UInt32
    public init(_ object: Object, xml: String, flags: UInt32 = 0) { self.object = object; self.xml = xml; self.flags = flags }
    public init(xdr: inout XDRReader) throws(XDRError) {
        object = try Object(xdr: &xdr); xml = try xdr.readString(); flags = try xdr.readUInt32()
    }
    public func encode(xdr: inout XDRWriter) { object.encode(xdr: &xdr); xdr.writeString(xml); xdr.writeUInt32(flags) }
}

/// remote_connect_list_all_storage_pools_ret, remote_storage_pool_list_all_volumes_ret,
/// remote_connect_list_all_networks_ret: the objects (when asked for) and their count.
public struct ObjectListRet<Object: RemoteObject, Limit: FixedCount>: XDRCodable, Equatable {
    public var objects: [Object]
    public var ret: UInt32
    public init(_ objects: [Object], ret: UInt32) { self.objects = objects; self.ret = ret }
    public init(xdr: inout XDRReader) throws(XDRError) { objects = try xdr.readArray(max: Limit.count); ret = try xdr.readUInt32() }
    public func encode(xdr: inout XDRWriter) { xdr.writeArray(objects, max: Limit.count); xdr.writeUInt32(ret) }
}

public enum StoragePoolListLimit: FixedCount { public static let count = XDRLimits.storagePoolListMax }
public enum StorageVolListLimit: FixedCount { public static let count = XDRLimits.storageVolListMax }
public enum NetworkListLimit: FixedCount { public static let count = XDRLimits.networkListMax }

/// remote_connect_list_all_storage_pools_args, remote_connect_list_all_networks_args.
public typealias ListAllObjectsArgs = ListAllDomainsArgs

/// `{remote_nonnull_string names<LIST_MAX>;}`: connect_list_(defined_)storage_pools_ret,
/// connect_list_(defined_)networks_ret, storage_pool_list_volumes_ret (all limits 16384).
public typealias NamesRet = ListDomainNamesRet

// MARK: Storage

public typealias StoragePoolArgs = ObjectArgs<StoragePoolRef>
public typealias StoragePoolRet = ObjectArgs<StoragePoolRef>
public typealias StoragePoolFlagsArgs = ObjectFlagsArgs<StoragePoolRef>
public typealias StorageVolArgs = ObjectArgs<StorageVolRef>
public typealias StorageVolRet = ObjectArgs<StorageVolRef>
public typealias StorageVolFlagsArgs = ObjectFlagsArgs<StorageVolRef>
public typealias ListAllStoragePoolsRet = ObjectListRet<StoragePoolRef, StoragePoolListLimit>
public typealias ListAllStorageVolsRet = ObjectListRet<StorageVolRef, StorageVolListLimit>

/// remote_storage_pool_list_all_volumes_args.
public struct StoragePoolListAllVolumesArgs: XDRCodable, Equatable {
    public var pool: StoragePoolRef
    public var needResults: Int32
    public var flags: UInt32
    public init(_ pool: StoragePoolRef, needResults: Int32 = 1, flags: UInt32 = 0) {
        self.pool = pool; self.needResults = needResults; self.flags = flags
    }
    public init(xdr: inout XDRReader) throws(XDRError) {
        pool = try StoragePoolRef(xdr: &xdr); needResults = try xdr.readInt32(); flags = try xdr.readUInt32()
    }
    public func encode(xdr: inout XDRWriter) { pool.encode(xdr: &xdr); xdr.writeInt32(needResults); xdr.writeUInt32(flags) }
}

/// remote_storage_pool_get_info_ret (`unsigned char state` takes 4 bytes).
public struct StoragePoolGetInfoRet: XDRCodable, Equatable {
    public var info: StoragePoolInfo
    public init(_ info: StoragePoolInfo) { self.info = info }
    public init(xdr: inout XDRReader) throws(XDRError) {
        let raw = try xdr.readUInt32()
        // States a newer server may add read as inaccessible rather than failing the call.
        let state = StoragePoolState(rawValue: Int32(truncatingIfNeeded: raw & 0xff)) ?? .inaccessible
        info = StoragePoolInfo(state: state, capacity: try xdr.readUInt64(), allocation: try xdr.readUInt64(),
                               available: try xdr.readUInt64())
    }
    public func encode(xdr: inout XDRWriter) {
        xdr.writeUInt32(UInt32(truncatingIfNeeded: info.state.rawValue))
        xdr.writeUInt64(info.capacity); xdr.writeUInt64(info.allocation); xdr.writeUInt64(info.available)
    }
}

/// remote_storage_vol_get_info_ret and remote_storage_vol_get_info_flags_ret (`char type`
/// takes 4 bytes).
public struct StorageVolGetInfoRet: XDRCodable, Equatable {
    public var info: StorageVolInfo
    public init(_ info: StorageVolInfo) { self.info = info }
    public init(xdr: inout XDRReader) throws(XDRError) {
        let raw = Int32(Int8(truncatingIfNeeded: try xdr.readInt32()))
        guard let type = StorageVolType(rawValue: raw) else { throw .invalidDiscriminant(raw) }
        info = StorageVolInfo(type: type, capacity: try xdr.readUInt64(), allocation: try xdr.readUInt64())
    }
    public func encode(xdr: inout XDRWriter) {
        xdr.writeInt32(info.type.rawValue); xdr.writeUInt64(info.capacity); xdr.writeUInt64(info.allocation)
    }
}

/// remote_storage_vol_create_xml_from_args.
public struct StorageVolCreateXMLFromArgs: XDRCodable, Equatable {
    public var pool: StoragePoolRef
    public var xml: String
    public var clonevol: StorageVolRef
    public var flags: UInt32
    public init(_ pool: StoragePoolRef, xml: String, clonevol: StorageVolRef, flags: UInt32 = 0) {
        self.pool = pool; self.xml = xml; self.clonevol = clonevol; self.flags = flags
    }
    public init(xdr: inout XDRReader) throws(XDRError) {
        pool = try StoragePoolRef(xdr: &xdr); xml = try xdr.readString()
        clonevol = try StorageVolRef(xdr: &xdr); flags = try xdr.readUInt32()
    }
    public func encode(xdr: inout XDRWriter) {
        pool.encode(xdr: &xdr); xdr.writeString(xml); clonevol.encode(xdr: &xdr); xdr.writeUInt32(flags)
    }
}

/// remote_storage_vol_wipe_pattern_args.
public struct StorageVolWipePatternArgs: XDRCodable, Equatable {
    public var vol: StorageVolRef
    public var algorithm: UInt32
    public var flags: UInt32
    public init(_ vol: StorageVolRef, algorithm: UInt32, flags: UInt32 = 0) { self.vol = vol; self.algorithm = algorithm; self.flags = flags }
    public init(xdr: inout XDRReader) throws(XDRError) {
        vol = try StorageVolRef(xdr: &xdr); algorithm = try xdr.readUInt32(); flags = try xdr.readUInt32()
    }
    public func encode(xdr: inout XDRWriter) { vol.encode(xdr: &xdr); xdr.writeUInt32(algorithm); xdr.writeUInt32(flags) }
}

/// remote_storage_vol_resize_args.
public struct StorageVolResizeArgs: XDRCodable, Equatable {
    public var vol: StorageVolRef
    public var capacity: UInt64
    public var flags: UInt32
    public init(_ vol: StorageVolRef, capacity: UInt64, flags: UInt32 = 0) { self.vol = vol; self.capacity = capacity; self.flags = flags }
    public init(xdr: inout XDRReader) throws(XDRError) {
        vol = try StorageVolRef(xdr: &xdr); capacity = try xdr.readUInt64(); flags = try xdr.readUInt32()
    }
    public func encode(xdr: inout XDRWriter) { vol.encode(xdr: &xdr); xdr.writeUInt64(capacity); xdr.writeUInt32(flags) }
}

/// remote_storage_vol_upload_args and remote_storage_vol_download_args.
public struct StorageVolTransferArgs: XDRCodable, Equatable {
    public var vol: StorageVolRef
    public var offset: UInt64
    public var length: UInt64
    public var flags: UInt32
    public init(_ vol: StorageVolRef, offset: UInt64, length: UInt64, flags: UInt32 = 0) {
        self.vol = vol; self.offset = offset; self.length = length; self.flags = flags
    }
    public init(xdr: inout XDRReader) throws(XDRError) {
        vol = try StorageVolRef(xdr: &xdr); offset = try xdr.readUInt64(); length = try xdr.readUInt64(); flags = try xdr.readUInt32()
    }
    public func encode(xdr: inout XDRWriter) {
        vol.encode(xdr: &xdr); xdr.writeUInt64(offset); xdr.writeUInt64(length); xdr.writeUInt32(flags)
    }
}

/// remote_connect_storage_pool_event_register_any_args.
public struct StoragePoolEventRegisterArgs: XDRCodable, Equatable {
    public var eventID: Int32
    public var pool: StoragePoolRef?
    public init(eventID: Int32, pool: StoragePoolRef?) { self.eventID = eventID; self.pool = pool }
    public init(xdr: inout XDRReader) throws(XDRError) { eventID = try xdr.readInt32(); pool = try xdr.readOptional(StoragePoolRef.self) }
    public func encode(xdr: inout XDRWriter) { xdr.writeInt32(eventID); xdr.writeOptional(pool) }
}

// MARK: Networks

public typealias NetworkArgs = ObjectArgs<NetworkRef>
public typealias NetworkRet = ObjectArgs<NetworkRef>
public typealias NetworkFlagsArgs = ObjectFlagsArgs<NetworkRef>
public typealias ListAllNetworksRet = ObjectListRet<NetworkRef, NetworkListLimit>

/// remote_connect_network_event_register_any_args.
public struct NetworkEventRegisterArgs: XDRCodable, Equatable {
    public var eventID: Int32
    public var net: NetworkRef?
    public init(eventID: Int32, net: NetworkRef?) { self.eventID = eventID; self.net = net }
    public init(xdr: inout XDRReader) throws(XDRError) { eventID = try xdr.readInt32(); net = try xdr.readOptional(NetworkRef.self) }
    public func encode(xdr: inout XDRWriter) { xdr.writeInt32(eventID); xdr.writeOptional(net) }
}

/// remote_network_dhcp_lease.
extension NetworkDHCPLease: XDRCodable {
    public init(xdr: inout XDRReader) throws(XDRError) {
        let iface = try xdr.readString()
        let expiry = try xdr.readInt64()
        let rawType = try xdr.readInt32()
        guard let type = IPAddrType(rawValue: rawType) else { throw .invalidDiscriminant(rawType) }
        let mac = try xdr.readOptionalString()
        let iaid = try xdr.readOptionalString()
        let ip = try xdr.readString()
        let prefix = try xdr.readUInt32()
        let hostname = try xdr.readOptionalString()
        self.init(iface: iface, expiryTime: expiry, type: type, mac: mac, iaid: iaid, ipaddr: ip, prefix: prefix,
                  hostname: hostname, clientid: try xdr.readOptionalString())
    }
    public func encode(xdr: inout XDRWriter) {
        xdr.writeString(iface); xdr.writeInt64(expiryTime); xdr.writeInt32(type.rawValue)
        xdr.writeOptionalString(mac); xdr.writeOptionalString(iaid); xdr.writeString(ipaddr); xdr.writeUInt32(prefix)
        xdr.writeOptionalString(hostname); xdr.writeOptionalString(clientid)
    }
}

/// remote_network_get_dhcp_leases_args.
public struct NetworkGetDHCPLeasesArgs: XDRCodable, Equatable {
    public var net: NetworkRef
    public var mac: String?
    public var needResults: Int32
    public var flags: UInt32
    public init(_ net: NetworkRef, mac: String?, needResults: Int32 = 1, flags: UInt32 = 0) {
        self.net = net; self.mac = mac; self.needResults = needResults; self.flags = flags
    }
    public init(xdr: inout XDRReader) throws(XDRError) {
        net = try NetworkRef(xdr: &xdr); mac = try xdr.readOptionalString(); needResults = try xdr.readInt32(); flags = try xdr.readUInt32()
    }
    public func encode(xdr: inout XDRWriter) {
        net.encode(xdr: &xdr); xdr.writeOptionalString(mac); xdr.writeInt32(needResults); xdr.writeUInt32(flags)
    }
}

/// remote_network_get_dhcp_leases_ret.
public struct NetworkGetDHCPLeasesRet: XDRCodable, Equatable {
    public var leases: [NetworkDHCPLease]
    public var ret: UInt32
    public init(leases: [NetworkDHCPLease], ret: UInt32) { self.leases = leases; self.ret = ret }
    public init(xdr: inout XDRReader) throws(XDRError) { leases = try xdr.readArray(max: XDRLimits.networkDHCPLeasesMax); ret = try xdr.readUInt32() }
    public func encode(xdr: inout XDRWriter) { xdr.writeArray(leases, max: XDRLimits.networkDHCPLeasesMax); xdr.writeUInt32(ret) }
}

// MARK: Device changes and interface addresses

public typealias DomainDeviceArgs = ObjectStringArgs<DomainRef>
public typealias DomainDeviceFlagsArgs = ObjectXMLFlagsArgs<DomainRef>

/// remote_domain_ip_addr.
extension DomainIPAddress: XDRCodable {
    public init(xdr: inout XDRReader) throws(XDRError) {
        let rawType = try xdr.readInt32()
        guard let type = IPAddrType(rawValue: rawType) else { throw .invalidDiscriminant(rawType) }
        let addr = try xdr.readString()
        self.init(type: type, addr: addr, prefix: try xdr.readUInt32())
    }
    public func encode(xdr: inout XDRWriter) { xdr.writeInt32(type.rawValue); xdr.writeString(addr); xdr.writeUInt32(prefix) }
}

/// remote_domain_interface.
extension DomainInterfaceAddresses: XDRCodable {
    public init(xdr: inout XDRReader) throws(XDRError) {
        let name = try xdr.readString()
        let hwaddr = try xdr.readOptionalString()
        self.init(name: name, hwaddr: hwaddr, addrs: try xdr.readArray(max: XDRLimits.domainIPAddrMax))
    }
    public func encode(xdr: inout XDRWriter) {
        xdr.writeString(name); xdr.writeOptionalString(hwaddr); xdr.writeArray(addrs, max: XDRLimits.domainIPAddrMax)
    }
}

/// remote_domain_interface_addresses_args.
public struct DomainInterfaceAddressesArgs: XDRCodable, Equatable {
    public var dom: DomainRef
    public var source: UInt32
    public var flags: UInt32
    public init(_ dom: DomainRef, source: UInt32, flags: UInt32 = 0) { self.dom = dom; self.source = source; self.flags = flags }
    public init(xdr: inout XDRReader) throws(XDRError) {
        dom = try DomainRef(xdr: &xdr); source = try xdr.readUInt32(); flags = try xdr.readUInt32()
    }
    public func encode(xdr: inout XDRWriter) { dom.encode(xdr: &xdr); xdr.writeUInt32(source); xdr.writeUInt32(flags) }
}

/// remote_domain_interface_addresses_ret.
public struct DomainInterfaceAddressesRet: XDRCodable, Equatable {
    public var ifaces: [DomainInterfaceAddresses]
    public init(_ ifaces: [DomainInterfaceAddresses]) { self.ifaces = ifaces }
    public init(xdr: inout XDRReader) throws(XDRError) { ifaces = try xdr.readArray(max: XDRLimits.domainInterfaceMax) }
    public func encode(xdr: inout XDRWriter) { xdr.writeArray(ifaces, max: XDRLimits.domainInterfaceMax) }
}

// MARK: Streams

/// virNetStreamHole (virnetprotocol.x): the payload of a STREAM_HOLE packet, a run of zeros
/// in a sparse upload or download.
public struct StreamHole: XDRCodable, Equatable {
    public var length: Int64
    public var flags: UInt32
    public init(length: Int64, flags: UInt32 = 0) { self.length = length; self.flags = flags }
    public init(xdr: inout XDRReader) throws(XDRError) { length = try xdr.readInt64(); flags = try xdr.readUInt32() }
    public func encode(xdr: inout XDRWriter) { xdr.writeInt64(length); xdr.writeUInt32(flags) }
}
