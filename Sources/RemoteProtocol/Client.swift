import Foundation
import Hypervisor
import NIOCore
import NIOPosix

// The client end of the remote protocol: CALLs with increasing serials, REPLYs matched by
// serial (calls overlap freely), server-pushed MESSAGEs (events), STREAM packets (consoles)
// and keepalive, over any RemoteTransport.

/// One connection to a daemon. Thread-safe; all packet handling happens on the channel's
/// event loop under `lock`, so replies, events and stream data are seen in wire order.
public final class RemoteClient: @unchecked Sendable {
    private let lock = NSLock()
    private var channel: (any Channel)?
    private var diagnostics: @Sendable () -> String = { "" }
    private var cleanup: @Sendable () async -> Void = {}
    private var nextSerial: UInt32 = 1
    private var pending: [UInt32: CheckedContinuation<RPCMessage, any Error>] = [:]
    private var streams: [UInt32: RemoteStream] = [:]
    private var eventSinks: [Int32: AsyncStream<EventCallbackLifecycleMsg>.Continuation] = [:]
    /// Events whose callback registration reply has not been processed yet (the server may
    /// send the first event before the reply to the registration).
    private var unclaimedEvents: [EventCallbackLifecycleMsg] = []
    private static let unclaimedMax = 256
    /// Set once the connection is gone; every later call fails with it.
    private var closedError: VirError?
    private var silentIntervals = 0
    private var keepaliveTask: Task<Void, Never>?

    /// What later calls fail with after `close()`.
    static let closedByClient = VirError(.internalError, "internal error: client socket is closed", domain: .rpc)

    private init() {}

