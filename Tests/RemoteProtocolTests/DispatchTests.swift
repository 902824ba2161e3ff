import Foundation
import Hypervisor
import NIOCore
import NIOEmbedded
import Testing
import TestDriver
@testable import RemoteProtocol

/// Collects what a session sends.
final class Outbox: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [RPCMessage] = []
    func append(_ m: RPCMessage) { lock.withLock { messages.append(m) } }
    var all: [RPCMessage] { lock.withLock { messages } }

    /// Waits until a message matching `match` was sent.
    func wait(timeout: Duration = .seconds(10), _ match: (RPCMessage) -> Bool) async -> RPCMessage? {
        let clock = ContinuousClock(), deadline = clock.now + timeout
        while clock.now < deadline {
            if let m = all.first(where: match) { return m }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }
}

/// A client talking to a session in memory.
struct Client {
    let session: ClientSession
    let outbox: Outbox
    var serial: UInt32 = 0

    let hungUp = Outbox()

    init(driver: any HypervisorDriver = TestDriver(), readOnly: Bool = false, config: RemoteServerConfig = RemoteServerConfig()) {
        let outbox = Outbox(), hungUp = hungUp
        self.outbox = outbox
        session = RemoteServer(driver: driver, config: config).makeSession(
            readOnly: readOnly, secure: true, send: { outbox.append($0) },
            hangUp: { hungUp.append(RPCMessage(header: RPCHeader(program: 0, version: 0, procedure: 0, type: .message, serial: 0, status: .ok))) })
    }

    /// Sends a call and waits for its reply: the decoded result, or the remote error.
    mutating func call<A, R>(_ p: Procedure<A, R>, _ args: A) async throws -> R {
        serial += 1
        let s = serial
        await session.receive(p.call(args, serial: s))
        let reply = try #require(await outbox.wait { $0.header.serial == s && $0.header.type == .reply })
        return try p.result(of: reply)
    }

    mutating func rawCall(_ procedure: Int32, _ payload: [UInt8], program: UInt32 = RPCProgram.remote) async throws -> RPCMessage {
        serial += 1
        let s = serial
        await session.receive(RPCMessage(header: RPCHeader(program: program, version: 1, procedure: procedure,
                                                           type: .call, serial: s, status: .ok), payload: payload))
        return try #require(await outbox.wait { $0.header.serial == s && $0.header.type == .reply })
    }

    mutating func open(_ uri: String? = "qemu:///system", flags: UInt32 = 0) async throws {
        _ = try await call(Procedures.authList, XDRVoid())
        _ = try await call(Procedures.connectOpen, ConnectOpenArgs(name: uri, flags: flags))
    }
}

@Suite struct DispatchTests {
    @Test func handshakeAndQueries() async throws {
        var c = Client()
        #expect(try await c.call(Procedures.authList, XDRVoid()).types == [0])
        #expect(try await c.call(Procedures.connectSupportsFeature, Int32Args(DriverFeature.programKeepalive)).value == 1)
        #expect(try await c.call(Procedures.connectSupportsFeature, Int32Args(DriverFeature.fdPassing)).value == 0)
        _ = try await c.call(Procedures.connectOpen, ConnectOpenArgs(name: "qemu:///system"))
        #expect(try await c.call(Procedures.connectGetURI, XDRVoid()).value == "qemu:///system")
        #expect(try await c.call(Procedures.connectGetType, XDRVoid()).value == "TEST")
        #expect(try await c.call(Procedures.nodeGetInfo, XDRVoid()).info == TestDriver.defaultNodeInfo)
        let all = try await c.call(Procedures.connectListAllDomains, ListAllDomainsArgs(flags: 3))
        #expect(all.domains.map(\.name) == ["test"] && all.ret == 1)
        let dom = try await c.call(Procedures.domainLookupByName, StringValue("test")).dom
        #expect(dom.uuid == TestDriver.defaultUUID)
        #expect(try await c.call(Procedures.domainGetState, DomainFlagsArgs(dom)) == DomainGetStateRet(state: 1, reason: 1))
        #expect(try await c.call(Procedures.connectListDomains, Int32Args(10)).ids == [1])
        #expect(try await c.call(Procedures.connectNumOfDefinedDomains, XDRVoid()).value == 0)
        #expect(try await c.call(Procedures.domainGetXMLDesc, DomainFlagsArgs(dom)).value.contains("<name>test</name>"))
        #expect(try await c.call(Procedures.domainIsActive, DomainArgs(dom)).value == 1)
    }

