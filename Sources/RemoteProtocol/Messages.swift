import Foundation
import Hypervisor

// Argument and return structs of the remote program, field for field as in libvirt's
// src/remote/remote_protocol.x. Structs with the same wire shape are shared between
// procedures (e.g. every `{remote_nonnull_domain dom;}` is `DomainArgs`); each type names
// the .x structs it stands for.

/// A procedure without arguments or without a return value.
public struct XDRVoid: XDRCodable, Equatable {
    public init() {}
    public init(xdr: inout XDRReader) throws(XDRError) {}
    public func encode(xdr: inout XDRWriter) {}
}

// MARK: Shared data types

extension UUID {
    /// remote_uuid: 16 raw bytes.
    public init(xdr: inout XDRReader) throws(XDRError) {
        let b = try xdr.readFixedOpaque(16)
        self = UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                           b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }

    public func encode(xdr: inout XDRWriter) {
        withUnsafeBytes(of: uuid) { xdr.writeFixedOpaque(Array($0)) }
    }
}

/// remote_nonnull_domain.
extension DomainRef: XDRCodable {
    public init(xdr: inout XDRReader) throws(XDRError) {
        let name = try xdr.readString()
        let uuid = try UUID(xdr: &xdr)
        self.init(name: name, uuid: uuid, id: try xdr.readInt32())
    }

    public func encode(xdr: inout XDRWriter) {
        xdr.writeString(name)
        uuid.encode(xdr: &xdr)
        xdr.writeInt32(id)
    }
}

/// remote_nonnull_network (Hypervisor's NetworkRef, which replaced a local copy of the same shape).
extension NetworkRef: XDRCodable {
    public init(xdr: inout XDRReader) throws(XDRError) {
        let name = try xdr.readString()
        self.init(name: name, uuid: try UUID(xdr: &xdr))
    }
    public func encode(xdr: inout XDRWriter) { xdr.writeString(name); uuid.encode(xdr: &xdr) }
}

/// remote_typed_param: a field name and a union value (arms 1...7 in TypedValue's order).
extension TypedParam: XDRCodable {
    public init(xdr: inout XDRReader) throws(XDRError) {
        let field = try xdr.readString()
        let value: TypedValue
        switch try xdr.readInt32() {
        case 1: value = .int(try xdr.readInt32())
        case 2: value = .uint(try xdr.readUInt32())
        case 3: value = .llong(try xdr.readInt64())
        case 4: value = .ullong(try xdr.readUInt64())
        case 5: value = .double(try xdr.readDouble())
        case 6: value = .boolean(try xdr.readInt32() != 0)
        case 7: value = .string(try xdr.readString())
        case let d: throw .invalidDiscriminant(d)
        }
        self.init(field, value)
    }

    public func encode(xdr: inout XDRWriter) {
        xdr.writeString(field)
        switch value {
        case .int(let v): xdr.writeInt32(1); xdr.writeInt32(v)
        case .uint(let v): xdr.writeInt32(2); xdr.writeUInt32(v)
        case .llong(let v): xdr.writeInt32(3); xdr.writeInt64(v)
        case .ullong(let v): xdr.writeInt32(4); xdr.writeUInt64(v)
        case .double(let v): xdr.writeInt32(5); xdr.writeDouble(v)
        case .boolean(let v): xdr.writeInt32(6); xdr.writeInt32(v ? 1 : 0)
        case .string(let v): xdr.writeInt32(7); xdr.writeString(v)
        }
    }
}

/// remote_vcpu_info.
extension VCPUInfo: XDRCodable {
    public init(xdr: inout XDRReader) throws(XDRError) {
        self.init(number: try xdr.readUInt32(), state: try xdr.readInt32(), cpuTimeNs: try xdr.readUInt64(), cpu: try xdr.readInt32())
    }
    public func encode(xdr: inout XDRWriter) {
        xdr.writeUInt32(number); xdr.writeInt32(state); xdr.writeUInt64(cpuTimeNs); xdr.writeInt32(cpu)
    }
}

