import Foundation
import Hypervisor
import NIOCore
import NIOPosix
import Testing
import TestDriver
@testable import RemoteProtocol

/// The real server (dispatcher over a driver) on a UNIX socket in a temporary directory.
final class InProcessServer: @unchecked Sendable {
    let dir: String
    let path: String
    let listener: any Channel

    var uri: String { "qemu+unix:///system?socket=\(path)" }

    init(driver: any HypervisorDriver = TestDriver(), config: RemoteServerConfig = RemoteServerConfig()) async throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("client-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        path = "\(dir)/sock"
        listener = try await RemoteListener.bindUnix(path: path, mode: 0o600, group: MultiThreadedEventLoopGroup.singleton,
                                                     server: RemoteServer(driver: driver, config: config), readOnly: false)
    }

    func connect(readOnly: Bool = false,
                 keepalive: RemoteDriver.Keepalive? = .libvirtDefault) async throws -> RemoteDriver {
        try await RemoteDriver.connect(.unix(path: path), name: "qemu:///system", readOnly: readOnly, openedURI: uri, keepalive: keepalive)
    }

    func stop() async {
        try? await listener.close()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// A scripted peer: answers each packet with what `respond` returns (nothing for []), closes on nil.
final class FakeServer: @unchecked Sendable {
    let dir: String
    let path: String
    let listener: any Channel

    init(_ respond: @escaping @Sendable (RPCMessage) -> [RPCMessage]?) async throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("fake-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        path = "\(dir)/sock"
        listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(ByteToMessageHandler(RPCMessageDecoder()))
                    try sync.addHandler(MessageToByteHandler(RPCMessageEncoder()))
                    try sync.addHandler(Responder(respond))
                }
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
    }

    func stop() async {
        try? await listener.close()
        try? FileManager.default.removeItem(atPath: dir)
    }

    final class Responder: ChannelInboundHandler, Sendable {
        typealias InboundIn = RPCMessage
        typealias OutboundOut = RPCMessage
        let respond: @Sendable (RPCMessage) -> [RPCMessage]?
        init(_ respond: @escaping @Sendable (RPCMessage) -> [RPCMessage]?) { self.respond = respond }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if let replies = respond(unwrapInboundIn(data)) {
                for r in replies { context.writeAndFlush(wrapOutboundOut(r), promise: nil) }
            } else {
                context.close(promise: nil)
            }
        }
    }

    /// The OK reply to `call` carrying `ret`.
    static func reply<R: XDRCodable>(_ call: RPCMessage, _ ret: R) -> [RPCMessage] {
        var h = call.header
        h.type = .reply
        h.status = .ok
        return [RPCMessage(header: h, payload: ret.xdrBytes)]
    }

    /// Answers the handshake (auth none, every feature `features` says), then `rest`.
    static func handshake(features: Int32 = 0, _ rest: @escaping @Sendable (RPCMessage) -> [RPCMessage]?) -> @Sendable (RPCMessage) -> [RPCMessage]? {
        { call in
            guard call.header.program == RPCProgram.remote else { return rest(call) }
            switch call.header.procedure {
            case Procedures.authList.number: return reply(call, AuthListRet(types: [AuthListRet.none]))
            case Procedures.connectOpen.number, Procedures.connectClose.number: return reply(call, XDRVoid())
            case Procedures.connectSupportsFeature.number: return reply(call, Int32Ret(features))
            default: return rest(call)
            }
        }
    }
}

/// The error `body` throws, as a VirError (nil if it succeeds or throws something else).
func virError(_ body: () async throws -> Void) async -> VirError? {
    do { try await body(); return nil } catch let e as VirError { return e } catch { return nil }
}

