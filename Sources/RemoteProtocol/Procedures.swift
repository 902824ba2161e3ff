import Hypervisor

// The remote program's procedures, one declaration each: number and name from
// remote_protocol.x's `enum remote_procedure`, the argument and return structs, and whether
// a read-only connection may call it (libvirt refuses, in the public API, every call that
// changes state or opens a device; @acl `none`, `getattr`, `read` and `search_*` ones pass).
// The server registers handlers against these values; the client calls through them.

/// A procedure of the REMOTE program (0x20008086, version 1).
public struct Procedure<Args: XDRCodable, Ret: XDRCodable>: Sendable, CustomStringConvertible {
    public let number: Int32
    /// REMOTE_PROC_ name without the prefix, e.g. "DOMAIN_LOOKUP_BY_NAME".
    public let name: String
    /// Whether a read-only connection may call it.
    public let readOnly: Bool
    /// The public API name libvirt's errors cite, e.g. "virDomainCreate".
    public let api: String

    public init(_ number: Int32, _ name: String, readOnly: Bool, api: String? = nil) {
        self.number = number
        self.name = name
        self.readOnly = readOnly
        self.api = api ?? Self.apiName(name)
    }

    public var description: String { "REMOTE_PROC_\(name) (\(number))" }

    /// "DOMAIN_DEFINE_XML_FLAGS" → "virDomainDefineXMLFlags"; "CONNECT_GET_URI" → "virConnectGetURI".
    static func apiName(_ name: String) -> String {
        let acronyms: Set<String> = ["XML", "URI", "UUID", "ID", "CPU", "OS"]
        return "vir" + name.split(separator: "_").map { word -> String in
            acronyms.contains(String(word)) ? String(word) : String(word.prefix(1)) + word.dropFirst().lowercased()
        }.joined()
    }
}

/// Procedure metadata without its types, for tables keyed by number.
public struct ProcedureInfo: Sendable, Hashable {
    public let number: Int32
    public let name: String
    public let readOnly: Bool
    public let api: String
}

extension Procedure {
    public var info: ProcedureInfo { ProcedureInfo(number: number, name: name, readOnly: readOnly, api: api) }
}

public enum Procedures {
    // Connection and authentication
    public static let connectOpen = Procedure<ConnectOpenArgs, XDRVoid>(1, "CONNECT_OPEN", readOnly: true)
    public static let connectClose = Procedure<XDRVoid, XDRVoid>(2, "CONNECT_CLOSE", readOnly: true)
    public static let connectGetType = Procedure<XDRVoid, StringValue>(3, "CONNECT_GET_TYPE", readOnly: true)
    public static let connectGetVersion = Procedure<XDRVoid, UInt64Ret>(4, "CONNECT_GET_VERSION", readOnly: true)
    public static let nodeGetInfo = Procedure<XDRVoid, NodeGetInfoRet>(6, "NODE_GET_INFO", readOnly: true)
    public static let connectGetCapabilities = Procedure<XDRVoid, StringValue>(7, "CONNECT_GET_CAPABILITIES", readOnly: true)
    public static let connectGetHostname = Procedure<XDRVoid, StringValue>(59, "CONNECT_GET_HOSTNAME", readOnly: true)
    public static let connectSupportsFeature = Procedure<Int32Args, Int32Ret>(60, "CONNECT_SUPPORTS_FEATURE", readOnly: true)
    public static let authList = Procedure<XDRVoid, AuthListRet>(66, "AUTH_LIST", readOnly: true)
    public static let connectGetURI = Procedure<XDRVoid, StringValue>(110, "CONNECT_GET_URI", readOnly: true)
    public static let nodeGetSecurityModel = Procedure<XDRVoid, SecurityModelRet>(122, "NODE_GET_SECURITY_MODEL", readOnly: true)
    public static let connectDomainXMLToNative = Procedure<DomainXMLToNativeArgs, StringValue>(136, "CONNECT_DOMAIN_XML_TO_NATIVE", readOnly: false)
    public static let connectIsSecure = Procedure<XDRVoid, Int32Ret>(149, "CONNECT_IS_SECURE", readOnly: true)
    public static let connectGetLibVersion = Procedure<XDRVoid, UInt64Ret>(157, "CONNECT_GET_LIB_VERSION", readOnly: true)
    public static let nodeGetCPUMap = Procedure<NodeGetCPUMapArgs, NodeGetCPUMapRet>(293, "NODE_GET_CPU_MAP", readOnly: true)
    public static let connectGetDomainCapabilities = Procedure<DomainCapabilitiesArgs, StringValue>(342, "CONNECT_GET_DOMAIN_CAPABILITIES", readOnly: true)
    public static let connectRegisterCloseCallback = Procedure<XDRVoid, XDRVoid>(360, "CONNECT_REGISTER_CLOSE_CALLBACK", readOnly: true)
    public static let connectUnregisterCloseCallback = Procedure<XDRVoid, XDRVoid>(361, "CONNECT_UNREGISTER_CLOSE_CALLBACK", readOnly: true)