/// remote_domain_stats_record.
extension DomainStatsRecord: XDRCodable {
    public init(xdr: inout XDRReader) throws(XDRError) {
        let dom = try DomainRef(xdr: &xdr)
        self.init(domain: dom, params: try xdr.readArray(max: XDRLimits.allDomainStatsMax))
    }
    public func encode(xdr: inout XDRWriter) {
        domain.encode(xdr: &xdr)
        xdr.writeArray(params, max: XDRLimits.allDomainStatsMax)
    }
}

/// remote_error: what a failed call returns (type REPLY, status ERROR).
public struct RemoteError: XDRCodable, Equatable, Error {
    public var code: Int32
    public var domain: Int32
    public var message: String?
    /// virErrorLevel: 1 warning, 2 error.
    public var level: Int32
    public var dom: DomainRef?
    public var str1: String?
    public var str2: String?
    public var str3: String?
    public var int1: Int32
    public var int2: Int32
    public var net: NetworkRef?

    public init(code: Int32, domain: Int32, message: String?, level: Int32 = 2, dom: DomainRef? = nil,
                str1: String? = nil, str2: String? = nil, str3: String? = nil, int1: Int32 = 0, int2: Int32 = 0,
                net: NetworkRef? = nil) {
        self.code = code; self.domain = domain; self.message = message; self.level = level; self.dom = dom
        self.str1 = str1; self.str2 = str2; self.str3 = str3; self.int1 = int1; self.int2 = int2; self.net = net
    }

    /// The wire form of a VirError. libvirt puts the formatted message in `message` and the
    /// unformatted one in `str1`; clients print `message`.
    public init(_ e: VirError) {
        self.init(code: e.code.rawValue, domain: e.domain.rawValue, message: e.message, str1: e.message)
    }

    /// Back to a VirError (codes this build does not know become internal errors).
    public var virError: VirError {
        VirError(VirError.Code(rawValue: code) ?? .internalError, message ?? "unknown error",
                 domain: ErrorDomain(rawValue: domain) ?? .none)
    }

    public init(xdr: inout XDRReader) throws(XDRError) {
        code = try xdr.readInt32()
        domain = try xdr.readInt32()
        message = try xdr.readOptionalString()
        level = try xdr.readInt32()
        dom = try xdr.readOptional(DomainRef.self)
        str1 = try xdr.readOptionalString()
        str2 = try xdr.readOptionalString()
        str3 = try xdr.readOptionalString()
        int1 = try xdr.readInt32()
        int2 = try xdr.readInt32()
        net = try xdr.readOptional(NetworkRef.self)
    }

    public func encode(xdr: inout XDRWriter) {
        xdr.writeInt32(code); xdr.writeInt32(domain); xdr.writeOptionalString(message); xdr.writeInt32(level)
        xdr.writeOptional(dom); xdr.writeOptionalString(str1); xdr.writeOptionalString(str2)
        xdr.writeOptionalString(str3); xdr.writeInt32(int1); xdr.writeInt32(int2); xdr.writeOptional(net)
    }
}

// MARK: Single-value shapes

/// `{int x;}`: supports_feature args, list_domains/list_defined_domains args (maxids/maxnames),
/// lookup_by_id args, event_callback_deregister_any args (callbackID).
public struct Int32Args: XDRCodable, Equatable {
    public var value: Int32
    public init(_ value: Int32) { self.value = value }
    public init(xdr: inout XDRReader) throws(XDRError) { value = try xdr.readInt32() }
    public func encode(xdr: inout XDRWriter) { xdr.writeInt32(value) }
}

/// `{int x;}` returns: supports_feature (supported), num_of_domains, num_of_defined_domains (num),
/// get_autostart, is_active, is_persistent, is_secure, get_max_vcpus, get_vcpus_flags,
/// has_managed_save_image, event_callback_register_any (callbackID).
public typealias Int32Ret = Int32Args

/// `{unsigned hyper x;}`: get_version (hv_ver), get_lib_version (lib_ver), get_max_memory (memory).
public struct UInt64Ret: XDRCodable, Equatable {
    public var value: UInt64
    public init(_ value: UInt64) { self.value = value }
    public init(xdr: inout XDRReader) throws(XDRError) { value = try xdr.readUInt64() }
    public func encode(xdr: inout XDRWriter) { xdr.writeUInt64(value) }
}

