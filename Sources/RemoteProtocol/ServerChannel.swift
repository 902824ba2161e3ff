import Foundation
import NIOCore
import NIOPosix

/// Connects a channel to a `ClientSession`: packets are handed to the session one at a time
/// in wire order on a task of their own; while the session has not taken the previous ones
/// the handler stops reading from the socket, so a flooding client is throttled, not buffered.
public final class RPCServerHandler: ChannelDuplexHandler, @unchecked Sendable {
    // @unchecked: all mutable state is touched on the channel's event loop only.
    public typealias InboundIn = RPCMessage
    public typealias OutboundIn = RPCMessage
    public typealias OutboundOut = RPCMessage

    private let server: RemoteServer
    private let readOnly: Bool
    private let secure: Bool
    private var session: ClientSession?
    private var inbox: AsyncStream<RPCMessage>.Continuation?
    private var consumer: Task<Void, Never>?
    private var queued = 0
    private var readHeld = false
    private var removed = false
    private static let maxQueued = 8

    public init(server: RemoteServer, readOnly: Bool, secure: Bool) {
        self.server = server
        self.readOnly = readOnly
        self.secure = secure
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        let session = server.makeSession(readOnly: readOnly, secure: secure, send: { msg in
            channel.writeAndFlush(msg, promise: nil)
        }, sendAndWait: { msg in
            try? await channel.writeAndFlush(msg).get()
        }, hangUp: {
            channel.close(promise: nil)
        })
        self.session = session
        let (stream, continuation) = AsyncStream.makeStream(of: RPCMessage.self)
        inbox = continuation
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let ctx = NIOLoopBound(context, eventLoop: loop)
        consumer = Task {
            for await msg in stream {
                await session.receive(msg)
                loop.execute { bound.value.taken(ctx.value) }
            }
            await session.teardown()
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        removed = true
        inbox?.finish()
        inbox = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        queued += 1
        inbox?.yield(unwrapInboundIn(data))
    }

    public func channelInactive(context: ChannelHandlerContext) {
        inbox?.finish()
        inbox = nil
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Framing errors leave the byte stream unusable: close, as libvirtd does.
        context.close(promise: nil)
    }

    public func read(context: ChannelHandlerContext) {
        if queued >= Self.maxQueued { readHeld = true } else { context.read() }
    }

    private func taken(_ context: ChannelHandlerContext) {
        queued -= 1
        if !removed && readHeld && queued < Self.maxQueued {
            readHeld = false
            context.read()
        }
    }
}

/// Listening sockets for a RemoteServer.
public enum RemoteListener {
    /// Adds the codec and the session handler to a new connection's pipeline (on its event loop,
    /// as channel initializers run).
    public static func configure(_ channel: any Channel, server: RemoteServer, readOnly: Bool, secure: Bool) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(ByteToMessageHandler(RPCMessageDecoder()))
            try sync.addHandler(MessageToByteHandler(RPCMessageEncoder()))
            try sync.addHandler(RPCServerHandler(server: server, readOnly: readOnly, secure: secure))
        }
    }

    private static func bootstrap(_ group: any EventLoopGroup, server: RemoteServer, readOnly: Bool, secure: Bool) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.autoRead, value: true)
            .childChannelInitializer { channel in configure(channel, server: server, readOnly: readOnly, secure: secure) }
    }

    /// Listens on a UNIX socket at `path` (replacing a stale one) with the given mode.
    public static func bindUnix(path: String, mode: mode_t, group: any EventLoopGroup, server: RemoteServer, readOnly: Bool) async throws -> any Channel {
        let channel = try await bootstrap(group, server: server, readOnly: readOnly, secure: true)
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        guard chmod(path, mode) == 0 else {
            try? await channel.close()
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EPERM)
        }
        return channel
    }

    /// Listens on TCP (no TLS, no authentication: for loopback and tests).
    public static func bindTCP(host: String, port: Int, group: any EventLoopGroup, server: RemoteServer) async throws -> any Channel {
        try await bootstrap(group, server: server, readOnly: false, secure: false)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port).get()
    }
}
