import Foundation
import Hypervisor

// libvirt's "remote" driver: every HypervisorDriver method as a call to a daemon, with the
// procedure libvirt's client library would use for it.

public final class RemoteDriver: HypervisorDriver {
    public let client: RemoteClient
    /// The URI the connection was opened with (what virConnectGetURI reports on the client).
    public let openedURI: String
    /// Whether the server forwards events per callback (VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK).
    public let eventCallbacks: Bool

    /// How often the client pings an idle server, and how many unanswered pings end the connection.
    public struct Keepalive: Sendable {
        public var interval: Duration
        public var count: Int
        public init(interval: Duration, count: Int) { self.interval = interval; self.count = count }
        /// libvirt's client defaults (keepalive_interval 5, keepalive_count 5).
        public static let libvirtDefault = Keepalive(interval: .seconds(5), count: 5)
    }

    private init(client: RemoteClient, openedURI: String, eventCallbacks: Bool) {
        self.client = client
        self.openedURI = openedURI
        self.eventCallbacks = eventCallbacks
    }

    /// Connects and does libvirt's handshake: AUTH_LIST (only "none" is supported),
    /// CONNECT_OPEN with `name` and the read-only flag, then the feature probes for keepalive
    /// and per-callback events.
    /// `keepalive` nil: answer the server's pings but send none.
    public static func connect(_ transport: RemoteTransport, name: String?, readOnly: Bool = false, openedURI: String? = nil,
                               keepalive: Keepalive? = .libvirtDefault) async throws -> RemoteDriver {
        let client = try await RemoteClient.connect(transport)
        do {
            let auth = try await client.call(Procedures.authList, XDRVoid()).types
            if !auth.isEmpty && !auth.contains(AuthListRet.none) {
                let names = auth.map { t in t == AuthListRet.sasl ? "sasl" : t == AuthListRet.polkit ? "polkit" : "type \(t)" }
                throw VirError(.authFailed, "authentication failed: unsupported authentication type(s) \(names.joined(separator: ", ")) offered by the server; Corral's client only supports auth none",
                               domain: .remote)
            }
            _ = try await client.call(Procedures.connectOpen,
                                      ConnectOpenArgs(name: name, flags: readOnly ? ConnectOpenArgs.readOnlyFlag : 0))
            let events = try await client.call(Procedures.connectSupportsFeature, Int32Args(DriverFeature.remoteEventCallback)).value != 0
            // Asked even without client pings: it tells the server this client answers its pings.
            let pings = try await client.call(Procedures.connectSupportsFeature, Int32Args(DriverFeature.programKeepalive)).value != 0
            if pings, let keepalive { client.startKeepalive(interval: keepalive.interval, count: keepalive.count) }
            return RemoteDriver(client: client, openedURI: openedURI ?? name ?? "", eventCallbacks: events)
        } catch {
            await client.close()
            throw error
        }
    }

    func call<A, R>(_ p: Procedure<A, R>, _ args: A) async throws -> R { try await client.call(p, args) }
    func call<R>(_ p: Procedure<XDRVoid, R>) async throws -> R { try await client.call(p, XDRVoid()) }

    // MARK: Connection

    public func uri() async throws -> String { openedURI }
    public func hypervisorType() async throws -> String { try await call(Procedures.connectGetType).value }
    public func hypervisorVersion() async throws -> UInt64 { try await call(Procedures.connectGetVersion).value }
    public func hostname() async throws -> String { try await call(Procedures.connectGetHostname).value }
    public func capabilitiesXML() async throws -> String { try await call(Procedures.connectGetCapabilities).value }

    public func domainCapabilitiesXML(emulator: String?, arch: String?, machine: String?, virtType: String?) async throws -> String {
        try await call(Procedures.connectGetDomainCapabilities,
                       DomainCapabilitiesArgs(emulatorbin: emulator, arch: arch, machine: machine, virttype: virtType)).value
    }

    public func nodeInfo() async throws -> NodeInfo { try await call(Procedures.nodeGetInfo).info }

    public func close() async {
        if client.isOpen { _ = try? await call(Procedures.connectClose) }
        await client.close()
    }