/// `{remote_nonnull_string x;}`: get_type, get_hostname, get_uri, get_capabilities,
/// get_domain_capabilities, domain_get_xml_desc, domain_get_os_type, domain_xml_to_native
/// returns; domain_lookup_by_name and domain_define_xml args.
public struct StringValue: XDRCodable, Equatable {
    public var value: String
    public init(_ value: String) { self.value = value }
    public init(xdr: inout XDRReader) throws(XDRError) { value = try xdr.readString() }
    public func encode(xdr: inout XDRWriter) { xdr.writeString(value) }
}

/// `{remote_uuid uuid;}`: domain_lookup_by_uuid args.
public struct UUIDArgs: XDRCodable, Equatable {
    public var uuid: UUID
    public init(_ uuid: UUID) { self.uuid = uuid }
    public init(xdr: inout XDRReader) throws(XDRError) { uuid = try UUID(xdr: &xdr) }
    public func encode(xdr: inout XDRWriter) { uuid.encode(xdr: &xdr) }
}

/// `{remote_nonnull_domain dom;}`: args of create, suspend, resume, shutdown, destroy, undefine,
/// get_info, get_os_type, get_autostart, get_max_memory, get_max_vcpus, is_active,
/// is_persistent, get_security_label(_list); ret of every lookup, define_xml(_flags),
/// create_xml, create_with_flags.
public struct DomainArgs: XDRCodable, Equatable {
    public var dom: DomainRef
    public init(_ dom: DomainRef) { self.dom = dom }
    public init(xdr: inout XDRReader) throws(XDRError) { dom = try DomainRef(xdr: &xdr) }
    public func encode(xdr: inout XDRWriter) { dom.encode(xdr: &xdr) }
}

public typealias DomainRet = DomainArgs

/// `{remote_nonnull_domain dom; unsigned int flags;}`: create_with_flags, undefine_flags,
/// destroy_flags, shutdown_flags, reboot, reset, get_xml_desc, get_state, get_vcpus_flags,
/// has_managed_save_image.
public struct DomainFlagsArgs: XDRCodable, Equatable {
    public var dom: DomainRef
    public var flags: UInt32
    public init(_ dom: DomainRef, flags: UInt32 = 0) { self.dom = dom; self.flags = flags }
    public init(xdr: inout XDRReader) throws(XDRError) { dom = try DomainRef(xdr: &xdr); flags = try xdr.readUInt32() }
    public func encode(xdr: inout XDRWriter) { dom.encode(xdr: &xdr); xdr.writeUInt32(flags) }
}

/// `{remote_nonnull_string xml; unsigned int flags;}`: domain_define_xml_flags, domain_create_xml.
public struct XMLFlagsArgs: XDRCodable, Equatable {
    public var xml: String
    public var flags: UInt32
    public init(_ xml: String, flags: UInt32 = 0) { self.xml = xml; self.flags = flags }
    public init(xdr: inout XDRReader) throws(XDRError) { xml = try xdr.readString(); flags = try xdr.readUInt32() }
    public func encode(xdr: inout XDRWriter) { xdr.writeString(xml); xdr.writeUInt32(flags) }
}

// MARK: Connection

/// remote_connect_open_args.
public struct ConnectOpenArgs: XDRCodable, Equatable {
    /// VIR_CONNECT_RO.
    public static let readOnlyFlag: UInt32 = 1
    public var name: String?
    public var flags: UInt32
    public init(name: String?, flags: UInt32 = 0) { self.name = name; self.flags = flags }
    public init(xdr: inout XDRReader) throws(XDRError) { name = try xdr.readOptionalString(); flags = try xdr.readUInt32() }
    public func encode(xdr: inout XDRWriter) { xdr.writeOptionalString(name); xdr.writeUInt32(flags) }
}

/// remote_auth_list_ret.
public struct AuthListRet: XDRCodable, Equatable {
    public static let none: Int32 = 0, sasl: Int32 = 1, polkit: Int32 = 2
    public var types: [Int32]
    public init(types: [Int32]) { self.types = types }
    public init(xdr: inout XDRReader) throws(XDRError) {
        types = try xdr.readArray(max: XDRLimits.authTypeListMax) { (r: inout XDRReader) throws(XDRError) in try r.readInt32() }
    }
    public func encode(xdr: inout XDRWriter) { xdr.writeArray(types, max: XDRLimits.authTypeListMax) { $0.writeInt32($1) } }
}

