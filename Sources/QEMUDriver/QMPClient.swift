import Foundation
import NIOCore
import NIOPosix

/// Errors of the QMP conversation.
public enum QMPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// QEMU answered a command with `{"error": {"class": ..., "desc": ...}}`.
    case command(errorClass: String, desc: String)
    case connectionClosed
    case timeout(String)
    case lineTooLong(Int)
    case protocolError(String)

    public var description: String {
        switch self {
        case .command(let cls, let desc): "QMP command failed: \(desc) (\(cls))"
        case .connectionClosed: "QMP connection closed"
        case .timeout(let what): "timed out waiting for QMP \(what)"
        case .lineTooLong(let max): "QMP message longer than \(max) bytes"
        case .protocolError(let why): "QMP protocol error: \(why)"
        }
    }
}

/// An asynchronous QMP event (`{"event": NAME, "data": {...}, "timestamp": {...}}`).
public struct QMPEvent: Sendable, Equatable {
    public var name: String
    public var data: QMPValue?
    /// Seconds since the epoch, from QEMU's timestamp.
    public var timestamp: Double?
}

/// A QMP client over a UNIX socket: newline-delimited JSON, commands matched to replies by id.
///
/// QEMU accepts one monitor client at a time, so callers connect for an operation and close.
public final class QMPClient: Sendable {
    public static let defaultMaxLineLength = 16 << 20

    private let channel: any Channel
    /// The server's greeting, e.g. `{"QMP": {"version": ..., "capabilities": [...]}}`.
    public let greeting: QMPValue
    /// Events received after capabilities negotiation. Finishes when the connection closes.
    public let events: AsyncStream<QMPEvent>
    private let commandTimeout: TimeAmount

    private init(channel: any Channel, greeting: QMPValue, events: AsyncStream<QMPEvent>, commandTimeout: TimeAmount) {
        self.channel = channel; self.greeting = greeting; self.events = events; self.commandTimeout = commandTimeout
    }

    /// Connects, reads the greeting and (by default) negotiates capabilities so commands work.
    public static func connect(
        path: String,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        negotiate: Bool = true,
        timeout: TimeAmount = .seconds(30),
        maxLineLength: Int = defaultMaxLineLength
    ) async throws -> QMPClient {
        let loop = group.next()
        let greetingPromise = loop.makePromise(of: QMPValue.self)
        let (events, continuation) = AsyncStream.makeStream(of: QMPEvent.self, bufferingPolicy: .bufferingNewest(4096))
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(.seconds(5))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers([
                            ByteToMessageHandler(QMPLineDecoder(maxLength: maxLineLength)),
                            QMPHandler(greeting: greetingPromise, events: continuation),
                        ])
                    }
                }
                .connect(unixDomainSocketPath: path).get()
        } catch {
            greetingPromise.fail(QMPError.connectionClosed)
            continuation.finish()
            throw error
        }
        let timer = loop.scheduleTask(in: timeout) { greetingPromise.fail(QMPError.timeout("greeting")) }
        let greeting: QMPValue
        do {
            greeting = try await greetingPromise.futureResult.get()
            timer.cancel()
        } catch {
            timer.cancel()
            try? await channel.close()
            throw error
        }
        let client = QMPClient(channel: channel, greeting: greeting, events: events, commandTimeout: timeout)
        if negotiate {
            do { _ = try await client.execute("qmp_capabilities") } catch {
                await client.close()
                throw error
            }
        }
        return client
    }

    /// Runs a command and returns its `return` value; a QMP error reply throws `QMPError.command`.
    @discardableResult
    public func execute(_ command: String, arguments: [String: QMPValue]? = nil) async throws -> QMPValue {
        let promise = channel.eventLoop.makePromise(of: QMPValue.self)
        let request = QMPRequest(command: command, arguments: arguments, reply: promise, timeout: commandTimeout)
        channel.writeAndFlush(request).cascadeFailure(to: promise)
        do {
            return try await promise.futureResult.get()
        } catch is ChannelError {
            // Writing to a closed channel: the same as QEMU hanging up.
            throw QMPError.connectionClosed
        }
    }

    public func close() async {
        try? await channel.close()
    }
}