    /// Connects; nothing is sent yet (the driver does the handshake).
    public static func connect(_ transport: RemoteTransport,
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> RemoteClient {
        let client = RemoteClient()
        let connected = try await TransportConnector.connect(transport, group: group, diagnosticsReady: { d in
            client.lock.withLock { client.diagnostics = d }
        }) { RPCClientHandler(client: client) }
        client.lock.withLock {
            client.channel = connected.channel
            client.cleanup = connected.cleanup
        }
        // The channel may have died before the fields were set.
        if !connected.channel.isActive { client.connectionLost(nil) }
        return client
    }

    // MARK: Calls

    /// Calls `p` and waits for its reply; server errors come back as their VirError.
    public func call<A, R>(_ p: Procedure<A, R>, _ args: A) async throws -> R {
        let reply = try await roundTrip(procedure: p.number, args: args, name: p.name)
        return try p.result(of: reply)
    }

    /// Sends a CALL and returns its REPLY. `opening` registers a stream under the call's
    /// serial before the call goes out, so data right after the reply is not lost.
    func roundTrip<A: XDRCodable>(procedure: Int32, args: A, name: String, opening stream: RemoteStream? = nil) async throws -> RPCMessage {
        var w = XDRWriter()
        args.encode(xdr: &w)
        if let overflow = w.overflow {
            throw VirError(.rpc, "Unable to encode message payload for \(name): \(overflow)", domain: .rpc)
        }
        guard w.bytes.count <= RPCLimits.payloadMax else {
            throw VirError(.rpc, "message payload of \(w.bytes.count) bytes exceeds maximum \(RPCLimits.payloadMax)", domain: .rpc)
        }
        let payload = w.bytes
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<RPCMessage, any Error>) in
            let sent: (any Channel, RPCMessage)? = lock.withLock {
                if let e = closedError { c.resume(throwing: e); return nil }
                guard let channel else { c.resume(throwing: Self.closedByClient); return nil }
                let serial = nextSerial
                nextSerial &+= 1
                pending[serial] = c
                if let stream {
                    stream.attach(serial: serial, procedure: procedure)
                    streams[serial] = stream
                }
                let header = RPCHeader(program: RPCProgram.remote, version: RPCProgram.remoteVersion, procedure: procedure,
                                       type: .call, serial: serial, status: .ok)
                return (channel, RPCMessage(header: header, payload: payload))
            }
            guard let (channel, msg) = sent else { return }
            channel.writeAndFlush(msg).whenFailure { [weak self] _ in
                // The peer is gone (an ssh child that exited): fail everything, this call
                // included, with the end-of-file error and what the child said.
                guard let self else { return }
                DispatchQueue.global().async { self.connectionLost(nil) }
            }
        }
    }

    /// Sends a packet without waiting for an answer (stream data, pongs); completes once written.
    func send(_ msg: RPCMessage) async throws {
        let channel: any Channel = try lock.withLock {
            if let e = closedError { throw e }
            guard let c = self.channel else { throw Self.closedByClient }
            return c
        }
        do {
            try await channel.writeAndFlush(msg).get()
        } catch {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async { self.connectionLost(nil); c.resume() }
            }
            throw lock.withLock { closedError } ?? Self.closedByClient
        }
    }

    /// Whether the connection is still usable.
    public var isOpen: Bool { lock.withLock { closedError == nil && channel != nil } }

    // MARK: Events

    /// Lifecycle messages for the callback `id` (as returned by the register call).
    func claimEvents(callbackID id: Int32) -> AsyncStream<EventCallbackLifecycleMsg> {
        let (stream, continuation) = AsyncStream.makeStream(of: EventCallbackLifecycleMsg.self)
        lock.withLock {
            if closedError != nil { continuation.finish(); return }
            eventSinks[id] = continuation
            for e in unclaimedEvents where e.callbackID == id { continuation.yield(e) }
            unclaimedEvents.removeAll { $0.callbackID == id }
        }
        return stream
    }

    func releaseEvents(callbackID id: Int32) {
        lock.withLock { eventSinks.removeValue(forKey: id) }?.finish()
    }

    // MARK: Streams

    func removeStream(serial: UInt32) { lock.withLock { streams[serial] = nil } }

    // MARK: Keepalive

    /// Pings a silent server every `interval`, and gives up after `count` unanswered pings, as
    /// libvirt's client keepalive (only for servers that support PROGRAM_KEEPALIVE).
    func startKeepalive(interval: Duration, count: Int) {
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self, await self.keepaliveTick(count: count) else { return }
            }
        }
        lock.withLock {
            keepaliveTask?.cancel()
            keepaliveTask = task
        }
    }

    private func keepaliveTick(count: Int) async -> Bool {
        let (channel, silent): ((any Channel)?, Int) = lock.withLock {
            if closedError != nil { return (nil, 0) }
            silentIntervals += 1
            return (self.channel, silentIntervals)
        }
        guard let channel else { return false }
        if silent > count {
            connectionLost(VirError(.systemError, "connection closed due to keepalive timeout", domain: .rpc))
            channel.close(promise: nil)
            return false
        }
        channel.writeAndFlush(Self.keepalive(RPCProgram.keepalivePing), promise: nil)
        return true
    }

    static func keepalive(_ procedure: Int32) -> RPCMessage {
        RPCMessage(header: RPCHeader(program: RPCProgram.keepalive, version: RPCProgram.keepaliveVersion,
                                     procedure: procedure, type: .message, serial: 0, status: .ok))
    }

    // MARK: Closing

    /// Closes the connection (CONNECT_CLOSE is the driver's business); later calls fail.
    public func close() async {
        let (open, cleanup, task) = lock.withLock { () -> ((any Channel)?, @Sendable () async -> Void, Task<Void, Never>?) in
            let c = self.channel
            self.channel = nil
            if closedError == nil { closedError = Self.closedByClient }
            return (c, self.cleanup, keepaliveTask)
        }
        task?.cancel()
        try? await open?.close()
        connectionLost(Self.closedByClient)
        await cleanup()
    }

    // MARK: Incoming (event loop)

    fileprivate func received(_ msg: RPCMessage) {
        let h = msg.header
        lock.withLock { silentIntervals = 0 }
        if h.program == RPCProgram.keepalive {
            if h.type == .message, h.procedure == RPCProgram.keepalivePing {
                let channel = lock.withLock { self.channel }
                channel?.writeAndFlush(Self.keepalive(RPCProgram.keepalivePong), promise: nil)
            }
            return
        }
        guard h.program == RPCProgram.remote else { return }
        switch h.type {
        case .reply:
            let c = lock.withLock { pending.removeValue(forKey: h.serial) }
            c?.resume(returning: msg)
        case .message:
            guard h.procedure == Procedures.domainEventCallbackLifecycle.number,
                  let event = try? EventCallbackLifecycleMsg(xdrBytes: msg.payload) else { return }
            lock.withLock {
                if let sink = eventSinks[event.callbackID] {
                    sink.yield(event)
                } else {
                    if unclaimedEvents.count >= Self.unclaimedMax { unclaimedEvents.removeFirst() }
                    unclaimedEvents.append(event)
                }
            }
        case .stream:
            guard let stream = lock.withLock({ streams[h.serial] }) else { return }
            switch h.status {
            case .continue:
                if msg.payload.isEmpty { stream.deliverEnd(nil) } else { stream.deliver(msg.payload) }
            case .ok:
                removeStream(serial: h.serial)
                stream.confirm(nil)
            default:
                removeStream(serial: h.serial)
                let e = (try? RemoteError(xdrBytes: msg.payload))?.virError
                    ?? VirError(.rpc, "stream error without a valid error payload", domain: .rpc)
                stream.confirm(e)
            }
        default:
            break
        }
    }

    /// The connection is gone: every waiter gets `reason` (or libvirt's EOF error).
    fileprivate func connectionLost(_ reason: VirError?) {
        var endOfFile = VirError(.systemError, "End of file while reading data: Input/output error", domain: .rpc)
        if reason == nil, lock.withLock({ closedError == nil }) {
            let extra = lock.withLock { diagnostics }().trimmingCharacters(in: .whitespacesAndNewlines)
            if !extra.isEmpty { endOfFile.message += ": \(extra)" }
        }
        let (calls, open, sinks, task): ([CheckedContinuation<RPCMessage, any Error>], [RemoteStream],
                                         [AsyncStream<EventCallbackLifecycleMsg>.Continuation], Task<Void, Never>?) = lock.withLock {
            if closedError == nil { closedError = reason ?? endOfFile }
            defer { pending = [:]; streams = [:]; eventSinks = [:]; unclaimedEvents = [] }
            return (Array(pending.values), Array(streams.values), Array(eventSinks.values), keepaliveTask)
        }
        let error = lock.withLock { closedError } ?? Self.closedByClient
        task?.cancel()
        for c in calls { c.resume(throwing: error) }
        for s in open { s.confirm(error) }
        for s in sinks { s.finish() }
    }
}