/// VIR_DRV_FEATURE_* numbers asked with CONNECT_SUPPORTS_FEATURE.
public enum DriverFeature {
    public static let typedParamString: Int32 = 9
    public static let programKeepalive: Int32 = 10
    public static let xmlMigratable: Int32 = 11
    public static let remoteEventCallback: Int32 = 14
    public static let remoteCloseCallback: Int32 = 15
    public static let fdPassing: Int32 = 8
}

/// remote_node_get_info_ret; `char model[32]` is 32 four-byte units on the wire.
public struct NodeGetInfoRet: XDRCodable, Equatable {
    public var info: NodeInfo
    public init(_ info: NodeInfo) { self.info = info }
    public init(xdr: inout XDRReader) throws(XDRError) {
        let model = try xdr.readCharArray(fixed: XDRLimits.nodeModelLength)
        info = NodeInfo(model: model, memoryKiB: try xdr.readUInt64(), cpus: try xdr.readInt32(), mhz: try xdr.readInt32(),
                        nodes: try xdr.readInt32(), sockets: try xdr.readInt32(), cores: try xdr.readInt32(),
                        threads: try xdr.readInt32())
    }
    public func encode(xdr: inout XDRWriter) {
        xdr.writeCharArray(info.model, fixed: XDRLimits.nodeModelLength)
        xdr.writeUInt64(info.memoryKiB)
        for v in [info.cpus, info.mhz, info.nodes, info.sockets, info.cores, info.threads] { xdr.writeInt32(v) }
    }
}

/// remote_connect_get_domain_capabilities_args.
public struct DomainCapabilitiesArgs: XDRCodable, Equatable {
    public var emulatorbin: String?
    public var arch: String?
    public var machine: String?
    public var virttype: String?
    public var flags: UInt32
    public init(emulatorbin: String? = nil, arch: String? = nil, machine: String? = nil, virttype: String? = nil, flags: UInt32 = 0) {
        self.emulatorbin = emulatorbin; self.arch = arch; self.machine = machine; self.virttype = virttype; self.flags = flags
    }
    public init(xdr: inout XDRReader) throws(XDRError) {
        emulatorbin = try xdr.readOptionalString(); arch = try xdr.readOptionalString()
        machine = try xdr.readOptionalString(); virttype = try xdr.readOptionalString(); flags = try xdr.readUInt32()
    }
    public func encode(xdr: inout XDRWriter) {
        xdr.writeOptionalString(emulatorbin); xdr.writeOptionalString(arch)
        xdr.writeOptionalString(machine); xdr.writeOptionalString(virttype); xdr.writeUInt32(flags)
    }
}

/// remote_connect_domain_xml_to_native_args.
public struct DomainXMLToNativeArgs: XDRCodable, Equatable {
    public var nativeFormat: String
    public var domainXml: String
    public var flags: UInt32
    public init(nativeFormat: String, domainXml: String, flags: UInt32 = 0) {
        self.nativeFormat = nativeFormat; self.domainXml = domainXml; self.flags = flags
    }
    public init(xdr: inout XDRReader) throws(XDRError) {
        nativeFormat = try xdr.readString(); domainXml = try xdr.readString(); flags = try xdr.readUInt32()
    }
    public func encode(xdr: inout XDRWriter) { xdr.writeString(nativeFormat); xdr.writeString(domainXml); xdr.writeUInt32(flags) }
}

/// remote_node_get_cpu_map_args.
public struct NodeGetCPUMapArgs: XDRCodable, Equatable {
    public var needMap: Int32
    public var needOnline: Int32
    public var flags: UInt32
    public init(needMap: Int32, needOnline: Int32, flags: UInt32 = 0) { self.needMap = needMap; self.needOnline = needOnline; self.flags = flags }
    public init(xdr: inout XDRReader) throws(XDRError) {
        needMap = try xdr.readInt32(); needOnline = try xdr.readInt32(); flags = try xdr.readUInt32()
    }
    public func encode(xdr: inout XDRWriter) { xdr.writeInt32(needMap); xdr.writeInt32(needOnline); xdr.writeUInt32(flags) }
}