    // MARK: Domains

    public func listAllDomains(flags: ListDomainsFlags) async throws -> [DomainRef] {
        try await call(Procedures.connectListAllDomains, ListAllDomainsArgs(needResults: 1, flags: flags.rawValue)).domains
    }

    public func lookupDomain(name: String) async throws -> DomainRef {
        try await call(Procedures.domainLookupByName, StringValue(name)).dom
    }

    public func lookupDomain(uuid: UUID) async throws -> DomainRef {
        try await call(Procedures.domainLookupByUUID, UUIDArgs(uuid)).dom
    }

    public func lookupDomain(id: Int32) async throws -> DomainRef {
        try await call(Procedures.domainLookupByID, Int32Args(id)).dom
    }

    public func defineDomain(xml: String, validate: Bool) async throws -> DomainRef {
        // virsh define uses virDomainDefineXMLFlags only when it has flags to pass.
        if validate {
            return try await call(Procedures.domainDefineXMLFlags, XMLFlagsArgs(xml, flags: 1)).dom  // VIR_DOMAIN_DEFINE_VALIDATE
        }
        return try await call(Procedures.domainDefineXML, StringValue(xml)).dom
    }

    public func undefineDomain(_ dom: DomainRef, flags: UInt32) async throws {
        if flags == 0 {
            _ = try await call(Procedures.domainUndefine, DomainArgs(dom))
        } else {
            _ = try await call(Procedures.domainUndefineFlags, DomainFlagsArgs(dom, flags: flags))
        }
    }

    public func startDomain(_ dom: DomainRef, flags: DomainCreateFlags) async throws -> DomainRef {
        // As virsh start: virDomainCreate without flags, virDomainCreateWithFlags with them.
        if flags.isEmpty {
            _ = try await call(Procedures.domainCreate, DomainArgs(dom))
            // DOMAIN_CREATE returns nothing; libvirt's client looks the domain up for its new id.
            return try await lookupDomain(uuid: dom.uuid)
        }
        return try await call(Procedures.domainCreateWithFlags, DomainFlagsArgs(dom, flags: flags.rawValue)).dom
    }

    public func createDomain(xml: String, flags: DomainCreateFlags) async throws -> DomainRef {
        try await call(Procedures.domainCreateXML, XMLFlagsArgs(xml, flags: flags.rawValue)).dom
    }

    public func shutdownDomain(_ dom: DomainRef, flags: UInt32) async throws {
        if flags == 0 {
            _ = try await call(Procedures.domainShutdown, DomainArgs(dom))
        } else {
            _ = try await call(Procedures.domainShutdownFlags, DomainFlagsArgs(dom, flags: flags))
        }
    }

    public func destroyDomain(_ dom: DomainRef, flags: UInt32) async throws {
        if flags == 0 {
            _ = try await call(Procedures.domainDestroy, DomainArgs(dom))
        } else {
            _ = try await call(Procedures.domainDestroyFlags, DomainFlagsArgs(dom, flags: flags))
        }
    }

    public func rebootDomain(_ dom: DomainRef, flags: UInt32) async throws {
        _ = try await call(Procedures.domainReboot, DomainFlagsArgs(dom, flags: flags))
    }

    public func resetDomain(_ dom: DomainRef) async throws {
        _ = try await call(Procedures.domainReset, DomainFlagsArgs(dom, flags: 0))
    }

    public func suspendDomain(_ dom: DomainRef) async throws { _ = try await call(Procedures.domainSuspend, DomainArgs(dom)) }
    public func resumeDomain(_ dom: DomainRef) async throws { _ = try await call(Procedures.domainResume, DomainArgs(dom)) }
    public func domainInfo(_ dom: DomainRef) async throws -> DomainInfo { try await call(Procedures.domainGetInfo, DomainArgs(dom)).info }

    public func domainState(_ dom: DomainRef) async throws -> DomainStateReason {
        let r = try await call(Procedures.domainGetState, DomainFlagsArgs(dom, flags: 0))
        return DomainStateReason(DomainState(rawValue: r.state) ?? .noState, r.reason)
    }