    // Listing and lookup
    public static let connectListDefinedDomains = Procedure<Int32Args, ListDomainNamesRet>(21, "CONNECT_LIST_DEFINED_DOMAINS", readOnly: true)
    public static let domainLookupByID = Procedure<Int32Args, DomainRet>(22, "DOMAIN_LOOKUP_BY_ID", readOnly: true)
    public static let domainLookupByName = Procedure<StringValue, DomainRet>(23, "DOMAIN_LOOKUP_BY_NAME", readOnly: true)
    public static let domainLookupByUUID = Procedure<UUIDArgs, DomainRet>(24, "DOMAIN_LOOKUP_BY_UUID", readOnly: true)
    public static let connectNumOfDefinedDomains = Procedure<XDRVoid, Int32Ret>(25, "CONNECT_NUM_OF_DEFINED_DOMAINS", readOnly: true)
    public static let connectListDomains = Procedure<Int32Args, ListDomainIDsRet>(37, "CONNECT_LIST_DOMAINS", readOnly: true)
    public static let connectNumOfDomains = Procedure<XDRVoid, Int32Ret>(51, "CONNECT_NUM_OF_DOMAINS", readOnly: true)
    public static let connectListAllDomains = Procedure<ListAllDomainsArgs, ListAllDomainsRet>(273, "CONNECT_LIST_ALL_DOMAINS", readOnly: true)

    // Definition and lifecycle
    public static let domainCreate = Procedure<DomainArgs, XDRVoid>(9, "DOMAIN_CREATE", readOnly: false)
    public static let domainCreateXML = Procedure<XMLFlagsArgs, DomainRet>(10, "DOMAIN_CREATE_XML", readOnly: false)
    public static let domainDefineXML = Procedure<StringValue, DomainRet>(11, "DOMAIN_DEFINE_XML", readOnly: false)
    public static let domainDestroy = Procedure<DomainArgs, XDRVoid>(12, "DOMAIN_DESTROY", readOnly: false)
    public static let domainReboot = Procedure<DomainFlagsArgs, XDRVoid>(27, "DOMAIN_REBOOT", readOnly: false)
    public static let domainResume = Procedure<DomainArgs, XDRVoid>(28, "DOMAIN_RESUME", readOnly: false)
    public static let domainSetAutostart = Procedure<DomainSetAutostartArgs, XDRVoid>(29, "DOMAIN_SET_AUTOSTART", readOnly: false)
    public static let domainShutdown = Procedure<DomainArgs, XDRVoid>(33, "DOMAIN_SHUTDOWN", readOnly: false)
    public static let domainSuspend = Procedure<DomainArgs, XDRVoid>(34, "DOMAIN_SUSPEND", readOnly: false)
    public static let domainUndefine = Procedure<DomainArgs, XDRVoid>(35, "DOMAIN_UNDEFINE", readOnly: false)
    public static let domainCreateWithFlags = Procedure<DomainFlagsArgs, DomainRet>(196, "DOMAIN_CREATE_WITH_FLAGS", readOnly: false)
    public static let domainUndefineFlags = Procedure<DomainFlagsArgs, XDRVoid>(231, "DOMAIN_UNDEFINE_FLAGS", readOnly: false)
    public static let domainDestroyFlags = Procedure<DomainFlagsArgs, XDRVoid>(234, "DOMAIN_DESTROY_FLAGS", readOnly: false)
    public static let domainReset = Procedure<DomainFlagsArgs, XDRVoid>(245, "DOMAIN_RESET", readOnly: false)
    public static let domainShutdownFlags = Procedure<DomainFlagsArgs, XDRVoid>(258, "DOMAIN_SHUTDOWN_FLAGS", readOnly: false)
    public static let domainDefineXMLFlags = Procedure<XMLFlagsArgs, DomainRet>(350, "DOMAIN_DEFINE_XML_FLAGS", readOnly: false)