/// remote_node_get_cpu_map_ret.
public struct NodeGetCPUMapRet: XDRCodable, Equatable {
    public var cpumap: [UInt8]
    public var online: UInt32
    public var ret: Int32
    public init(cpumap: [UInt8], online: UInt32, ret: Int32) { self.cpumap = cpumap; self.online = online; self.ret = ret }
    public init(xdr: inout XDRReader) throws(XDRError) {
        cpumap = try xdr.readOpaque(max: XDRLimits.cpumapMax); online = try xdr.readUInt32(); ret = try xdr.readInt32()
    }
    public func encode(xdr: inout XDRWriter) { xdr.writeOpaque(cpumap, max: XDRLimits.cpumapMax); xdr.writeUInt32(online); xdr.writeInt32(ret) }
}

/// remote_node_get_security_model_ret (`char model<>`, `char doi<>`: C strings, NUL included).
public struct SecurityModelRet: XDRCodable, Equatable {
    public var model: SecurityModel
    public init(_ model: SecurityModel) { self.model = model }
    public init(xdr: inout XDRReader) throws(XDRError) {
        let m = try xdr.readCharArray(max: XDRLimits.securityModelMax)
        model = SecurityModel(model: m, doi: try xdr.readCharArray(max: XDRLimits.securityDOIMax))
    }
    public func encode(xdr: inout XDRWriter) {
        xdr.writeCharArray(model.model, max: XDRLimits.securityModelMax)
        xdr.writeCharArray(model.doi, max: XDRLimits.securityDOIMax)
    }
}

// MARK: Domain lists

/// remote_connect_list_all_domains_args.
public struct ListAllDomainsArgs: XDRCodable, Equatable {
    public var needResults: Int32
    public var flags: UInt32
    public init(needResults: Int32 = 1, flags: UInt32) { self.needResults = needResults; self.flags = flags }
    public init(xdr: inout XDRReader) throws(XDRError) { needResults = try xdr.readInt32(); flags = try xdr.readUInt32() }
    public func encode(xdr: inout XDRWriter) { xdr.writeInt32(needResults); xdr.writeUInt32(flags) }
}

/// remote_connect_list_all_domains_ret.
public struct ListAllDomainsRet: XDRCodable, Equatable {
    public var domains: [DomainRef]
    public var ret: UInt32
    public init(domains: [DomainRef], ret: UInt32) { self.domains = domains; self.ret = ret }
    public init(xdr: inout XDRReader) throws(XDRError) {
        domains = try xdr.readArray(max: XDRLimits.domainListMax); ret = try xdr.readUInt32()
    }
    public func encode(xdr: inout XDRWriter) { xdr.writeArray(domains, max: XDRLimits.domainListMax); xdr.writeUInt32(ret) }
}

/// remote_connect_list_domains_ret.
public struct ListDomainIDsRet: XDRCodable, Equatable {
    public var ids: [Int32]
    public init(ids: [Int32]) { self.ids = ids }
    public init(xdr: inout XDRReader) throws(XDRError) {
        ids = try xdr.readArray(max: XDRLimits.domainListMax) { (r: inout XDRReader) throws(XDRError) in try r.readInt32() }
    }
    public func encode(xdr: inout XDRWriter) { xdr.writeArray(ids, max: XDRLimits.domainListMax) { $0.writeInt32($1) } }
}

/// remote_connect_list_defined_domains_ret; also remote_domain_get_messages_ret (whose
/// limit, REMOTE_DOMAIN_MESSAGES_MAX 2048, is below the list's).
public struct ListDomainNamesRet: XDRCodable, Equatable {
    public var names: [String]
    public init(names: [String]) { self.names = names }
    public init(xdr: inout XDRReader) throws(XDRError) {
        names = try xdr.readArray(max: XDRLimits.domainListMax) { (r: inout XDRReader) throws(XDRError) in try r.readString() }
    }
    public func encode(xdr: inout XDRWriter) { xdr.writeArray(names, max: XDRLimits.domainListMax) { $0.writeString($1) } }
}

// MARK: Domain state and info