    @Test func lifecycleThroughTheTable() async throws {
        var c = Client()
        try await c.open()
        let xml = "<domain type='test'><name>vm2</name><memory>1024</memory><os><type>hvm</type></os></domain>"
        let dom = try await c.call(Procedures.domainDefineXML, StringValue(xml)).dom
        #expect(dom.id == -1)
        _ = try await c.call(Procedures.domainCreate, DomainArgs(dom))
        let running = try await c.call(Procedures.domainLookupByUUID, UUIDArgs(dom.uuid)).dom
        #expect(running.id != -1)
        _ = try await c.call(Procedures.domainSuspend, DomainArgs(running))
        #expect(try await c.call(Procedures.domainGetInfo, DomainArgs(running)).info.state == .paused)
        _ = try await c.call(Procedures.domainDestroy, DomainArgs(running))
        _ = try await c.call(Procedures.domainUndefine, DomainArgs(dom))
        let e = await #expect(throws: VirError.self) {
            _ = try await c.call(Procedures.domainLookupByName, StringValue("vm2"))
        }
        #expect(e?.code == .noDomain && e?.message == "Domain not found: no domain with matching name 'vm2'")
    }

    @Test func errorsComeBackAsRemoteErrors() async throws {
        var c = Client()
        // Before CONNECT_OPEN.
        await #expect(throws: VirError(.internalError, "internal error: connection not open", domain: .rpc)) {
            _ = try await c.call(Procedures.connectGetType, XDRVoid())
        }
        await #expect(throws: VirError(.noConnect, "no connection driver available for xen:///")) {
            _ = try await c.call(Procedures.connectOpen, ConnectOpenArgs(name: "xen:///"))
        }
        try await c.open(nil)
        // A number nobody declared, and one declared in libvirt but not served.
        let unknown = try await c.rawCall(9999, [])
        let e = try RemoteError(xdrBytes: unknown.payload).virError
        #expect(e.code == .noSupport && e.message == "this function is not supported by the connection driver: unknown procedure: 9999")
        // Arguments that do not decode: an error reply, and the session keeps working.
        let bad = try await c.rawCall(Procedures.domainLookupByName.number, [0xff, 0xff, 0xff, 0xff])
        #expect(bad.header.status == .error)
        #expect(try RemoteError(xdrBytes: bad.payload).code == VirError.Code.rpc.rawValue)
        // Another program.
        let other = try await c.rawCall(1, [], program: RPCProgram.lxc)
        #expect(try RemoteError(xdrBytes: other.payload).message == "Cannot find program \(RPCProgram.lxc) version 1")
        #expect(try await c.call(Procedures.connectGetType, XDRVoid()).value == "TEST")
    }

    @Test func readOnlySocketRefusesChanges() async throws {
        var c = Client(readOnly: true)
        try await c.open()
        let dom = try await c.call(Procedures.domainLookupByName, StringValue("test")).dom
        await #expect(throws: VirError.readOnly("virDomainDestroy")) {
            _ = try await c.call(Procedures.domainDestroy, DomainArgs(dom))
        }
        await #expect(throws: VirError.readOnly("virDomainDefineXML")) {
            _ = try await c.call(Procedures.domainDefineXML, StringValue("<domain/>"))
        }
        #expect(try await c.call(Procedures.domainGetState, DomainFlagsArgs(dom)).state == 1)
    }

    @Test func readOnlyFlagOnOpen() async throws {
        var c = Client()
        try await c.open(flags: ConnectOpenArgs.readOnlyFlag)
        let dom = try await c.call(Procedures.domainLookupByName, StringValue("test")).dom
        await #expect(throws: VirError.readOnly("virDomainSuspend")) {
            _ = try await c.call(Procedures.domainSuspend, DomainArgs(dom))
        }
    }

    @Test func keepalivePingGetsPong() async throws {
        let c = Client()
        await c.session.receive(FramingTests.ping)
        let pong = await c.outbox.wait { $0.header.program == RPCProgram.keepalive }
        #expect(pong?.header == RPCHeader(program: RPCProgram.keepalive, version: 1, procedure: 2, type: .message, serial: 0, status: .ok))
    }

    @Test func keepaliveDropsASilentClientButNotAnAnsweringOne() async throws {
        let config = RemoteServerConfig(keepaliveInterval: .milliseconds(40), keepaliveCount: 2)
        var silent = Client(config: config)
        _ = try await silent.call(Procedures.connectSupportsFeature, Int32Args(DriverFeature.programKeepalive))
        #expect(await silent.hungUp.wait(timeout: .seconds(5)) { _ in true } != nil)
        let pings = silent.outbox.all.filter { $0.header.program == RPCProgram.keepalive && $0.header.procedure == 1 }
        #expect(pings.count == 2)

        // Generous limits here: only a stalled machine, not a slow one, could miss them.
        var answering = Client(config: RemoteServerConfig(keepaliveInterval: .milliseconds(100), keepaliveCount: 5))
        _ = try await answering.call(Procedures.connectSupportsFeature, Int32Args(DriverFeature.programKeepalive))
        for _ in 0..<10 {
            try await Task.sleep(for: .milliseconds(20))
            await answering.session.receive(RPCMessage(header: RPCHeader(program: RPCProgram.keepalive, version: 1, procedure: 2,
                                                                         type: .message, serial: 0, status: .ok)))
        }
        #expect(answering.hungUp.all.isEmpty)
        await answering.session.teardown()
    }

    @Test func lifecycleEventsArePushed() async throws {
        var c = Client()
        try await c.open()
        let id = try await c.call(Procedures.connectDomainEventCallbackRegisterAny, EventCallbackRegisterArgs(eventID: 0, dom: nil)).value
        let dom = try await c.call(Procedures.domainLookupByName, StringValue("test")).dom
        _ = try await c.call(Procedures.domainSuspend, DomainArgs(dom))
        let msg = try #require(await c.outbox.wait { $0.header.type == .message && $0.header.procedure == 318 })
        let ev = try EventCallbackLifecycleMsg(xdrBytes: msg.payload)
        #expect(ev.callbackID == id && ev.dom.name == "test" && ev.event == DomainEvent.Kind.suspended.rawValue)
        _ = try await c.call(Procedures.connectDomainEventCallbackDeregisterAny, Int32Args(id))
        await #expect(throws: VirError.self) {
            _ = try await c.call(Procedures.connectDomainEventCallbackRegisterAny, EventCallbackRegisterArgs(eventID: 999, dom: nil))
        }
    }

    @Test func consoleStreamFlowsBothWays() async throws {
        // TestDriver's console echoes what it is sent.
        var c = Client()
        try await c.open()
        let dom = try await c.call(Procedures.domainLookupByName, StringValue("test")).dom
        let open = try await c.rawCall(Procedures.domainOpenConsole.number, DomainOpenConsoleArgs(dom, devName: nil).xdrBytes)
        #expect(open.header.status == .ok)
        let serial = open.header.serial
        func streamPacket(_ status: RPCStatus, _ payload: [UInt8] = []) -> RPCMessage {
            RPCMessage(header: RPCHeader(program: RPCProgram.remote, version: 1, procedure: 201, type: .stream,
                                         serial: serial, status: status), payload: payload)
        }
        await c.session.receive(streamPacket(.continue, Array("hello".utf8)))
        let echoed = await c.outbox.wait { $0.header.type == .stream && $0.header.status == .continue }
        #expect(echoed.map { String(decoding: $0.payload, as: UTF8.self) } == "hello")
        #expect(echoed?.header.serial == serial && echoed?.header.procedure == 201)
        // Finish: confirmed with an empty OK packet; later data for the serial is ignored.
        await c.session.receive(streamPacket(.ok))
        let done = await c.outbox.wait { $0.header.type == .stream && $0.header.status == .ok }
        #expect(done?.payload == [])
        await c.session.receive(streamPacket(.continue, [1]))

        // Abort: confirmed with an empty OK, as libvirtd (libvirt's client fails virStreamAbort
        // on anything else); a status that is neither is a protocol error.
        let second = try await c.rawCall(Procedures.domainOpenConsole.number, DomainOpenConsoleArgs(dom, devName: nil).xdrBytes)
        await c.session.receive(RPCMessage(header: RPCHeader(program: RPCProgram.remote, version: 1, procedure: 201, type: .stream,
                                                             serial: second.header.serial, status: .error)))
        let aborted = try #require(await c.outbox.wait { $0.header.serial == second.header.serial && $0.header.type == .stream })
        #expect(aborted.header.status == .ok && aborted.payload.isEmpty)
        let third = try await c.rawCall(Procedures.domainOpenConsole.number, DomainOpenConsoleArgs(dom, devName: nil).xdrBytes)
        await c.session.receive(RPCMessage(header: RPCHeader(program: RPCProgram.remote, version: 1, procedure: 201, type: .stream,
                                                             serial: third.header.serial, status: RPCStatus(rawValue: 7))))
        let odd = try #require(await c.outbox.wait { $0.header.serial == third.header.serial && $0.header.status == .error })
        #expect(try RemoteError(xdrBytes: odd.payload).message == "stream aborted with unexpected status 7")
    }

    @Test func consoleEOFIsAnEmptyContinueThenFinishIsConfirmed() async throws {
        var c = Client(driver: SlowDriver(base: TestDriver(), console: ShortConsole()))
        try await c.open()
        let dom = try await c.call(Procedures.domainLookupByName, StringValue("test")).dom
        let open = try await c.rawCall(Procedures.domainOpenConsole.number, DomainOpenConsoleArgs(dom, devName: nil).xdrBytes)
        let serial = open.header.serial
        let eof = await c.outbox.wait { $0.header.type == .stream && $0.header.status == .continue && $0.payload.isEmpty }
        #expect(eof?.header.serial == serial)
        let data = c.outbox.all.filter { $0.header.type == .stream }.map { String(decoding: $0.payload, as: UTF8.self) }
        #expect(data == ["bye", ""])
        // No OK until the client finishes; then exactly one.
        #expect(!c.outbox.all.contains { $0.header.type == .stream && $0.header.status == .ok })
        await c.session.receive(RPCMessage(header: RPCHeader(program: RPCProgram.remote, version: 1, procedure: 201,
                                                             type: .stream, serial: serial, status: .ok)))
        #expect(await c.outbox.wait { $0.header.type == .stream && $0.header.status == .ok } != nil)
    }

    @Test func slowCallDoesNotBlockOthers() async throws {
        let driver = SlowDriver(base: TestDriver())
        var c = Client(driver: driver)
        try await c.open()
        // A hostname call that blocks until released, then a quick call on the same connection.
        let session = c.session
        await session.receive(RPCMessage(header: RPCHeader(program: RPCProgram.remote, version: 1,
                                                           procedure: Procedures.connectGetHostname.number,
                                                           type: .call, serial: 100, status: .ok)))
        #expect(try await c.call(Procedures.connectGetType, XDRVoid()).value == "TEST")
        #expect(c.outbox.all.contains { $0.header.serial == 100 } == false)
        await driver.release()
        #expect(await c.outbox.wait { $0.header.serial == 100 } != nil)
    }

    @Test func channelEndToEnd() async throws {
        // The NIO pipeline as corrald builds it, driven over an in-memory channel.
        let channel = NIOAsyncTestingChannel()
        let server = RemoteServer(driver: TestDriver())
        try await channel.eventLoop.flatSubmit {
            RemoteListener.configure(channel, server: server, readOnly: false, secure: true)
        }.get()
        try await channel.writeInbound(ByteBuffer(bytes: FramingTests.authListWire))
        let reply = try await channel.waitForOutboundWrite(as: ByteBuffer.self)
        var buf = reply
        let msg = try #require(try RPCMessageDecoder.decodeOne(&buf))
        #expect(msg.header.type == .reply && msg.header.serial == 1 && msg.header.status == .ok)
        #expect(try AuthListRet(xdrBytes: msg.payload).types == [0])
        // A length word below the header size: the byte stream is unusable, the server hangs up.
        try? await channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 4]))
        try await channel.closeFuture.get()
        #expect(!channel.isActive)
    }
}