/// Hands a channel's packets to its RemoteClient.
final class RPCClientHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = RPCMessage
    let client: RemoteClient
    init(client: RemoteClient) { self.client = client }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        client.received(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Off the event loop: composing the error may wait for an ssh child's stderr.
        let client = client
        DispatchQueue.global().async { client.connectionLost(nil) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A framing error leaves the byte stream unusable, as in libvirt's client.
        if let framing = error as? RPCFramingError {
            client.connectionLost(VirError(.rpc, "\(framing)", domain: .rpc))
        }
        context.close(promise: nil)
    }
}

/// A stream opened by a call (a console, a volume upload or download): STREAM packets under
/// the call's serial.
final class RemoteStream: ByteStream, @unchecked Sendable {
    /// libvirt's largest stream chunk (VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX).
    static let chunkMax = 262_120

    private let lock = NSLock()
    private weak var client: RemoteClient?
    private var serial: UInt32 = 0
    private var procedure: Int32 = 0
    private var chunks: [[UInt8]] = []
    private var ended = false
    private var endError: VirError?
    private var waiter: CheckedContinuation<[UInt8]?, any Error>?
    private var closed = false
    /// close() without finish() aborts (volume transfers) instead of finishing (consoles).
    private let abortOnClose: Bool
    /// The server's final word on the stream: OK (finish confirmed) or an error.
    private var confirmation: VirError??
    private var finishWaiter: CheckedContinuation<Void, any Error>?

    init(client: RemoteClient, abortOnClose: Bool = false) { self.client = client; self.abortOnClose = abortOnClose }

    func attach(serial: UInt32, procedure: Int32) {
        lock.withLock { self.serial = serial; self.procedure = procedure }
    }

    /// The serial of the call that opened the stream (0 before it was sent).
    var attachedSerial: UInt32 { lock.withLock { serial } }

    func deliver(_ bytes: [UInt8]) {
        let w: CheckedContinuation<[UInt8]?, any Error>? = lock.withLock {
            if ended { return nil }
            if let w = waiter { waiter = nil; return w }
            chunks.append(bytes)
            return nil
        }
        w?.resume(returning: bytes)
    }

