import DomainXML
import Foundation
import Testing
import Hypervisor
@testable import TestDriver

/// Parsing lands with the DomainXML parser; tests that define domains from XML wait for it.
let parserAvailable = (try? Domain(xml: "<domain type='test'><name>p</name><memory>1024</memory><os><type>hvm</type></os></domain>")) != nil

func xml(_ name: String, uuid: String? = nil) -> String {
    """
    <domain type='test'>
      <name>\(name)</name>
      \(uuid.map { "<uuid>\($0)</uuid>" } ?? "")
      <memory unit='KiB'>1048576</memory>
      <vcpu>1</vcpu>
      <os><type>hvm</type></os>
    </domain>
    """
}

@Suite struct TestDriverDefaultsTests {
    @Test func predefinedDomainMirrorsLibvirt() async throws {
        let d = TestDriver()
        let dom = try await d.lookupDomain(name: "test")
        #expect(dom.id == 1)
        #expect(dom.uuid == UUID(uuidString: "6695eb01-f6a4-8304-79aa-97f2502e193f"))
        #expect(try await d.lookupDomain(id: 1) == dom)
        #expect(try await d.lookupDomain(uuid: dom.uuid) == dom)
        let info = try await d.domainInfo(dom)
        #expect(info.state == .running && info.maxMemKiB == 8_388_608 && info.memoryKiB == 2_097_152 && info.nrVirtCPU == 2)
        #expect(try await d.domainState(dom) == DomainStateReason(.running, DomainStateReason.runningBooted))
        #expect(try await d.isPersistent(dom))
        #expect(try await d.autostart(dom) == false)
        #expect(try await d.osType(dom) == "linux")
        #expect(try await d.nodeInfo() == TestDriver.defaultNodeInfo)
        #expect(try await d.hypervisorType() == "TEST")
        #expect(try await d.uri() == "test:///default")
        #expect(try await d.securityModel() == SecurityModel(model: "testSecurity", doi: ""))
    }

    @Test func lookupErrors() async {
        let d = TestDriver()
        await #expect(throws: VirError(.noDomain, "Domain not found: no domain with matching name 'x'", domain: .test)) {
            _ = try await d.lookupDomain(name: "x")
        }
        await #expect(throws: VirError.self) { _ = try await d.lookupDomain(id: 7) }
        await #expect(throws: VirError.self) { _ = try await d.lookupDomain(id: -1) }
    }
}

@Suite struct TestDriverLifecycleTests {
    func code(_ body: () async throws -> Void) async -> VirError.Code? {
        do { try await body(); return nil } catch let e as VirError { return e.code } catch { return .internalError }
    }

    @Test func shutdownDestroyStartCycle() async throws {
        let d = TestDriver()
        var dom = try await d.lookupDomain(name: "test")
        try await d.shutdownDomain(dom, flags: 0)
        #expect(try await d.domainState(dom) == DomainStateReason(.shutoff, DomainStateReason.shutoffShutdown))
        #expect(try await d.lookupDomain(name: "test").id == -1)
        #expect(await code { try await d.shutdownDomain(dom, flags: 0) } == .operationInvalid)
        #expect(await code { try await d.destroyDomain(dom, flags: 0) } == .operationInvalid)
        #expect(await code { try await d.suspendDomain(dom) } == .operationInvalid)
        #expect(try await d.domainInfo(dom).cpuTimeNs == 0)

        dom = try await d.startDomain(dom, flags: [])
        #expect(dom.id == 2)   // ids are never reused
        #expect(await code { _ = try await d.startDomain(dom, flags: []) } == .operationInvalid)
        try await d.destroyDomain(dom, flags: 0)
        #expect(try await d.domainState(dom) == DomainStateReason(.shutoff, DomainStateReason.shutoffDestroyed))

        dom = try await d.startDomain(dom, flags: .paused)
        #expect(try await d.domainState(dom) == DomainStateReason(.paused, DomainStateReason.pausedUser))
    }

    @Test func suspendResumeRebootReset() async throws {
        let d = TestDriver()
        let dom = try await d.lookupDomain(name: "test")
        #expect(await code { try await d.resumeDomain(dom) } == .operationInvalid)
        try await d.suspendDomain(dom)
        #expect(try await d.domainState(dom) == DomainStateReason(.paused, DomainStateReason.pausedUser))
        #expect(await code { try await d.suspendDomain(dom) } == .operationInvalid)
        try await d.resumeDomain(dom)
        #expect(try await d.domainState(dom) == DomainStateReason(.running, DomainStateReason.runningUnpaused))
        try await d.rebootDomain(dom, flags: 0)
        #expect(try await d.domainState(dom) == DomainStateReason(.running, DomainStateReason.runningBooted))
        try await d.resetDomain(dom)
        #expect(try await d.domainState(dom).state == .running)
        #expect(try await d.vcpuInfo(dom).count == 2)
    }

    @Test func undefineRunningMakesTransientThenGone() async throws {
        let d = TestDriver()
        let dom = try await d.lookupDomain(name: "test")
        try await d.setAutostart(dom, true)
        #expect(try await d.autostart(dom))
        try await d.undefineDomain(dom, flags: 0)
        #expect(try await d.isPersistent(dom) == false)
        #expect(try await d.listAllDomains(flags: .transient).map(\.name) == ["test"])
        #expect(await code { try await d.undefineDomain(dom, flags: 0) } == .operationInvalid)
        #expect(await code { try await d.setAutostart(dom, true) } == .operationInvalid)
        try await d.destroyDomain(dom, flags: 0)
        #expect(await code { _ = try await d.lookupDomain(name: "test") } == .noDomain)
        #expect(try await d.listAllDomains(flags: []).isEmpty)
    }