/// remote_domain_get_info_ret (`unsigned char state` and `unsigned short nrVirtCpu` take 4 bytes each).
public struct DomainGetInfoRet: XDRCodable, Equatable {
    public var info: DomainInfo
    public init(_ info: DomainInfo) { self.info = info }
    public init(xdr: inout XDRReader) throws(XDRError) {
        let raw = try xdr.readUInt32()
        let state = DomainState(rawValue: Int32(truncatingIfNeeded: raw & 0xff)) ?? .noState
        info = DomainInfo(state: state, maxMemKiB: try xdr.readUInt64(), memoryKiB: try xdr.readUInt64(),
                          nrVirtCPU: UInt16(truncatingIfNeeded: try xdr.readUInt32()), cpuTimeNs: try xdr.readUInt64())
    }
    public func encode(xdr: inout XDRWriter) {
        xdr.writeUInt32(UInt32(info.state.rawValue)); xdr.writeUInt64(info.maxMemKiB); xdr.writeUInt64(info.memoryKiB)
        xdr.writeUInt32(UInt32(info.nrVirtCPU)); xdr.writeUInt64(info.cpuTimeNs)
    }
}

/// remote_domain_get_state_ret.
public struct DomainGetStateRet: XDRCodable, Equatable {
    public var state: Int32
    public var reason: Int32
    public init(state: Int32, reason: Int32) { self.state = state; self.reason = reason }
    public init(xdr: inout XDRReader) throws(XDRError) { state = try xdr.readInt32(); reason = try xdr.readInt32() }
    public func encode(xdr: inout XDRWriter) { xdr.writeInt32(state); xdr.writeInt32(reason) }
}

/// remote_domain_set_autostart_args.
public struct DomainSetAutostartArgs: XDRCodable, Equatable {
    public var dom: DomainRef
    public var autostart: Int32
    public init(_ dom: DomainRef, autostart: Int32) { self.dom = dom; self.autostart = autostart }
    public init(xdr: inout XDRReader) throws(XDRError) { dom = try DomainRef(xdr: &xdr); autostart = try xdr.readInt32() }
    public func encode(xdr: inout XDRWriter) { dom.encode(xdr: &xdr); xdr.writeInt32(autostart) }
}

/// remote_domain_get_vcpus_args.
public struct DomainGetVcpusArgs: XDRCodable, Equatable {
    public var dom: DomainRef
    public var maxinfo: Int32
    public var maplen: Int32
    public init(_ dom: DomainRef, maxinfo: Int32, maplen: Int32) { self.dom = dom; self.maxinfo = maxinfo; self.maplen = maplen }
    public init(xdr: inout XDRReader) throws(XDRError) {
        dom = try DomainRef(xdr: &xdr); maxinfo = try xdr.readInt32(); maplen = try xdr.readInt32()
    }
    public func encode(xdr: inout XDRWriter) { dom.encode(xdr: &xdr); xdr.writeInt32(maxinfo); xdr.writeInt32(maplen) }
}

/// remote_domain_get_vcpus_ret.
public struct DomainGetVcpusRet: XDRCodable, Equatable {
    public var info: [VCPUInfo]
    public var cpumaps: [UInt8]
    public init(info: [VCPUInfo], cpumaps: [UInt8]) { self.info = info; self.cpumaps = cpumaps }
    public init(xdr: inout XDRReader) throws(XDRError) {
        info = try xdr.readArray(max: XDRLimits.vcpuInfoMax); cpumaps = try xdr.readOpaque(max: XDRLimits.cpumapsMax)
    }
    public func encode(xdr: inout XDRWriter) { xdr.writeArray(info, max: XDRLimits.vcpuInfoMax); xdr.writeOpaque(cpumaps, max: XDRLimits.cpumapsMax) }
}

/// remote_domain_get_security_label_ret.
public struct SecurityLabelRet: XDRCodable, Equatable {
    /// nil: the domain has no label (sent as an empty array, as libvirtd does).
    public var label: SecurityLabel?
    public init(_ label: SecurityLabel?) { self.label = label }
    public init(xdr: inout XDRReader) throws(XDRError) {
        let n = try xdr.readLength(max: XDRLimits.securityLabelMax, minItemSize: 4)
        let text = n == 0 ? nil : try xdr.readCharArray(fixed: n)
        let enforcing = try xdr.readInt32()
        label = text.map { SecurityLabel(label: $0, enforcing: enforcing != 0) }
    }
    public func encode(xdr: inout XDRWriter) {
        if let label {
            xdr.writeCharArray(label.label, max: XDRLimits.securityLabelMax)
            xdr.writeInt32(label.enforcing ? 1 : 0)
        } else {
            xdr.writeUInt32(0)
            xdr.writeInt32(0)
        }
    }
}