struct QMPRequest: Sendable {
    var command: String
    var arguments: [String: QMPValue]?
    var reply: EventLoopPromise<QMPValue>
    var timeout: TimeAmount
}

/// Splits the byte stream into lines, refusing to buffer more than `maxLength` bytes of one line.
struct QMPLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let maxLength: Int
    /// Bytes already searched for a newline, so long lines arriving in pieces are scanned once.
    private var scanned = 0

    init(maxLength: Int) { self.maxLength = maxLength }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        let start = view.startIndex + min(scanned, view.count)
        guard let nl = view[start...].firstIndex(of: UInt8(ascii: "\n")) else {
            scanned = view.count
            if view.count > maxLength { throw QMPError.lineTooLong(maxLength) }
            return .needMoreData
        }
        let length = nl - view.startIndex
        scanned = 0
        if length > maxLength { throw QMPError.lineTooLong(maxLength) }
        guard let line = buffer.readSlice(length: length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 1)
        context.fireChannelRead(Self.wrapInboundOut(line))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// Routes parsed messages: the greeting, replies (by id) and events. Runs on the channel's event loop.
final class QMPHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = QMPRequest
    typealias OutboundOut = ByteBuffer

    private var greeting: EventLoopPromise<QMPValue>?
    private let events: AsyncStream<QMPEvent>.Continuation
    private var pending: [Int64: EventLoopPromise<QMPValue>] = [:]
    private var nextID: Int64 = 1

    init(greeting: EventLoopPromise<QMPValue>, events: AsyncStream<QMPEvent>.Continuation) {
        self.greeting = greeting; self.events = events
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = Self.unwrapInboundIn(data)
        // Garbage lines are skipped: a command waiting for its reply still times out.
        guard let message = QMPValue.parse(line.readableBytesView), case .object(let fields) = message else { return }
        if fields["QMP"] != nil {
            greeting?.succeed(message)
            greeting = nil
        } else if let name = fields["event"]?.string {
            var ts: Double?
            if let t = fields["timestamp"], let s = t["seconds"]?.int64 {
                ts = Double(s) + Double(t["microseconds"]?.int64 ?? 0) / 1e6
            }
            events.yield(QMPEvent(name: name, data: fields["data"], timestamp: ts))
        } else if fields["return"] != nil || fields["error"] != nil {
            let promise: EventLoopPromise<QMPValue>?
            if let idValue = fields["id"] {
                // An id we did not send (wrong type or unknown) answers nothing of ours.
                promise = idValue.int64.flatMap { pending.removeValue(forKey: $0) }
            } else if pending.count == 1, let only = pending.first {
                // QEMU omits the id when it could not parse a request; it can only be the one in flight.
                promise = pending.removeValue(forKey: only.key)
            } else {
                promise = nil
            }
            if let error = fields["error"] {
                promise?.fail(QMPError.command(errorClass: error["class"]?.string ?? "GenericError",
                                               desc: error["desc"]?.string ?? "unknown error"))
            } else {
                promise?.succeed(fields["return"] ?? .null)
            }
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = Self.unwrapOutboundIn(data)
        let id = nextID
        nextID += 1
        var message: [String: QMPValue] = ["execute": .string(request.command), "id": .int(id)]
        if let args = request.arguments { message["arguments"] = .object(args) }
        let bytes: Data
        do { bytes = try QMPValue.object(message).jsonData() } catch {
            request.reply.fail(error)
            promise?.fail(error)
            return
        }
        pending[id] = request.reply
        let loop = context.eventLoop.assumeIsolated()
        let command = request.command
        loop.scheduleTask(in: request.timeout) { [weak self] in
            self?.pending.removeValue(forKey: id)?.fail(QMPError.timeout("reply to \(command)"))
        }
        var buffer = context.channel.allocator.buffer(capacity: bytes.count + 1)
        buffer.writeBytes(bytes)
        buffer.writeInteger(UInt8(ascii: "\n"))
        context.write(Self.wrapOutboundOut(buffer), promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(QMPError.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        greeting?.fail(error)
        greeting = nil
        let waiting = pending
        pending = [:]
        for (_, p) in waiting { p.fail(error) }
        events.finish()
    }
}