    @Test func listFilters() async throws {
        let d = TestDriver()
        let dom = try await d.lookupDomain(name: "test")
        #expect(try await d.listAllDomains(flags: .active).count == 1)
        #expect(try await d.listAllDomains(flags: .inactive).isEmpty)
        #expect(try await d.listAllDomains(flags: [.active, .inactive]).count == 1)
        #expect(try await d.listAllDomains(flags: .paused).isEmpty)
        #expect(try await d.listAllDomains(flags: [.paused, .running]).count == 1)
        #expect(try await d.listAllDomains(flags: .other).isEmpty)
        #expect(try await d.listAllDomains(flags: .autostart).isEmpty)
        #expect(try await d.listAllDomains(flags: .noAutostart).count == 1)
        try await d.shutdownDomain(dom, flags: 0)
        #expect(try await d.listAllDomains(flags: .active).isEmpty)
        #expect(try await d.listAllDomains(flags: [.inactive, .shutoff, .persistent]).count == 1)
    }

    @Test func statsAndConsole() async throws {
        let d = TestDriver()
        let dom = try await d.lookupDomain(name: "test")
        let recs = try await d.allDomainStats(nil, types: .state)
        #expect(recs.count == 1)
        #expect(recs[0].params == [TypedParam("state.state", .int(1)), TypedParam("state.reason", .int(1))])
        let all = try await d.allDomainStats([dom], types: [])
        #expect(all[0].params.contains(TypedParam("block.0.name", .string("vda"))))
        #expect(all[0].params.contains(TypedParam("net.0.name", .string("testnet0"))))
        #expect(all[0].params.contains(TypedParam("balloon.maximum", .ullong(8_388_608))))

        let console = try await d.openConsole(dom, devName: nil, force: false)
        try await console.write(Array("hi\n".utf8))
        #expect(try await console.read() == Array("hi\n".utf8))
        await console.close()
        #expect(try await console.read() == nil)

        try await d.destroyDomain(dom, flags: 0)
        #expect(await code { _ = try await d.openConsole(dom, devName: nil, force: false) } == .operationInvalid)
    }

    @Test func eventsFollowLifecycle() async throws {
        let d = TestDriver()
        let dom = try await d.lookupDomain(name: "test")
        let events = try await d.events()
        try await d.suspendDomain(dom)
        try await d.resumeDomain(dom)
        try await d.destroyDomain(dom, flags: 0)
        var kinds: [DomainEvent.Kind] = []
        for await e in events {
            kinds.append(e.kind)
            if kinds.count == 3 { break }
        }
        #expect(kinds == [.suspended, .resumed, .stopped])
    }
}

@Suite(.enabled(if: parserAvailable, "needs the DomainXML parser"))
struct TestDriverDefinitionTests {
    @Test func defineStartUndefine() async throws {
        let d = TestDriver()
        let dom = try await d.defineDomain(xml: xml("vm1"), validate: false)
        #expect(dom.id == -1)
        #expect(try await d.domainState(dom) == DomainStateReason(.shutoff, 0))
        #expect(try await d.listAllDomains(flags: .inactive).map(\.name) == ["vm1"])
        let running = try await d.startDomain(dom, flags: [])
        #expect(running.id == 2)
        #expect(try await d.domainXML(running, flags: []).contains("<domain type='test' id='2'>"))
        #expect(!(try await d.domainXML(running, flags: .inactive)).contains("id='2'"))
        try await d.destroyDomain(running, flags: 0)
        try await d.undefineDomain(dom, flags: 0)
        await #expect(throws: VirError.self) { _ = try await d.lookupDomain(name: "vm1") }
    }

    @Test func nameAndUUIDConflicts() async throws {
        let d = TestDriver()
        await #expect(throws: VirError.self) { _ = try await d.defineDomain(xml: xml("test", uuid: UUID().uuidString), validate: false) }
        await #expect(throws: VirError.self) {
            _ = try await d.defineDomain(xml: xml("other", uuid: TestDriver.defaultUUID.uuidString), validate: false)
        }
        // Redefining the same name and uuid updates it.
        _ = try await d.defineDomain(xml: xml("test", uuid: TestDriver.defaultUUID.uuidString), validate: false)
        #expect(try await d.domainInfo(try await d.lookupDomain(name: "test")).maxMemKiB == 8_388_608)   // live def unchanged
    }

    @Test func createIsTransient() async throws {
        let d = TestDriver()
        let dom = try await d.createDomain(xml: xml("tr"), flags: [])
        #expect(dom.id != -1)
        #expect(try await d.isPersistent(dom) == false)
        try await d.shutdownDomain(dom, flags: 0)
        await #expect(throws: VirError.self) { _ = try await d.lookupDomain(name: "tr") }
    }

    @Test func badXMLIsAnXMLError() async {
        let d = TestDriver()
        do {
            _ = try await d.defineDomain(xml: "<domain><name>", validate: false)
            Issue.record("accepted bad XML")
        } catch let e as VirError {
            #expect(e.code == .xmlError)
        } catch { Issue.record("\(error)") }
    }
}