/// remote_domain_get_security_label_list_ret.
public struct SecurityLabelListRet: XDRCodable, Equatable {
    public var labels: [SecurityLabelRet]
    public var ret: Int32
    public init(labels: [SecurityLabelRet], ret: Int32) { self.labels = labels; self.ret = ret }
    public init(xdr: inout XDRReader) throws(XDRError) {
        labels = try xdr.readArray(max: XDRLimits.securityLabelListMax); ret = try xdr.readInt32()
    }
    public func encode(xdr: inout XDRWriter) { xdr.writeArray(labels, max: XDRLimits.securityLabelListMax); xdr.writeInt32(ret) }
}

// MARK: Stats

/// remote_connect_get_all_domain_stats_args.
public struct GetAllDomainStatsArgs: XDRCodable, Equatable {
    public var doms: [DomainRef]
    public var stats: UInt32
    public var flags: UInt32
    public init(doms: [DomainRef], stats: UInt32, flags: UInt32) { self.doms = doms; self.stats = stats; self.flags = flags }
    public init(xdr: inout XDRReader) throws(XDRError) {
        doms = try xdr.readArray(max: XDRLimits.domainListMax); stats = try xdr.readUInt32(); flags = try xdr.readUInt32()
    }
    public func encode(xdr: inout XDRWriter) { xdr.writeArray(doms, max: XDRLimits.domainListMax); xdr.writeUInt32(stats); xdr.writeUInt32(flags) }
}

/// remote_connect_get_all_domain_stats_ret.
public struct GetAllDomainStatsRet: XDRCodable, Equatable {
    public var retStats: [DomainStatsRecord]
    public init(retStats: [DomainStatsRecord]) { self.retStats = retStats }
    public init(xdr: inout XDRReader) throws(XDRError) { retStats = try xdr.readArray(max: XDRLimits.domainListMax) }
    public func encode(xdr: inout XDRWriter) { xdr.writeArray(retStats, max: XDRLimits.domainListMax) }
}

/// remote_domain_memory_stats_args.
public struct DomainMemoryStatsArgs: XDRCodable, Equatable {
    public var dom: DomainRef
    public var maxStats: UInt32
    public var flags: UInt32
    public init(_ dom: DomainRef, maxStats: UInt32, flags: UInt32 = 0) { self.dom = dom; self.maxStats = maxStats; self.flags = flags }
    public init(xdr: inout XDRReader) throws(XDRError) {
        dom = try DomainRef(xdr: &xdr); maxStats = try xdr.readUInt32(); flags = try xdr.readUInt32()
    }
    public func encode(xdr: inout XDRWriter) { dom.encode(xdr: &xdr); xdr.writeUInt32(maxStats); xdr.writeUInt32(flags) }
}

/// remote_domain_memory_stat (tag numbers are virDomainMemoryStatTags).
public struct MemoryStat: XDRCodable, Equatable {
    public var tag: Int32
    public var val: UInt64
    public init(tag: Int32, val: UInt64) { self.tag = tag; self.val = val }
    public init(xdr: inout XDRReader) throws(XDRError) { tag = try xdr.readInt32(); val = try xdr.readUInt64() }
    public func encode(xdr: inout XDRWriter) { xdr.writeInt32(tag); xdr.writeUInt64(val) }
}

/// remote_domain_memory_stats_ret.
public struct DomainMemoryStatsRet: XDRCodable, Equatable {
    public var stats: [MemoryStat]
    public init(stats: [MemoryStat]) { self.stats = stats }
    public init(xdr: inout XDRReader) throws(XDRError) { stats = try xdr.readArray(max: XDRLimits.memoryStatsMax) }
    public func encode(xdr: inout XDRWriter) { xdr.writeArray(stats, max: XDRLimits.memoryStatsMax) }
}