/// Holds hostname() until released, to show calls run concurrently.
actor SlowDriverGate {
    var released = false
    var waiters: [CheckedContinuation<Void, Never>] = []
    func wait() async {
        if released { return }
        await withCheckedContinuation { waiters.append($0) }
    }
    func open() { released = true; waiters.forEach { $0.resume() }; waiters = [] }
}

/// A console that says one thing and then reaches EOF.
final class ShortConsole: ByteStream, @unchecked Sendable {
    private let lock = NSLock()
    private var chunks: [[UInt8]] = [Array("bye".utf8)]
    func read() async throws -> [UInt8]? { lock.withLock { chunks.isEmpty ? nil : chunks.removeFirst() } }
    func write(_ bytes: [UInt8]) async throws {}
    func close() async {}
}

struct SlowDriver: HypervisorDriver {
    let base: TestDriver
    let gate = SlowDriverGate()
    var console: (any ByteStream)?
    func release() async { await gate.open() }

    func hostname() async throws -> String { await gate.wait(); return try await base.hostname() }
    func uri() async throws -> String { try await base.uri() }
    func hypervisorType() async throws -> String { try await base.hypervisorType() }
    func hypervisorVersion() async throws -> UInt64 { try await base.hypervisorVersion() }
    func capabilitiesXML() async throws -> String { try await base.capabilitiesXML() }
    func domainCapabilitiesXML(emulator: String?, arch: String?, machine: String?, virtType: String?) async throws -> String {
        try await base.domainCapabilitiesXML(emulator: emulator, arch: arch, machine: machine, virtType: virtType)
    }
    func nodeInfo() async throws -> NodeInfo { try await base.nodeInfo() }
    func close() async {}
    func listAllDomains(flags: ListDomainsFlags) async throws -> [DomainRef] { try await base.listAllDomains(flags: flags) }
    func lookupDomain(name: String) async throws -> DomainRef { try await base.lookupDomain(name: name) }
    func lookupDomain(uuid: UUID) async throws -> DomainRef { try await base.lookupDomain(uuid: uuid) }
    func lookupDomain(id: Int32) async throws -> DomainRef { try await base.lookupDomain(id: id) }
    func defineDomain(xml: String, validate: Bool) async throws -> DomainRef { try await base.defineDomain(xml: xml, validate: validate) }
    func undefineDomain(_ dom: DomainRef, flags: UInt32) async throws { try await base.undefineDomain(dom, flags: flags) }
    func startDomain(_ dom: DomainRef, flags: DomainCreateFlags) async throws -> DomainRef { try await base.startDomain(dom, flags: flags) }
    func createDomain(xml: String, flags: DomainCreateFlags) async throws -> DomainRef { try await base.createDomain(xml: xml, flags: flags) }
    func shutdownDomain(_ dom: DomainRef, flags: UInt32) async throws { try await base.shutdownDomain(dom, flags: flags) }
    func destroyDomain(_ dom: DomainRef, flags: UInt32) async throws { try await base.destroyDomain(dom, flags: flags) }
    func rebootDomain(_ dom: DomainRef, flags: UInt32) async throws { try await base.rebootDomain(dom, flags: flags) }
    func resetDomain(_ dom: DomainRef) async throws { try await base.resetDomain(dom) }
    func suspendDomain(_ dom: DomainRef) async throws { try await base.suspendDomain(dom) }
    func resumeDomain(_ dom: DomainRef) async throws { try await base.resumeDomain(dom) }
    func domainInfo(_ dom: DomainRef) async throws -> DomainInfo { try await base.domainInfo(dom) }
    func domainState(_ dom: DomainRef) async throws -> DomainStateReason { try await base.domainState(dom) }
    func domainXML(_ dom: DomainRef, flags: DomainXMLFlags) async throws -> String { try await base.domainXML(dom, flags: flags) }
    func isPersistent(_ dom: DomainRef) async throws -> Bool { try await base.isPersistent(dom) }
    func autostart(_ dom: DomainRef) async throws -> Bool { try await base.autostart(dom) }
    func setAutostart(_ dom: DomainRef, _ on: Bool) async throws { try await base.setAutostart(dom, on) }
    func vcpuInfo(_ dom: DomainRef) async throws -> [VCPUInfo] { try await base.vcpuInfo(dom) }
    func allDomainStats(_ doms: [DomainRef]?, types: StatsTypes) async throws -> [DomainStatsRecord] { try await base.allDomainStats(doms, types: types) }
    func openConsole(_ dom: DomainRef, devName: String?, force: Bool) async throws -> any ByteStream {
        if let console { return console }
        return try await base.openConsole(dom, devName: devName, force: force)
    }
    func domainXMLToNative(format: String, xml: String) async throws -> String { try await base.domainXMLToNative(format: format, xml: xml) }
    func events() async throws -> AsyncStream<DomainEvent> { try await base.events() }
}
