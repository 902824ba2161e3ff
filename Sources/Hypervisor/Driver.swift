import Foundation

// The hypervisor-neutral API. Every driver (QEMU, test, and later the remote
// client) implements `HypervisorDriver`; the CLI and the daemon only see this.

/// libvirt's virDomainState numbering (it is on the wire in issue 3).
public enum DomainState: Int32, Sendable, CaseIterable {
    case noState = 0, running, blocked, paused, shutdown, shutoff, crashed, pmSuspended

    /// virsh's wording (`virsh domstate`, `virsh list`).
    public var virshName: String {
        switch self {
        case .noState: "no state"
        case .running: "running"
        case .blocked: "idle"
        case .paused: "paused"
        case .shutdown: "in shutdown"
        case .shutoff: "shut off"
        case .crashed: "crashed"
        case .pmSuspended: "pmsuspended"
        }
    }
}

/// A state plus its reason code, numbered as libvirt's virDomain*Reason enums.
public struct DomainStateReason: Sendable, Equatable {
    public var state: DomainState
    public var reason: Int32
    public init(_ state: DomainState, _ reason: Int32 = 0) { self.state = state; self.reason = reason }

    // Reason codes used by Corral (libvirt's numbers).
    public static let runningBooted: Int32 = 1, runningUnpaused: Int32 = 5
    public static let pausedUser: Int32 = 1, pausedStartingUp: Int32 = 11
    public static let shutdownUser: Int32 = 1
    public static let shutoffShutdown: Int32 = 1, shutoffDestroyed: Int32 = 2, shutoffCrashed: Int32 = 3,
                      shutoffFailed: Int32 = 6

    /// virsh's `domstate --reason` wording, e.g. "shut off (destroyed)".
    public var virshDescription: String { "\(state.virshName) (\(reasonName))" }

    public var reasonName: String {
        let names: [String]
        switch state {
        case .noState: names = ["unknown"]
        case .running: names = ["unknown", "booted", "migrated", "restored", "from snapshot", "unpaused",
                                "migration canceled", "save canceled", "event wakeup", "crashed", "post-copy",
                                "post-copy failed"]
        case .blocked: names = ["unknown"]
        case .paused: names = ["unknown", "user", "migrating", "saving", "dumping", "I/O error", "watchdog",
                               "from snapshot", "shutting down", "creating snapshot", "crashed", "starting up",
                               "post-copy", "post-copy failed", "api error"]
        case .shutdown: names = ["unknown", "user"]
        case .shutoff: names = ["unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed",
                                "from snapshot", "daemon"]
        case .crashed: names = ["unknown", "panicked"]
        case .pmSuspended: names = ["unknown"]
        }
        return reason >= 0 && Int(reason) < names.count ? names[Int(reason)] : "unknown"
    }
}

/// What identifies a domain on the wire: libvirt's remote_nonnull_domain.
public struct DomainRef: Sendable, Hashable {
    public var name: String
    public var uuid: UUID
    /// -1 when the domain is not running.
    public var id: Int32
    public init(name: String, uuid: UUID, id: Int32) { self.name = name; self.uuid = uuid; self.id = id }
}

/// virDomainInfo.
public struct DomainInfo: Sendable, Equatable {
    public var state: DomainState
    public var maxMemKiB: UInt64
    public var memoryKiB: UInt64
    public var nrVirtCPU: UInt16
    public var cpuTimeNs: UInt64
    public init(state: DomainState, maxMemKiB: UInt64, memoryKiB: UInt64, nrVirtCPU: UInt16, cpuTimeNs: UInt64) {
        self.state = state; self.maxMemKiB = maxMemKiB; self.memoryKiB = memoryKiB
        self.nrVirtCPU = nrVirtCPU; self.cpuTimeNs = cpuTimeNs
    }
}

/// virNodeInfo.
public struct NodeInfo: Sendable, Equatable {
    public var model: String
    public var memoryKiB: UInt64
    public var cpus: Int32
    public var mhz: Int32
    public var nodes: Int32
    public var sockets: Int32
    public var cores: Int32
    public var threads: Int32
    public init(model: String, memoryKiB: UInt64, cpus: Int32, mhz: Int32, nodes: Int32, sockets: Int32, cores: Int32, threads: Int32) {
        self.model = model; self.memoryKiB = memoryKiB; self.cpus = cpus; self.mhz = mhz
        self.nodes = nodes; self.sockets = sockets; self.cores = cores; self.threads = threads
    }
}