/// `{remote_nonnull_domain dom; remote_nonnull_string path;}`: domain_block_stats and
/// domain_interface_stats args.
public struct DomainPathArgs: XDRCodable, Equatable {
    public var dom: DomainRef
    public var path: String
    public init(_ dom: DomainRef, path: String) { self.dom = dom; self.path = path }
    public init(xdr: inout XDRReader) throws(XDRError) { dom = try DomainRef(xdr: &xdr); path = try xdr.readString() }
    public func encode(xdr: inout XDRWriter) { dom.encode(xdr: &xdr); xdr.writeString(path) }
}

/// A run of `hyper`s: remote_domain_block_stats_ret (rd_req, rd_bytes, wr_req, wr_bytes, errs)
/// and remote_domain_interface_stats_ret (rx_bytes, rx_packets, rx_errs, rx_drop, tx_bytes,
/// tx_packets, tx_errs, tx_drop). -1 means unknown, as in libvirt.
public struct HyperList<Count: FixedCount>: XDRCodable, Equatable {
    public var values: [Int64]
    public init(_ values: [Int64]) { self.values = Array((values + Array(repeating: -1, count: Count.count)).prefix(Count.count)) }
    public init(xdr: inout XDRReader) throws(XDRError) {
        var v: [Int64] = []
        for _ in 0..<Count.count { v.append(try xdr.readInt64()) }
        values = v
    }
    public func encode(xdr: inout XDRWriter) { for v in values { xdr.writeInt64(v) } }
}

public protocol FixedCount: Sendable { static var count: Int { get } }
public enum BlockStatsFields: FixedCount { public static let count = 5 }
public enum InterfaceStatsFields: FixedCount { public static let count = 8 }
public typealias DomainBlockStatsRet = HyperList<BlockStatsFields>
public typealias DomainInterfaceStatsRet = HyperList<InterfaceStatsFields>

// MARK: Console and events

/// remote_domain_open_console_args.
public struct DomainOpenConsoleArgs: XDRCodable, Equatable {
    /// VIR_DOMAIN_CONSOLE_FORCE.
    public static let force: UInt32 = 1
    public var dom: DomainRef
    public var devName: String?
    public var flags: UInt32
    public init(_ dom: DomainRef, devName: String?, flags: UInt32 = 0) { self.dom = dom; self.devName = devName; self.flags = flags }
    public init(xdr: inout XDRReader) throws(XDRError) {
        dom = try DomainRef(xdr: &xdr); devName = try xdr.readOptionalString(); flags = try xdr.readUInt32()
    }
    public func encode(xdr: inout XDRWriter) { dom.encode(xdr: &xdr); xdr.writeOptionalString(devName); xdr.writeUInt32(flags) }
}

/// remote_connect_domain_event_callback_register_any_args.
public struct EventCallbackRegisterArgs: XDRCodable, Equatable {
    /// virDomainEventID: 0 is LIFECYCLE.
    public var eventID: Int32
    /// Only this domain's events, when set.
    public var dom: DomainRef?
    public init(eventID: Int32, dom: DomainRef?) { self.eventID = eventID; self.dom = dom }
    public init(xdr: inout XDRReader) throws(XDRError) { eventID = try xdr.readInt32(); dom = try xdr.readOptional(DomainRef.self) }
    public func encode(xdr: inout XDRWriter) { xdr.writeInt32(eventID); xdr.writeOptional(dom) }
}

/// remote_domain_event_callback_lifecycle_msg (callbackID + remote_domain_event_lifecycle_msg).
public struct EventCallbackLifecycleMsg: XDRCodable, Equatable {
    public var callbackID: Int32
    public var dom: DomainRef
    public var event: Int32
    public var detail: Int32
    public init(callbackID: Int32, dom: DomainRef, event: Int32, detail: Int32) {
        self.callbackID = callbackID; self.dom = dom; self.event = event; self.detail = detail
    }
    public init(xdr: inout XDRReader) throws(XDRError) {
        callbackID = try xdr.readInt32(); dom = try DomainRef(xdr: &xdr); event = try xdr.readInt32(); detail = try xdr.readInt32()
    }
    public func encode(xdr: inout XDRWriter) { xdr.writeInt32(callbackID); dom.encode(xdr: &xdr); xdr.writeInt32(event); xdr.writeInt32(detail) }
}