    func deliverEnd(_ error: VirError?) {
        let w: CheckedContinuation<[UInt8]?, any Error>? = lock.withLock {
            if ended { return nil }
            ended = true
            endError = error
            defer { waiter = nil }
            return waiter
        }
        if let error { w?.resume(throwing: error) } else { w?.resume(returning: nil) }
    }

    func read() async throws -> [UInt8]? {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<[UInt8]?, any Error>) in
            let result: Result<[UInt8]?, any Error>? = lock.withLock {
                if !chunks.isEmpty { return .success(chunks.removeFirst()) }
                if closed { return .success(nil) }
                if ended { return endError.map { .failure($0) } ?? .success(nil) }
                waiter = c
                return nil
            }
            if let result { c.resume(with: result) }
        }
    }

    func write(_ bytes: [UInt8]) async throws {
        let (client, serial, procedure, done, error): (RemoteClient?, UInt32, Int32, Bool, VirError?) = lock.withLock {
            (self.client, self.serial, self.procedure, self.closed || self.ended, self.endError)
        }
        if done { throw error ?? VirError(.rpc, "stream is closed", domain: .rpc) }
        guard let client else { throw RemoteClient.closedByClient }
        var rest = bytes[...]
        while !rest.isEmpty {
            let piece = Array(rest.prefix(Self.chunkMax))
            rest = rest.dropFirst(piece.count)
            try await client.send(RPCMessage(header: header(serial, procedure, .continue), payload: piece))
        }
    }

    /// The server ended the stream: confirmed a finish (nil) or reported an error, or the
    /// connection is gone.
    func confirm(_ error: VirError?) {
        let w: CheckedContinuation<Void, any Error>? = lock.withLock {
            if confirmation == nil { confirmation = .some(error) }
            defer { finishWaiter = nil }
            return finishWaiter
        }
        deliverEnd(error)
        if let error { w?.resume(throwing: error) } else { w?.resume() }
    }

    /// virStreamFinish: tells the server the client is done and waits for its answer, so an
    /// upload that failed to commit reports why. An error the server already sent is
    /// reported without asking again, as libvirt's client does.
    func finish() async throws {
        let (client, serial, procedure, wasClosed, known): (RemoteClient?, UInt32, Int32, Bool, VirError??) = lock.withLock {
            defer { closed = true }
            return (self.client, self.serial, self.procedure, closed, confirmation)
        }
        if let known {
            if let e = known { throw e }
            return
        }
        if wasClosed { throw VirError(.rpc, "stream is closed", domain: .rpc) }
        guard let client else { throw RemoteClient.closedByClient }
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            let done: VirError?? = lock.withLock {
                if let confirmation { return confirmation }
                finishWaiter = c
                return nil
            }
            if let done {
                if let e = done { c.resume(throwing: e) } else { c.resume() }
                return
            }
            Task {
                do { try await client.send(RPCMessage(header: self.header(serial, procedure, .ok))) } catch {
                    self.confirm(RemoteStream.virError(error))
                }
            }
        }
    }

    /// Without finish(): a console's close finishes (the confirmation is not waited for); a
    /// transfer's close is virStreamAbort, so the server discards a partial upload.
    func close() async {
        let (client, serial, procedure, wasClosed): (RemoteClient?, UInt32, Int32, Bool) = lock.withLock {
            defer { closed = true }
            return (self.client, self.serial, self.procedure, closed || confirmation != nil)
        }
        deliverEnd(nil)
        guard !wasClosed, let client else { return }
        client.removeStream(serial: serial)
        try? await client.send(RPCMessage(header: header(serial, procedure, abortOnClose ? .error : .ok)))
    }

    static func virError(_ error: any Error) -> VirError {
        error as? VirError ?? VirError(.rpc, "\(error)", domain: .rpc)
    }

    private func header(_ serial: UInt32, _ procedure: Int32, _ status: RPCStatus) -> RPCHeader {
        RPCHeader(program: RPCProgram.remote, version: RPCProgram.remoteVersion, procedure: procedure,
                  type: .stream, serial: serial, status: status)
    }
}