/// virVcpuInfo.
public struct VCPUInfo: Sendable, Equatable {
    public var number: UInt32
    public var state: Int32        // 0 offline, 1 running, 2 blocked
    public var cpuTimeNs: UInt64
    public var cpu: Int32          // host CPU, -1 unknown
    public init(number: UInt32, state: Int32, cpuTimeNs: UInt64, cpu: Int32) {
        self.number = number; self.state = state; self.cpuTimeNs = cpuTimeNs; self.cpu = cpu
    }
}

/// virTypedParameter's value (remote_typed_param_value's arms, same order).
public enum TypedValue: Sendable, Equatable {
    case int(Int32), uint(UInt32), llong(Int64), ullong(UInt64), double(Double), boolean(Bool), string(String)
}

public struct TypedParam: Sendable, Equatable {
    public var field: String
    public var value: TypedValue
    public init(_ field: String, _ value: TypedValue) { self.field = field; self.value = value }
}

/// One domain's record of virConnectGetAllDomainStats.
public struct DomainStatsRecord: Sendable, Equatable {
    public var domain: DomainRef
    public var params: [TypedParam]
    public init(domain: DomainRef, params: [TypedParam]) { self.domain = domain; self.params = params }
}

/// virDomainStatsTypes bits.
public struct StatsTypes: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let state = StatsTypes(rawValue: 1 << 0)
    public static let cpuTotal = StatsTypes(rawValue: 1 << 1)
    public static let balloon = StatsTypes(rawValue: 1 << 2)
    public static let vcpu = StatsTypes(rawValue: 1 << 3)
    public static let interface = StatsTypes(rawValue: 1 << 4)
    public static let block = StatsTypes(rawValue: 1 << 5)
    public static let all: StatsTypes = [.state, .cpuTotal, .balloon, .vcpu, .interface, .block]
}

/// virConnectListAllDomainsFlags bits (libvirt's values).
public struct ListDomainsFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let active = ListDomainsFlags(rawValue: 1 << 0)
    public static let inactive = ListDomainsFlags(rawValue: 1 << 1)
    public static let persistent = ListDomainsFlags(rawValue: 1 << 2)
    public static let transient = ListDomainsFlags(rawValue: 1 << 3)
    public static let running = ListDomainsFlags(rawValue: 1 << 4)
    public static let paused = ListDomainsFlags(rawValue: 1 << 5)
    public static let shutoff = ListDomainsFlags(rawValue: 1 << 6)
    public static let other = ListDomainsFlags(rawValue: 1 << 7)
    public static let autostart = ListDomainsFlags(rawValue: 1 << 10)
    public static let noAutostart = ListDomainsFlags(rawValue: 1 << 11)
}

/// virDomainXMLFlags.
public struct DomainXMLFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let secure = DomainXMLFlags(rawValue: 1 << 0)
    public static let inactive = DomainXMLFlags(rawValue: 1 << 1)
    public static let updateCPU = DomainXMLFlags(rawValue: 1 << 2)
    public static let migratable = DomainXMLFlags(rawValue: 1 << 3)
}

/// virDomainCreateFlags.
public struct DomainCreateFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let paused = DomainCreateFlags(rawValue: 1 << 0)
    public static let autodestroy = DomainCreateFlags(rawValue: 1 << 1)
    public static let bypassCache = DomainCreateFlags(rawValue: 1 << 2)
    public static let forceBoot = DomainCreateFlags(rawValue: 1 << 3)
    public static let validate = DomainCreateFlags(rawValue: 1 << 4)
}

/// A lifecycle event, as virDomainEventType + detail (libvirt's numbers).
public struct DomainEvent: Sendable, Equatable {
    public enum Kind: Int32, Sendable { case defined = 0, undefined, started, suspended, resumed, stopped, shutdown, pmsuspended, crashed }
    public var domain: DomainRef
    public var kind: Kind
    public var detail: Int32
    public init(domain: DomainRef, kind: Kind, detail: Int32) { self.domain = domain; self.kind = kind; self.detail = detail }
}