    // Domain queries
    public static let domainGetXMLDesc = Procedure<DomainFlagsArgs, StringValue>(14, "DOMAIN_GET_XML_DESC", readOnly: true)
    public static let domainGetAutostart = Procedure<DomainArgs, Int32Ret>(15, "DOMAIN_GET_AUTOSTART", readOnly: true)
    public static let domainGetInfo = Procedure<DomainArgs, DomainGetInfoRet>(16, "DOMAIN_GET_INFO", readOnly: true)
    public static let domainGetMaxMemory = Procedure<DomainArgs, UInt64Ret>(17, "DOMAIN_GET_MAX_MEMORY", readOnly: true)
    public static let domainGetMaxVcpus = Procedure<DomainArgs, Int32Ret>(18, "DOMAIN_GET_MAX_VCPUS", readOnly: true)
    public static let domainGetOSType = Procedure<DomainArgs, StringValue>(19, "DOMAIN_GET_OS_TYPE", readOnly: true)
    public static let domainGetVcpus = Procedure<DomainGetVcpusArgs, DomainGetVcpusRet>(20, "DOMAIN_GET_VCPUS", readOnly: true)
    public static let domainBlockStats = Procedure<DomainPathArgs, DomainBlockStatsRet>(64, "DOMAIN_BLOCK_STATS", readOnly: true)
    public static let domainInterfaceStats = Procedure<DomainPathArgs, DomainInterfaceStatsRet>(65, "DOMAIN_INTERFACE_STATS", readOnly: true)
    public static let domainGetSecurityLabel = Procedure<DomainArgs, SecurityLabelRet>(121, "DOMAIN_GET_SECURITY_LABEL", readOnly: true)
    public static let domainIsActive = Procedure<DomainArgs, Int32Ret>(150, "DOMAIN_IS_ACTIVE", readOnly: true)
    public static let domainIsPersistent = Procedure<DomainArgs, Int32Ret>(151, "DOMAIN_IS_PERSISTENT", readOnly: true)
    public static let domainMemoryStats = Procedure<DomainMemoryStatsArgs, DomainMemoryStatsRet>(159, "DOMAIN_MEMORY_STATS", readOnly: true)
    public static let domainHasManagedSaveImage = Procedure<DomainFlagsArgs, Int32Ret>(183, "DOMAIN_HAS_MANAGED_SAVE_IMAGE", readOnly: true)
    public static let domainGetVcpusFlags = Procedure<DomainFlagsArgs, Int32Ret>(200, "DOMAIN_GET_VCPUS_FLAGS", readOnly: true)
    public static let domainGetState = Procedure<DomainFlagsArgs, DomainGetStateRet>(212, "DOMAIN_GET_STATE", readOnly: true)
    public static let domainGetSecurityLabelList = Procedure<DomainArgs, SecurityLabelListRet>(278, "DOMAIN_GET_SECURITY_LABEL_LIST", readOnly: true)
    public static let domainGetMessages = Procedure<DomainFlagsArgs, ListDomainNamesRet>(426, "DOMAIN_GET_MESSAGES", readOnly: true)
    public static let connectGetAllDomainStats = Procedure<GetAllDomainStatsArgs, GetAllDomainStatsRet>(344, "CONNECT_GET_ALL_DOMAIN_STATS", readOnly: true)

