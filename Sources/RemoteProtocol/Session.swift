import Foundation
import Hypervisor

/// What the daemon serves, shared by all clients.
public struct RemoteServerConfig: Sendable {
    /// What CONNECT_GET_URI answers, e.g. "qemu:///system".
    public var uri: String
    /// URIs CONNECT_OPEN accepts besides nil/empty (which mean the default).
    public var acceptedURIs: Set<String>
    /// CONNECT_GET_LIB_VERSION: the libvirt release whose protocol this server speaks, since
    /// clients compare it against libvirt version numbers to enable features.
    public var libVersion: UInt64
    /// Concurrent calls per client; more wait (and so does reading from that client).
    public var maxCallsPerClient: Int
    /// Server-side keepalive, started when a client asks for PROGRAM_KEEPALIVE (as libvirtd's
    /// keepalive_interval/keepalive_count): a client silent for `keepaliveInterval` gets a
    /// PING, and one that stays silent through `keepaliveCount` more intervals is dropped.
    public var keepaliveInterval: Duration
    public var keepaliveCount: Int
    /// Told about every finished call (procedure, outcome, latency); nil: nobody listens.
    public var callObserver: RPCCallObserver? = nil

    public init(uri: String = "qemu:///system", acceptedURIs: Set<String> = ["qemu:///system", "qemu:///session"],
                libVersion: UInt64 = 9_000_000, maxCallsPerClient: Int = 16,
                keepaliveInterval: Duration = .seconds(5), keepaliveCount: Int = 5) {
        self.uri = uri; self.acceptedURIs = acceptedURIs; self.libVersion = libVersion
        self.maxCallsPerClient = maxCallsPerClient
        self.keepaliveInterval = keepaliveInterval; self.keepaliveCount = keepaliveCount
    }
}

/// The shared part of the server: driver, configuration and procedure table.
public final class RemoteServer: Sendable {
    public let driver: any HypervisorDriver
    public let config: RemoteServerConfig
    let table: ProcedureTable

    public init(driver: any HypervisorDriver, config: RemoteServerConfig = RemoteServerConfig(), table: ProcedureTable? = nil) {
        self.driver = driver
        self.config = config
        self.table = table ?? RemoteServer.standardTable()
    }

    /// A session for one client connection; `send` queues a packet to that client and
    /// `sendAndWait` (for stream data) returns once the packet has gone to the socket, so a
    /// client that stops reading a stream stops the stream instead of growing a queue.
    /// `hangUp` closes the connection (keepalive gives up on a silent client).
    public func makeSession(readOnly: Bool, secure: Bool, send: @escaping @Sendable (RPCMessage) -> Void,
                            sendAndWait: (@Sendable (RPCMessage) async -> Void)? = nil,
                            hangUp: @escaping @Sendable () -> Void = {}) -> ClientSession {
        ClientSession(server: self, socketReadOnly: readOnly, secure: secure, send: send,
                      sendAndWait: sendAndWait ?? { send($0) }, hangUp: hangUp)
    }
}