/// A bidirectional byte stream: a domain's console, a volume upload or download.
public protocol ByteStream: Sendable {
    /// Next chunk of bytes; nil at end of stream.
    func read() async throws -> [UInt8]?
    func write(_ bytes: [UInt8]) async throws
    /// Ends the stream successfully (libvirt's virStreamFinish): for an upload this commits the
    /// data and reports a failure to store it. By default the same as close().
    func finish() async throws
    /// Ends the stream; after an upload without finish() this aborts (virStreamAbort).
    func close() async
}

extension ByteStream {
    public func finish() async throws { await close() }
}

/// One table of operations per hypervisor, like libvirt's virHypervisorDriver.
/// Storage, networks and device changes come from the refined protocols (StorageAPI.swift,
/// NetworkAPI.swift, DeviceAPI.swift), whose defaults answer "not supported".
/// Domains are passed as `DomainRef`s obtained from a lookup; drivers re-resolve them
/// by UUID so a stale id never reaches the wrong guest.
public protocol HypervisorDriver: StorageDriver, NetworkDriver, DomainDeviceDriver {
    // Connection
    func uri() async throws -> String
    func hypervisorType() async throws -> String            // "QEMU", "Test"
    func hypervisorVersion() async throws -> UInt64         // major*1_000_000 + minor*1_000 + micro
    func hostname() async throws -> String
    func capabilitiesXML() async throws -> String
    func domainCapabilitiesXML(emulator: String?, arch: String?, machine: String?, virtType: String?) async throws -> String
    func nodeInfo() async throws -> NodeInfo
    func close() async

    // Domains
    func listAllDomains(flags: ListDomainsFlags) async throws -> [DomainRef]
    func lookupDomain(name: String) async throws -> DomainRef
    func lookupDomain(uuid: UUID) async throws -> DomainRef
    func lookupDomain(id: Int32) async throws -> DomainRef
    func defineDomain(xml: String, validate: Bool) async throws -> DomainRef
    func undefineDomain(_ dom: DomainRef, flags: UInt32) async throws
    func startDomain(_ dom: DomainRef, flags: DomainCreateFlags) async throws -> DomainRef
    func createDomain(xml: String, flags: DomainCreateFlags) async throws -> DomainRef
    func shutdownDomain(_ dom: DomainRef, flags: UInt32) async throws
    func destroyDomain(_ dom: DomainRef, flags: UInt32) async throws
    func rebootDomain(_ dom: DomainRef, flags: UInt32) async throws
    func resetDomain(_ dom: DomainRef) async throws
    func suspendDomain(_ dom: DomainRef) async throws
    func resumeDomain(_ dom: DomainRef) async throws
    func domainInfo(_ dom: DomainRef) async throws -> DomainInfo
    func domainState(_ dom: DomainRef) async throws -> DomainStateReason
    func domainXML(_ dom: DomainRef, flags: DomainXMLFlags) async throws -> String
    func isPersistent(_ dom: DomainRef) async throws -> Bool
    func autostart(_ dom: DomainRef) async throws -> Bool
    func setAutostart(_ dom: DomainRef, _ on: Bool) async throws
    func vcpuInfo(_ dom: DomainRef) async throws -> [VCPUInfo]
    func allDomainStats(_ doms: [DomainRef]?, types: StatsTypes) async throws -> [DomainStatsRecord]
    /// The serial console (devName nil = the first console/serial).
    func openConsole(_ dom: DomainRef, devName: String?, force: Bool) async throws -> any ByteStream
    /// QEMU's command line for a domain XML (virsh domxml-to-native qemu-argv).
    func domainXMLToNative(format: String, xml: String) async throws -> String
    /// Lifecycle events of this connection's domains.
    func events() async throws -> AsyncStream<DomainEvent>

    // Added for virsh dominfo; defaults in DriverExtras.swift.
    /// virDomainGetOSType.
    func osType(_ dom: DomainRef) async throws -> String
    /// virNodeGetSecurityModel.
    func securityModel() async throws -> SecurityModel
    /// virDomainGetSecurityLabel (nil when the domain has none).
    func securityLabel(_ dom: DomainRef) async throws -> SecurityLabel?
}