    // Console (a stream: after the reply, data flows as STREAM messages under the call's serial)
    public static let domainOpenConsole = Procedure<DomainOpenConsoleArgs, XDRVoid>(201, "DOMAIN_OPEN_CONSOLE", readOnly: false)

    // Events (MESSAGE type, serial 0, pushed by the server)
    public static let connectDomainEventCallbackRegisterAny = Procedure<EventCallbackRegisterArgs, Int32Ret>(316, "CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY", readOnly: true)
    public static let connectDomainEventCallbackDeregisterAny = Procedure<Int32Args, XDRVoid>(317, "CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY", readOnly: true)
    public static let domainEventCallbackLifecycle = Procedure<EventCallbackLifecycleMsg, XDRVoid>(318, "DOMAIN_EVENT_CALLBACK_LIFECYCLE", readOnly: true)

    /// Every declaration above, for lookups by number.
    public static let all: [ProcedureInfo] = [
        connectOpen.info, connectClose.info, connectGetType.info, connectGetVersion.info, nodeGetInfo.info,
        connectGetCapabilities.info, connectGetHostname.info, connectSupportsFeature.info, authList.info,
        connectGetURI.info, nodeGetSecurityModel.info, connectDomainXMLToNative.info, connectIsSecure.info,
        connectGetLibVersion.info, nodeGetCPUMap.info, connectGetDomainCapabilities.info,
        connectRegisterCloseCallback.info, connectUnregisterCloseCallback.info,
        connectListDefinedDomains.info, domainLookupByID.info, domainLookupByName.info, domainLookupByUUID.info,
        connectNumOfDefinedDomains.info, connectListDomains.info, connectNumOfDomains.info, connectListAllDomains.info,
        domainCreate.info, domainCreateXML.info, domainDefineXML.info, domainDestroy.info, domainReboot.info,
        domainResume.info, domainSetAutostart.info, domainShutdown.info, domainSuspend.info, domainUndefine.info,
        domainCreateWithFlags.info, domainUndefineFlags.info, domainDestroyFlags.info, domainReset.info,
        domainShutdownFlags.info, domainDefineXMLFlags.info,
        domainGetXMLDesc.info, domainGetAutostart.info, domainGetInfo.info, domainGetMaxMemory.info,
        domainGetMaxVcpus.info, domainGetOSType.info, domainGetVcpus.info, domainBlockStats.info,
        domainInterfaceStats.info, domainGetSecurityLabel.info, domainIsActive.info, domainIsPersistent.info,
        domainMemoryStats.info, domainHasManagedSaveImage.info, domainGetVcpusFlags.info, domainGetState.info,
        domainGetSecurityLabelList.info, domainGetMessages.info, connectGetAllDomainStats.info,
        domainOpenConsole.info,
        connectDomainEventCallbackRegisterAny.info, connectDomainEventCallbackDeregisterAny.info,
        domainEventCallbackLifecycle.info,
    ] + objectProcedures

    public static let byNumber: [Int32: ProcedureInfo] = Dictionary(all.map { ($0.number, $0) }, uniquingKeysWith: { a, _ in a })
}

extension Procedure {
    /// The CALL packet for this procedure.
    public func call(_ args: Args, serial: UInt32) -> RPCMessage {
        RPCMessage(header: RPCHeader(program: RPCProgram.remote, version: RPCProgram.remoteVersion, procedure: number,
                                     type: .call, serial: serial, status: .ok),
                   payload: args.xdrBytes)
    }

    /// The result carried by a REPLY packet: the decoded return value, or the server's error
    /// as a VirError (status ERROR); undecodable payloads are RPC errors.
    public func result(of reply: RPCMessage) throws(VirError) -> Ret {
        do {
            if reply.header.status == .error { throw try RemoteError(xdrBytes: reply.payload).virError }
            return try Ret(xdrBytes: reply.payload)
        } catch let e as VirError {
            throw e
        } catch {
            throw VirError(.rpc, "Unable to decode reply to \(name): \(error)", domain: .rpc)
        }
    }
}
