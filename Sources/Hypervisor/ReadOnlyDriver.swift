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