    public func domainXML(_ dom: DomainRef, flags: DomainXMLFlags) async throws -> String {
        try await call(Procedures.domainGetXMLDesc, DomainFlagsArgs(dom, flags: flags.rawValue)).value
    }

    public func isPersistent(_ dom: DomainRef) async throws -> Bool {
        try await call(Procedures.domainIsPersistent, DomainArgs(dom)).value != 0
    }

    public func autostart(_ dom: DomainRef) async throws -> Bool {
        try await call(Procedures.domainGetAutostart, DomainArgs(dom)).value != 0
    }

    public func setAutostart(_ dom: DomainRef, _ on: Bool) async throws {
        _ = try await call(Procedures.domainSetAutostart, DomainSetAutostartArgs(dom, autostart: on ? 1 : 0))
    }

    public func vcpuInfo(_ dom: DomainRef) async throws -> [VCPUInfo] {
        // As virsh vcpuinfo: room for every vCPU, and a cpumap as wide as the host's CPUs.
        async let info = domainInfo(dom)
        async let node = nodeInfo()
        let maxinfo = Int32(try await info.nrVirtCPU)
        let maplen = (max(1, try await node.cpus) + 7) / 8
        return try await call(Procedures.domainGetVcpus, DomainGetVcpusArgs(dom, maxinfo: maxinfo, maplen: maplen)).info
    }

    public func allDomainStats(_ doms: [DomainRef]?, types: StatsTypes) async throws -> [DomainStatsRecord] {
        try await call(Procedures.connectGetAllDomainStats,
                       GetAllDomainStatsArgs(doms: doms ?? [], stats: types.rawValue, flags: 0)).retStats
    }

    public func openConsole(_ dom: DomainRef, devName: String?, force: Bool) async throws -> any ByteStream {
        let stream = RemoteStream(client: client)
        let args = DomainOpenConsoleArgs(dom, devName: devName, flags: force ? DomainOpenConsoleArgs.force : 0)
        let p = Procedures.domainOpenConsole
        do {
            _ = try p.result(of: try await client.roundTrip(procedure: p.number, args: args, name: p.name, opening: stream))
        } catch {
            stream.deliverEnd(nil)
            throw error
        }
        return stream
    }

    public func domainXMLToNative(format: String, xml: String) async throws -> String {
        try await call(Procedures.connectDomainXMLToNative, DomainXMLToNativeArgs(nativeFormat: format, domainXml: xml)).value
    }

    /// Registers a lifecycle callback for all domains; the callback is deregistered when the
    /// stream's consumer goes away.
    public func events() async throws -> AsyncStream<DomainEvent> {
        guard eventCallbacks else {
            throw VirError(.noSupport, "this function is not supported by the connection driver: virConnectDomainEventRegisterAny (server lacks event callbacks)",
                           domain: .remote)
        }
        let id = try await call(Procedures.connectDomainEventCallbackRegisterAny, EventCallbackRegisterArgs(eventID: 0, dom: nil)).value
        let messages = client.claimEvents(callbackID: id)
        let client = client
        let (stream, continuation) = AsyncStream.makeStream(of: DomainEvent.self)
        let forward = Task {
            for await m in messages {
                guard let kind = DomainEvent.Kind(rawValue: m.event) else { continue }
                continuation.yield(DomainEvent(domain: m.dom, kind: kind, detail: m.detail))
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in
            forward.cancel()
            client.releaseEvents(callbackID: id)
            if client.isOpen {
                Task { _ = try? await client.call(Procedures.connectDomainEventCallbackDeregisterAny, Int32Args(id)) }
            }
        }
        return stream
    }

    // MARK: dominfo extras

    public func osType(_ dom: DomainRef) async throws -> String { try await call(Procedures.domainGetOSType, DomainArgs(dom)).value }
    public func securityModel() async throws -> SecurityModel { try await call(Procedures.nodeGetSecurityModel).model }
    public func securityLabel(_ dom: DomainRef) async throws -> SecurityLabel? {
        try await call(Procedures.domainGetSecurityLabel, DomainArgs(dom)).label
    }
}
