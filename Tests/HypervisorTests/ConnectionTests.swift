import Foundation
import Testing
@testable import Hypervisor

/// The smallest driver that answers lookups and records that a mutating call got through.
actor StubDriver: HypervisorDriver {
    static let ref = DomainRef(name: "d", uuid: UUID(), id: 1)
    var mutated = false
    let uriText: String
    init(uri: String) { uriText = uri }

    func uri() async throws -> String { uriText }
    func hypervisorType() async throws -> String { "Stub" }
    func hypervisorVersion() async throws -> UInt64 { 1 }
    func hostname() async throws -> String { "h" }
    func capabilitiesXML() async throws -> String { "<capabilities/>" }
    func domainCapabilitiesXML(emulator: String?, arch: String?, machine: String?, virtType: String?) async throws -> String { "" }
    func nodeInfo() async throws -> NodeInfo { NodeInfo(model: "x", memoryKiB: 1, cpus: 1, mhz: 1, nodes: 1, sockets: 1, cores: 1, threads: 1) }
    func close() async {}
    func listAllDomains(flags: ListDomainsFlags) async throws -> [DomainRef] { [Self.ref] }
    func lookupDomain(name: String) async throws -> DomainRef { Self.ref }
    func lookupDomain(uuid: UUID) async throws -> DomainRef { Self.ref }
    func lookupDomain(id: Int32) async throws -> DomainRef { Self.ref }
    func defineDomain(xml: String, validate: Bool) async throws -> DomainRef { mutated = true; return Self.ref }
    func undefineDomain(_ dom: DomainRef, flags: UInt32) async throws { mutated = true }
    func startDomain(_ dom: DomainRef, flags: DomainCreateFlags) async throws -> DomainRef { mutated = true; return dom }
    func createDomain(xml: String, flags: DomainCreateFlags) async throws -> DomainRef { mutated = true; return Self.ref }
    func shutdownDomain(_ dom: DomainRef, flags: UInt32) async throws { mutated = true }
    func destroyDomain(_ dom: DomainRef, flags: UInt32) async throws { mutated = true }
    func rebootDomain(_ dom: DomainRef, flags: UInt32) async throws { mutated = true }
    func resetDomain(_ dom: DomainRef) async throws { mutated = true }
    func suspendDomain(_ dom: DomainRef) async throws { mutated = true }
    func resumeDomain(_ dom: DomainRef) async throws { mutated = true }
    func domainInfo(_ dom: DomainRef) async throws -> DomainInfo { DomainInfo(state: .running, maxMemKiB: 1, memoryKiB: 1, nrVirtCPU: 1, cpuTimeNs: 0) }
    func domainState(_ dom: DomainRef) async throws -> DomainStateReason { DomainStateReason(.running, 1) }
    func domainXML(_ dom: DomainRef, flags: DomainXMLFlags) async throws -> String { "<domain/>" }
    func isPersistent(_ dom: DomainRef) async throws -> Bool { true }
    func autostart(_ dom: DomainRef) async throws -> Bool { false }
    func setAutostart(_ dom: DomainRef, _ on: Bool) async throws { mutated = true }
    func vcpuInfo(_ dom: DomainRef) async throws -> [VCPUInfo] { [] }
    func allDomainStats(_ doms: [DomainRef]?, types: StatsTypes) async throws -> [DomainStatsRecord] { [] }
    func openConsole(_ dom: DomainRef, devName: String?, force: Bool) async throws -> any ByteStream { throw VirError(.noSupport, "no") }
    func domainXMLToNative(format: String, xml: String) async throws -> String { mutated = true; return "" }
    func events() async throws -> AsyncStream<DomainEvent> { AsyncStream { $0.finish() } }
}

@Suite struct ConnectionTests {
    func registry() -> DriverRegistry {
        let r = DriverRegistry()
        r.register(driver: "stub") { uri in StubDriver(uri: uri.string) }
        return r
    }

    @Test func opensRegisteredDriver() async throws {
        let conn = try await Connection.open(uri: "stub:///x", registry: registry())
        #expect(try await conn.uri() == "stub:///x")
    }

    @Test func unknownDriver() async {
        await #expect(throws: VirError(.noConnect, "no connection driver available for nope:///x")) {
            _ = try await Connection.open(uri: "nope:///x", registry: registry())
        }
    }

    @Test(arguments: ["stub+ssh://u@h/system", "stub+tcp://h:1/system", "stub+unix:///system?socket=/s", "stub://h/system"])
    func remoteNeedsDaemon(_ uri: String) async {
        do {
            _ = try await Connection.open(uri: uri, registry: registry())
            Issue.record("opened \(uri)")
        } catch let e as VirError {
            #expect(e.code == .noConnect)
            #expect(e.message.contains("requires corrald (not available yet)"))
        } catch { Issue.record("\(error)") }
    }

    @Test func readOnlyRefusesChangesButAnswersQueries() async throws {
        let conn = try await Connection.open(uri: "stub:///x", readOnly: true, registry: registry())
        let dom = try await conn.lookupDomain(name: "d")
        #expect(try await conn.domainState(dom) == DomainStateReason(.running, 1))
        #expect(try await conn.domainXML(dom, flags: .inactive) == "<domain/>")
        let refusals: [(String, () async throws -> Void)] = [
            ("virDomainDefineXML", { _ = try await conn.defineDomain(xml: "", validate: false) }),
            ("virDomainUndefine", { try await conn.undefineDomain(dom, flags: 0) }),
            ("virDomainCreate", { _ = try await conn.startDomain(dom, flags: []) }),
            ("virDomainCreateXML", { _ = try await conn.createDomain(xml: "", flags: []) }),
            ("virDomainShutdown", { try await conn.shutdownDomain(dom, flags: 0) }),
            ("virDomainDestroy", { try await conn.destroyDomain(dom, flags: 0) }),
            ("virDomainReboot", { try await conn.rebootDomain(dom, flags: 0) }),
            ("virDomainReset", { try await conn.resetDomain(dom) }),
            ("virDomainSuspend", { try await conn.suspendDomain(dom) }),
            ("virDomainResume", { try await conn.resumeDomain(dom) }),
            ("virDomainSetAutostart", { try await conn.setAutostart(dom, true) }),
            ("virDomainOpenConsole", { _ = try await conn.openConsole(dom, devName: nil, force: false) }),
            ("virDomainGetXMLDesc with secure flag", { _ = try await conn.domainXML(dom, flags: .secure) }),
        ]
        for (api, call) in refusals {
            await #expect(throws: VirError(.operationDenied, "operation forbidden: read only access prevents \(api)")) {
                try await call()
            }
        }
        let base = try #require((conn as? ReadOnlyDriver)?.base as? StubDriver)
        #expect(await base.mutated == false)
    }
}