/// One client connection's state: whether it opened a connection and how, its event
/// callbacks and its open streams. Messages arrive through `receive` in wire order; calls
/// run concurrently, so a slow call never holds up the client's other calls or other clients.
public actor ClientSession {
    public let server: RemoteServer
    /// The socket is the read-only one.
    public let socketReadOnly: Bool
    /// CONNECT_IS_SECURE: local sockets are, plain TCP is not.
    public let secure: Bool
    let send: @Sendable (RPCMessage) -> Void
    let sendAndWait: @Sendable (RPCMessage) async -> Void
    let hangUp: @Sendable () -> Void

    public private(set) var isOpen = false
    /// Read-only socket, or CONNECT_OPEN with VIR_CONNECT_RO.
    public private(set) var readOnly: Bool
    private var openDriver: (any HypervisorDriver)?

    private var inflight = 0
    private var slotWaiters: [CheckedContinuation<Void, Never>] = []
    private var callTasks: [UInt32: Task<Void, Never>] = [:]
    private var closed = false

    // Events
    struct EventCallback { var eventID: Int32; var filter: UUID? }
    private var callbacks: [Int32: EventCallback] = [:]
    private var nextCallbackID: Int32 = 1
    private var eventTask: Task<Void, Never>?

    // Streams, by the serial of the call that opened them.
    struct OpenStream {
        var procedure: Int32
        var stream: any ByteStream
        var pump: Task<Void, Never>?
        /// The server side reached EOF or failed; the entry stays until the client finishes
        /// or aborts, because the client waits for an answer to either.
        var ended = false
        /// An upload: the client writes, nothing is read from the driver's stream.
        var upload = false
        /// A sparse upload: STREAM_HOLE packets are accepted (and written as zeros).
        var sparse = false
        /// Why the stream failed: a later finish reports it instead of committing.
        var failure: VirError?
    }
    private var streams: [UInt32: OpenStream] = [:]

    init(server: RemoteServer, socketReadOnly: Bool, secure: Bool, send: @escaping @Sendable (RPCMessage) -> Void,
         sendAndWait: @escaping @Sendable (RPCMessage) async -> Void, hangUp: @escaping @Sendable () -> Void) {
        self.server = server
        self.socketReadOnly = socketReadOnly
        self.readOnly = socketReadOnly
        self.secure = secure
        self.send = send
        self.sendAndWait = sendAndWait
        self.hangUp = hangUp
    }

    /// The driver of an open connection (read-only wrapped when it is read-only).
    public func driver() throws -> any HypervisorDriver {
        guard let d = openDriver else { throw VirError(.internalError, "internal error: connection not open", domain: .rpc) }
        return d
    }

    // MARK: Incoming messages

    /// Handles one packet from the client. Returns once the packet is accepted (a call may
    /// still be running); waits while the client already has its maximum of calls running.
    public func receive(_ msg: RPCMessage) async {
        if closed { return }
        silentIntervals = 0
        let h = msg.header
        if h.program == RPCProgram.keepalive {
            if h.type == .message, h.procedure == RPCProgram.keepalivePing {
                send(RPCMessage(header: RPCHeader(program: RPCProgram.keepalive, version: RPCProgram.keepaliveVersion,
                                                  procedure: RPCProgram.keepalivePong, type: .message, serial: 0, status: .ok)))
            }
            return
        }
        switch h.type {
        case .call:
            guard h.program == RPCProgram.remote, h.version == RPCProgram.remoteVersion else {
                replyError(to: h, VirError(.rpc, "Cannot find program \(h.program) version \(h.version)", domain: .rpc))
                return
            }
            await acquireSlot()
            let task = Task { await self.runCall(msg) }
            callTasks[h.serial] = task
        case .callWithFDs:
            replyError(to: h, VirError(.noSupport, "this function is not supported by the connection driver: file descriptor passing", domain: .rpc))
        case .stream:
            await streamMessage(msg)
        case .streamHole:
            await streamHole(msg)
        default:
            // Replies and events only flow from server to client; libvirtd ignores strays too.
            break
        }
    }

    private func acquireSlot() async {
        while inflight >= server.config.maxCallsPerClient {
            await withCheckedContinuation { slotWaiters.append($0) }
        }
        inflight += 1
    }

    private func releaseSlot(_ serial: UInt32) {
        inflight -= 1
        callTasks[serial] = nil
        if !slotWaiters.isEmpty { slotWaiters.removeFirst().resume() }
    }

    private func runCall(_ msg: RPCMessage) async {
        let h = msg.header
        let started = ContinuousClock.now
        var succeeded = false
        defer {
            releaseSlot(h.serial)
            if let observer = server.config.callObserver {
                observer(RPCCallRecord(procedure: Procedures.byNumber[h.procedure]?.name ?? "unknown",
                                       succeeded: succeeded, duration: ContinuousClock.now - started))
            }
        }
        do {
            let payload = try await Self.$currentSerial.withValue(h.serial) { try await call(msg) }
            if closed { return }
            guard payload.count <= RPCLimits.payloadMax else {
                throw VirError(.rpc, "message payload of \(payload.count) bytes exceeds maximum \(RPCLimits.payloadMax)", domain: .rpc)
            }
            var reply = RPCMessage(header: h, payload: payload)
            reply.header.type = .reply
            reply.header.status = .ok
            send(reply)
            succeeded = true
            startPump(serial: h.serial)
        } catch {
            if let s = streams.removeValue(forKey: h.serial) { await s.stream.close() }
            if closed { return }
            replyError(to: h, Self.virError(error))
        }
    }

    /// Decodes, checks and runs one call; the reply payload on success.
    private func call(_ msg: RPCMessage) async throws -> [UInt8] {
        let h = msg.header
        guard let proc = server.table.handler(h.procedure) else {
            let what = Procedures.byNumber[h.procedure].map(\.api) ?? "unknown procedure: \(h.procedure)"
            throw VirError(.noSupport, "this function is not supported by the connection driver: \(what)", domain: .rpc)
        }
        if !isOpen && !ProcedureTable.beforeOpen.contains(h.procedure) {
            throw VirError(.internalError, "internal error: connection not open", domain: .rpc)
        }
        if readOnly && !proc.info.readOnly {
            throw VirError.readOnly(proc.info.api)
        }
        return try await proc.run(self, msg.payload)
    }

    private func replyError(to h: RPCHeader, _ e: VirError) {
        var reply = RPCMessage(header: h, payload: RemoteError(e).xdrBytes)
        reply.header.type = .reply
        reply.header.status = .error
        send(reply)
    }

    static func virError(_ error: any Error) -> VirError {
        if let v = error as? VirError { return v }
        if error is CancellationError { return VirError(.operationFailed, "operation failed: call cancelled", domain: .rpc) }
        return VirError(.internalError, "internal error: \(error)", domain: .rpc)
    }

    // MARK: Connection

    func open(uri: String?, flags: UInt32) throws {
        if isOpen { throw VirError(.internalError, "internal error: connection already open", domain: .rpc) }
        if let uri, !uri.isEmpty, !server.config.acceptedURIs.contains(uri), uri != server.config.uri {
            throw VirError(.noConnect, "no connection driver available for \(uri)")
        }
        if flags & ConnectOpenArgs.readOnlyFlag != 0 { readOnly = true }
        openDriver = readOnly ? ReadOnlyDriver(server.driver) : server.driver
        isOpen = true
    }

    func closeConnection() {
        isOpen = false
        openDriver = nil
        stopEvents()
        objectCallbacks = [:]
    }

    /// Ends everything the client left behind: running calls, streams, event forwarding.
    /// The shared driver stays open (other clients use it).
    public func teardown() async {
        closed = true
        keepaliveTask?.cancel()
        keepaliveTask = nil
        for (_, t) in callTasks { t.cancel() }
        callTasks = [:]
        stopEvents()
        let open = streams
        streams = [:]
        for (_, s) in open {
            s.pump?.cancel()
            await s.stream.close()
        }
        for w in slotWaiters { w.resume() }
        slotWaiters = []
    }

    // MARK: Keepalive

    private var keepaliveTask: Task<Void, Never>?
    /// Intervals since the client last sent anything.
    private var silentIntervals = 0

    /// Starts pinging a client that goes quiet (once; later requests change nothing).
    func startKeepalive() {
        guard keepaliveTask == nil, !closed else { return }
        let interval = server.config.keepaliveInterval
        keepaliveTask = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self, await self.keepaliveTick() else { return }
            }
        }
    }

    /// One interval passed; false once the client is given up on.
    private func keepaliveTick() -> Bool {
        if closed { return false }
        silentIntervals += 1
        if silentIntervals > server.config.keepaliveCount {
            hangUp()
            return false
        }
        send(RPCMessage(header: RPCHeader(program: RPCProgram.keepalive, version: RPCProgram.keepaliveVersion,
                                          procedure: RPCProgram.keepalivePing, type: .message, serial: 0, status: .ok)))
        return true
    }

    // MARK: Events

    /// virDomainEventID values libvirt 9.0 knows (VIR_DOMAIN_EVENT_ID_LAST).
    static let eventIDLimit: Int32 = 26

    func registerCallback(eventID: Int32, filter: DomainRef?) async throws -> Int32 {
        guard eventID >= 0, eventID < Self.eventIDLimit else {
            throw VirError(.invalidArg, "invalid argument: unsupported event ID \(eventID)")
        }
        if eventTask == nil {
            let events = try await driver().events()
            eventTask = Task { [weak self] in
                for await event in events {
                    guard let self else { return }
                    await self.deliver(event)
                }
            }
        }
        let id = nextCallbackID
        nextCallbackID += 1
        callbacks[id] = EventCallback(eventID: eventID, filter: filter?.uuid)
        return id
    }

    func deregisterCallback(_ id: Int32) throws {
        guard callbacks.removeValue(forKey: id) != nil else {
            throw VirError(.invalidArg, "invalid argument: callback \(id) not registered")
        }
        if callbacks.isEmpty { stopEvents() }
    }

    private func stopEvents() {
        eventTask?.cancel()
        eventTask = nil
        callbacks = [:]
    }

    /// Objects besides domains whose events a client can register for.
    enum EventObject: Sendable { case network, storagePool }
    /// Registered network and storage pool callbacks. They are accepted so clients that
    /// register them (virsh net-event/pool-event, event-loop applications) work, but no
    /// drivers report such events yet, so nothing is ever sent for them.
    private var objectCallbacks: [Int32: EventObject] = [:]
    /// virNetworkEventID and virStoragePoolEventID values (both have two: lifecycle plus
    /// metadata change / refresh).
    static let objectEventIDLimit: Int32 = 2

    func registerObjectCallback(_ kind: EventObject, eventID: Int32) throws -> Int32 {
        guard eventID >= 0, eventID < Self.objectEventIDLimit else {
            throw VirError(.invalidArg, "invalid argument: unsupported event ID \(eventID)")
        }
        let id = nextCallbackID
        nextCallbackID += 1
        objectCallbacks[id] = kind
        return id
    }

    func deregisterObjectCallback(_ kind: EventObject, _ id: Int32) throws {
        guard objectCallbacks[id] == kind else {
            throw VirError(.invalidArg, "invalid argument: callback \(id) not registered")
        }
        objectCallbacks[id] = nil
    }

    private func deliver(_ event: DomainEvent) {
        if closed { return }
        for (id, cb) in callbacks.sorted(by: { $0.key < $1.key })
        where cb.eventID == 0 && (cb.filter == nil || cb.filter == event.domain.uuid) {
            let msg = EventCallbackLifecycleMsg(callbackID: id, dom: event.domain, event: event.kind.rawValue, detail: event.detail)
            send(RPCMessage(header: RPCHeader(program: RPCProgram.remote, version: RPCProgram.remoteVersion,
                                              procedure: Procedures.domainEventCallbackLifecycle.number,
                                              type: .message, serial: 0, status: .ok),
                            payload: msg.xdrBytes))
        }
    }

    // MARK: Streams

    /// libvirt's largest stream chunk (VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX).
    static let streamChunkMax = 262_120

    /// The serial of the call a handler is running for.
    @TaskLocal static var currentSerial: UInt32 = 0

    /// Registers a stream opened by the running call; data starts flowing once the call's
    /// reply has been sent, in STREAM packets carrying the call's serial and procedure.
    func addStream(procedure: Int32, _ stream: any ByteStream) {
        streams[Self.currentSerial] = OpenStream(procedure: procedure, stream: stream, pump: nil)
    }

    /// Registers an upload opened by the running call: the client's STREAM data goes to
    /// `stream`, its finish commits (finish()), its abort ends it without committing (close()).
    func addUploadStream(procedure: Int32, _ stream: any ByteStream, sparse: Bool) {
        streams[Self.currentSerial] = OpenStream(procedure: procedure, stream: stream, pump: nil, upload: true, sparse: sparse)
    }

    private func streamHeader(_ s: OpenStream, serial: UInt32, status: RPCStatus) -> RPCHeader {
        RPCHeader(program: RPCProgram.remote, version: RPCProgram.remoteVersion, procedure: s.procedure,
                  type: .stream, serial: serial, status: status)
    }

    private func startPump(serial: UInt32) {
        guard var s = streams[serial], s.pump == nil, !s.upload else { return }
        let stream = s.stream
        s.pump = Task { [weak self] in
            do {
                while let chunk = try await stream.read() {
                    var rest = chunk[...]
                    while !rest.isEmpty {
                        let piece = Array(rest.prefix(Self.streamChunkMax))
                        rest = rest.dropFirst(piece.count)
                        await self?.streamData(serial: serial, piece)
                    }
                }
                await self?.streamEnded(serial: serial, error: nil)
            } catch is CancellationError {
                return
            } catch {
                await self?.streamEnded(serial: serial, error: Self.virError(error))
            }
        }
        streams[serial] = s
    }

    private func streamData(serial: UInt32, _ bytes: [UInt8]) async {
        guard let s = streams[serial], !closed else { return }
        await sendAndWait(RPCMessage(header: streamHeader(s, serial: serial, status: .continue), payload: bytes))
    }

    /// The server side ended. As libvirtd: EOF is a STREAM CONTINUE without data (an OK
    /// without data would confirm a finish the client never sent, and libvirt's client drops
    /// the connection over it); a failure is a STREAM ERROR with a remote_error.
    private func streamEnded(serial: UInt32, error: VirError?) async {
        guard var s = streams[serial], !s.ended else { return }
        s.ended = true
        s.failure = error
        streams[serial] = s
        await s.stream.close()
        if closed { return }
        if let error {
            send(RPCMessage(header: streamHeader(s, serial: serial, status: .error), payload: RemoteError(error).xdrBytes))
        } else {
            send(RPCMessage(header: streamHeader(s, serial: serial, status: .continue)))
        }
    }

    /// A STREAM packet from the client: data (CONTINUE), finish (OK) or abort (ERROR).
    private func streamMessage(_ msg: RPCMessage) async {
        let serial = msg.header.serial
        guard let s = streams[serial] else { return }  // late data for a stream already gone
        switch msg.header.status {
        case .continue:
            if msg.payload.isEmpty || s.ended { return }
            await streamWrite(serial: serial, s, msg.payload)
        case .ok:
            streams[serial] = nil
            s.pump?.cancel()
            // finish() commits an upload and may fail doing so; a stream that already failed
            // is only closed, and the client hears the failure again.
            var failure = s.failure
            if failure == nil {
                do { try await s.stream.finish() } catch { failure = Self.virError(error) }
            } else {
                await s.stream.close()
            }
            if closed { return }
            if let failure {
                send(RPCMessage(header: streamHeader(s, serial: serial, status: .error), payload: RemoteError(failure).xdrBytes))
            } else {
                // libvirtd confirms a finish with an empty OK packet.
                send(RPCMessage(header: streamHeader(s, serial: serial, status: .ok)))
            }
        default:
            // An abort (status ERROR) is confirmed like a finish, with an empty OK: libvirt's
            // client waits for that and fails virStreamAbort on an error. Any other status is
            // a protocol error, answered with one (as libvirtd).
            streams[serial] = nil
            s.pump?.cancel()
            await s.stream.close()
            if closed { return }
            if msg.header.status == .error {
                send(RPCMessage(header: streamHeader(s, serial: serial, status: .ok)))
            } else {
                let e = VirError(.rpc, "stream aborted with unexpected status \(msg.header.status.rawValue)", domain: .rpc)
                send(RPCMessage(header: streamHeader(s, serial: serial, status: .error), payload: RemoteError(e).xdrBytes))
            }
        }
    }

    private func streamWrite(serial: UInt32, _ s: OpenStream, _ bytes: [UInt8]) async {
        do {
            try await s.stream.write(bytes)
        } catch {
            await streamEnded(serial: serial, error: Self.virError(error))
        }
    }

    /// Zeros written per write() when a hole is filled in.
    static let holeChunk = 1 << 20

    /// A STREAM_HOLE packet from the client: a run of zeros in a sparse upload. The driver's
    /// stream has no notion of holes, so the zeros are written out (bounded chunks).
    private func streamHole(_ msg: RPCMessage) async {
        let serial = msg.header.serial
        guard let s = streams[serial], !s.ended else { return }
        guard s.upload, s.sparse else {
            await streamEnded(serial: serial, error: VirError(.rpc, "Unexpected stream hole", domain: .rpc))
            return
        }
        guard let hole = try? StreamHole(xdrBytes: msg.payload), hole.length >= 0 else {
            await streamEnded(serial: serial, error: VirError(.rpc, "Malformed stream hole packet", domain: .rpc))
            return
        }
        var left = hole.length
        let zeros = [UInt8](repeating: 0, count: Self.holeChunk)
        while left > 0, !closed, streams[serial]?.ended == false {
            // Reading from this client waits for the zeros; that is work for it, not silence.
            silentIntervals = 0
            let n = Int(min(left, Int64(Self.holeChunk)))
            await streamWrite(serial: serial, s, n == zeros.count ? zeros : Array(zeros.prefix(n)))
            left -= Int64(n)
        }
    }
}