@Suite struct ClientTests {
    @Test func handshakeAndEveryQuery() async throws {
        let server = try await InProcessServer()
        defer { Task { await server.stop() } }
        let local = TestDriver()
        let conn = try await server.connect()
        #expect(try await conn.uri() == server.uri)
        #expect(try await conn.hypervisorType() == "TEST")
        #expect(try await conn.hypervisorVersion() == (try await local.hypervisorVersion()))
        #expect(try await conn.hostname() == (try await local.hostname()))
        #expect(try await conn.capabilitiesXML() == (try await local.capabilitiesXML()))
        #expect(try await conn.domainCapabilitiesXML(emulator: nil, arch: nil, machine: nil, virtType: nil)
                == (try await local.domainCapabilitiesXML(emulator: nil, arch: nil, machine: nil, virtType: nil)))
        #expect(try await conn.nodeInfo() == TestDriver.defaultNodeInfo)
        #expect(try await conn.securityModel() == (try await local.securityModel()))

        let dom = try await conn.lookupDomain(name: "test")
        #expect(dom.uuid == TestDriver.defaultUUID && dom.id > 0)
        #expect(try await conn.lookupDomain(uuid: dom.uuid) == dom)
        #expect(try await conn.lookupDomain(id: dom.id) == dom)
        #expect(try await conn.listAllDomains(flags: []).map(\.name) == ["test"])
        #expect(try await conn.domainState(dom) == DomainStateReason(.running, DomainStateReason.runningBooted))
        // cpuTime grows between the two reads; the rest must match.
        var info = try await conn.domainInfo(dom), localInfo = try await local.domainInfo(dom)
        #expect(info.cpuTimeNs > 0)
        info.cpuTimeNs = 0; localInfo.cpuTimeNs = 0
        #expect(info == localInfo)
        #expect(try await conn.domainXML(dom, flags: []) == (try await local.domainXML(dom, flags: [])))
        #expect(try await conn.osType(dom) == (try await local.osType(dom)))
        #expect(try await conn.isPersistent(dom))
        #expect(try await conn.autostart(dom) == false)
        try await conn.setAutostart(dom, true)
        #expect(try await conn.autostart(dom))
        let vcpus = try await conn.vcpuInfo(dom), localVcpus = try await local.vcpuInfo(dom)
        #expect(vcpus.map(\.number) == localVcpus.map(\.number) && vcpus.map(\.state) == localVcpus.map(\.state))
        #expect(!vcpus.isEmpty)
        let stats = try await conn.allDomainStats(nil, types: .state)
        #expect(stats.map(\.domain.name) == ["test"])
        #expect(stats.first?.params.first == TypedParam("state.state", .int(1)))
        #expect(try await conn.securityLabel(dom) == (try await local.securityLabel(dom)))
        await conn.close()
        // After close: libvirt's wording for a closed client.
        #expect(await virError { _ = try await conn.hostname() } == RemoteClient.closedByClient)
    }

    @Test func lifecycleOverTheWire() async throws {
        let server = try await InProcessServer()
        defer { Task { await server.stop() } }
        let conn = try await server.connect()
        let xml = try await conn.domainXML(try await conn.lookupDomain(name: "test"), flags: .inactive)
            .replacingOccurrences(of: "<name>test</name>", with: "<name>second</name>")
            .replacingOccurrences(of: TestDriver.defaultUUID.lowercasedString, with: "11111111-2222-3333-4444-555555555555")
        let defined = try await conn.defineDomain(xml: xml, validate: false)
        #expect(defined.name == "second" && defined.id == -1)
        // DOMAIN_CREATE returns nothing: the client looks the new id up.
        let started = try await conn.startDomain(defined, flags: [])
        #expect(started.id > 0)
        try await conn.suspendDomain(started)
        #expect(try await conn.domainState(started).state == .paused)
        try await conn.resumeDomain(started)
        try await conn.rebootDomain(started, flags: 0)
        try await conn.resetDomain(started)
        try await conn.shutdownDomain(started, flags: 0)
        #expect(try await conn.domainState(started).state == .shutoff)
        // With flags: CREATE_WITH_FLAGS, which returns the domain.
        let paused = try await conn.startDomain(defined, flags: .paused)
        #expect(paused.id > 0)
        #expect(try await conn.domainState(paused).state == .paused)
        try await conn.destroyDomain(paused, flags: 0)
        try await conn.undefineDomain(paused, flags: 0)
        #expect(try await conn.listAllDomains(flags: []).map(\.name) == ["test"])
        let transient = try await conn.createDomain(xml: xml, flags: [])
        #expect(try await conn.isPersistent(transient) == false)
        try await conn.destroyDomain(transient, flags: 0)
        await conn.close()
    }

    @Test func errorsKeepCodeDomainAndMessage() async throws {
        let server = try await InProcessServer()
        defer { Task { await server.stop() } }
        let conn = try await server.connect()
        let local = TestDriver()
        let expected = await virError { _ = try await local.lookupDomain(name: "nope") }
        #expect(expected != nil)
        #expect(await virError { _ = try await conn.lookupDomain(name: "nope") } == expected)
        // Not served by the test driver: its own "not supported" error, unchanged.
        let native = await virError { _ = try await conn.domainXMLToNative(format: "qemu-argv", xml: "<domain/>") }
        #expect(native?.code == .noSupport && native?.domain == .test)
        #expect(native?.message == "this function is not supported by the connection driver: virConnectDomainXMLToNative")
        // The connection is still fine after errors.
        #expect(try await conn.hypervisorType() == "TEST")
        await conn.close()
    }

    @Test func readOnlyIsAskedForAndEnforcedByTheServer() async throws {
        let server = try await InProcessServer()
        defer { Task { await server.stop() } }
        let conn = try await server.connect(readOnly: true)
        let dom = try await conn.lookupDomain(name: "test")
        let e = await virError { try await conn.destroyDomain(dom, flags: 0) }
        #expect(e == VirError(.operationDenied, "operation forbidden: read only access prevents virDomainDestroy"))
        #expect(try await conn.domainState(dom).state == .running)
        await conn.close()
    }

    @Test func overlappingCallsAreMatchedBySerial() async throws {
        let slow = SlowDriver(base: TestDriver())
        let server = try await InProcessServer(driver: slow)
        defer { Task { await server.stop() } }
        let conn = try await server.connect()
        // hostname blocks in the driver until released; later calls overtake it.
        let blocked = Task { try await conn.hostname() }
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await conn.nodeInfo() == TestDriver.defaultNodeInfo)
        // Many calls in flight at once, each answered with its own result.
        let names = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for i in 0..<64 {
                group.addTask { (i, i % 2 == 0 ? try await conn.lookupDomain(name: "test").name : try await conn.hypervisorType()) }
            }
            var out: [Int: String] = [:]
            for try await (i, v) in group { out[i] = v }
            return out
        }
        #expect(names.count == 64 && names.allSatisfy { $0.value == ($0.key % 2 == 0 ? "test" : "TEST") })
        await slow.release()
        #expect(try await blocked.value == (try await TestDriver().hostname()))
        await conn.close()
    }

    @Test func lifecycleEventsArriveOnTheStream() async throws {
        let server = try await InProcessServer()
        defer { Task { await server.stop() } }
        let conn = try await server.connect()
        let events = try await conn.events()
        let dom = try await conn.lookupDomain(name: "test")
        try await conn.suspendDomain(dom)
        try await conn.resumeDomain(dom)
        var seen: [DomainEvent.Kind] = []
        for await e in events {
            #expect(e.domain.uuid == dom.uuid)
            seen.append(e.kind)
            if seen.count == 2 { break }
        }
        #expect(seen == [.suspended, .resumed])
        await conn.close()
    }

    @Test func eventsEndWhenTheConnectionCloses() async throws {
        let server = try await InProcessServer()
        defer { Task { await server.stop() } }
        let conn = try await server.connect()
        let events = try await conn.events()
        await conn.close()
        var count = 0
        for await _ in events { count += 1 }
        #expect(count == 0)
    }

    @Test func consoleStreamBothWays() async throws {
        let server = try await InProcessServer()
        defer { Task { await server.stop() } }
        let conn = try await server.connect()
        let dom = try await conn.lookupDomain(name: "test")
        let console = try await conn.openConsole(dom, devName: nil, force: false)
        // TestDriver's console echoes what it is sent.
        try await console.write(Array("hello console\n".utf8))
        var got: [UInt8] = []
        while !String(decoding: got, as: UTF8.self).contains("hello console") {
            guard let chunk = try await console.read() else { break }
            got += chunk
        }
        #expect(String(decoding: got, as: UTF8.self).contains("hello console"))
        await console.close()
        #expect(try await console.read() == nil)
        // A large write is split into stream-sized packets and all of it comes back.
        let console2 = try await conn.openConsole(dom, devName: nil, force: false)
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 600_000)
        try await console2.write(big)
        var total = 0
        while total < big.count, let chunk = try await console2.read() { total += chunk.count }
        #expect(total == big.count)
        await console2.close()
        // Errors opening it come back as the driver's.
        let e = await virError { _ = try await conn.openConsole(dom, devName: "nope", force: false) }
        #expect(e?.message == "operation failed: cannot find character device nope")
        await conn.close()
    }

    @Test func consoleEOFFromTheServer() async throws {
        let server = try await InProcessServer(driver: SlowDriver(base: TestDriver(), console: ShortConsole()))
        defer { Task { await server.stop() } }
        let conn = try await server.connect()
        let console = try await conn.openConsole(try await conn.lookupDomain(name: "test"), devName: nil, force: false)
        var got: [UInt8] = []
        while let chunk = try await console.read() { got += chunk }
        #expect(String(decoding: got, as: UTF8.self) == "bye")
        await console.close()
        #expect(try await conn.hypervisorType() == "TEST")
        await conn.close()
    }

    @Test func clientAnswersServerPings() async throws {
        // The server drops a client silent for interval * (count + 1); pongs count as traffic.
        let config = RemoteServerConfig(keepaliveInterval: .milliseconds(100), keepaliveCount: 2)
        let server = try await InProcessServer(config: config)
        defer { Task { await server.stop() } }
        let conn = try await server.connect(keepalive: nil)
        try await Task.sleep(for: .milliseconds(1200))
        #expect(try await conn.hypervisorType() == "TEST")
        await conn.close()
    }

    @Test func oversizedCallIsRefusedLocally() async throws {
        let server = try await InProcessServer()
        defer { Task { await server.stop() } }
        let conn = try await server.connect()
        let huge = String(repeating: "x", count: XDRLimits.stringMax + 1)
        let e = await virError { _ = try await conn.defineDomain(xml: huge, validate: false) }
        #expect(e?.code == .rpc && e?.domain == .rpc)
        #expect(e?.message.contains("Unable to encode message payload") == true)
        #expect(try await conn.hypervisorType() == "TEST")
        await conn.close()
    }

    @Test func daemonGoingAwayMidCall() async throws {
        // Answers the handshake, then hangs up on the first real call.
        let fake = try await FakeServer(FakeServer.handshake { _ in nil })
        defer { Task { await fake.stop() } }
        let conn = try await RemoteDriver.connect(.unix(path: fake.path), name: "qemu:///system")
        let e = await virError { _ = try await conn.hostname() }
        #expect(e == VirError(.systemError, "End of file while reading data: Input/output error", domain: .rpc))
        // Later calls fail the same way instead of hanging.
        #expect(await virError { _ = try await conn.hypervisorType() } == e)
        #expect(await virError { _ = try await conn.events() }?.code == .noSupport)
        await conn.close()
    }

    @Test func clientKeepaliveGivesUpOnAHungServer() async throws {
        // Supports keepalive but then answers nothing, pings included: the pending call fails
        // once `count` pings went unanswered, as libvirt's client does.
        let fake = try await FakeServer(FakeServer.handshake(features: 1) { _ in [] })
        defer { Task { await fake.stop() } }
        let conn = try await RemoteDriver.connect(.unix(path: fake.path), name: "qemu:///system",
                                                  keepalive: RemoteDriver.Keepalive(interval: .milliseconds(100), count: 2))
        let clock = ContinuousClock(), started = clock.now
        let e = await virError { _ = try await conn.hostname() }
        #expect(e == VirError(.systemError, "connection closed due to keepalive timeout", domain: .rpc))
        #expect(clock.now - started < .seconds(5))
        await conn.close()
    }

    @Test func clientKeepaliveStaysUpWhileTheServerAnswers() async throws {
        let pong = RemoteClient.keepalive(RPCProgram.keepalivePong)
        let fake = try await FakeServer(FakeServer.handshake(features: 1) { call in
            if call.header.program == RPCProgram.keepalive { return [pong] }
            return call.header.procedure == Procedures.connectGetHostname.number ? FakeServer.reply(call, StringValue("h")) : []
        })
        defer { Task { await fake.stop() } }
        let conn = try await RemoteDriver.connect(.unix(path: fake.path), name: "qemu:///system",
                                                  keepalive: RemoteDriver.Keepalive(interval: .milliseconds(100), count: 2))
        try await Task.sleep(for: .milliseconds(800))
        #expect(try await conn.hostname() == "h")
        await conn.close()
    }

    @Test func onlyAuthNoneIsSupported() async throws {
        let fake = try await FakeServer { call in
            call.header.procedure == Procedures.authList.number ? FakeServer.reply(call, AuthListRet(types: [AuthListRet.sasl])) : nil
        }
        defer { Task { await fake.stop() } }
        let e = await virError { _ = try await RemoteDriver.connect(.unix(path: fake.path), name: "qemu:///system") }
        #expect(e?.code == .authFailed)
        #expect(e?.message.contains("sasl") == true)
    }

    @Test func connectFailuresAreSystemErrors() async throws {
        let missing = "/nonexistent-\(UUID().uuidString)/sock"
        let e = await virError { _ = try await RemoteDriver.connect(.unix(path: missing), name: "qemu:///system") }
        #expect(e == VirError(.systemError, "Failed to connect socket to '\(missing)': No such file or directory", domain: .rpc))
        // A command that exits at once: EOF, with what it said on stderr.
        let cmd = await virError {
            _ = try await RemoteDriver.connect(.command(["sh", "-c", "echo no route to daemon >&2"]), name: "qemu:///system")
        }
        #expect(cmd?.code == .systemError)
        #expect(cmd?.message == "End of file while reading data: Input/output error: no route to daemon")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/nc"), "needs nc"))
    func sshURIThroughAStandInForSSH() async throws {
        // No sshd here: a stand-in `ssh` (libvirt's command= parameter) that skips ssh's
        // options and host and runs the remote command with sh, as the remote shell would.
        let server = try await InProcessServer()
        defer { Task { await server.stop() } }
        let fakeSSH = "\(server.dir)/fake-ssh"
        try "#!/bin/sh\nwhile [ \"$1\" != -- ]; do shift; done\nshift 2\nexec sh -c \"$*\"\n"
            .write(toFile: fakeSSH, atomically: true, encoding: .utf8)
        #expect(chmod(fakeSSH, 0o755) == 0)
        let uri = try ConnectionURI(parsing: "qemu+ssh://someone@example.invalid:2222/system?command=\(fakeSSH)&socket=\(server.path)")
        let conn = try await RemoteDriver.open(uri: uri, readOnly: false, sessionDaemon: nil)
        #expect(try await conn.uri() == uri.string)
        #expect(try await conn.lookupDomain(name: "test").uuid == TestDriver.defaultUUID)
        await conn.close()
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/nc"), "needs nc"))
    func commandTransportCarriesTheProtocol() async throws {
        // What the ssh transport does, minus ssh: a child process bridging stdin/stdout to the socket.
        let server = try await InProcessServer()
        defer { Task { await server.stop() } }
        let conn = try await RemoteDriver.connect(.command(["nc", "-U", server.path]), name: "qemu:///system")
        #expect(try await conn.lookupDomain(name: "test").uuid == TestDriver.defaultUUID)
        await conn.close()
    }
}
