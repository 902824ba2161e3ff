import Foundation
import Hypervisor
import NIOCore
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

// How the client reaches a daemon: a UNIX socket, TCP, or a command (ssh) whose stdin and
// stdout carry the protocol, as libvirt's remote driver does for unix://, tcp:// and ssh://.

public enum RemoteTransport: Sendable, Equatable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int)
    /// A program whose stdin/stdout are the connection (argv[0] is looked up in PATH).
    case command([String])

    public var description: String {
        switch self {
        case .unix(let path): "unix socket \(path)"
        case .tcp(let host, let port): "tcp \(host):\(port)"
        case .command(let argv): argv.joined(separator: " ")
        }
    }
}

/// An open byte pipe to the daemon with the RPC codec installed, plus what to do when it closes.
struct ConnectedTransport: Sendable {
    let channel: any Channel
    /// Releases what the transport owns besides the channel (reaps the ssh child).
    let cleanup: @Sendable () async -> Void
}

enum TransportConnector {
    /// Connects and installs the codec and `handler` on the new channel.
    /// `diagnosticsReady` gets the transport's diagnostics before the channel exists, since the
    /// channel may close (and want them) at once.
    static func connect(_ transport: RemoteTransport, group: any EventLoopGroup,
                        diagnosticsReady: (@escaping @Sendable () -> String) -> Void = { _ in },
                        handler: @escaping @Sendable () -> any ChannelHandler) async throws -> ConnectedTransport {
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Void> = { channel in
            channel.eventLoop.makeCompletedFuture {
                let sync = channel.pipeline.syncOperations
                try sync.addHandler(ByteToMessageHandler(RPCMessageDecoder()))
                try sync.addHandler(MessageToByteHandler(RPCMessageEncoder()))
                try sync.addHandler(handler())
            }
        }
        switch transport {
        case .unix(let path):
            do {
                let channel = try await ClientBootstrap(group: group).channelInitializer(initializer)
                    .connect(unixDomainSocketPath: path).get()
                return ConnectedTransport(channel: channel, cleanup: {})
            } catch {
                throw VirError(.systemError, "Failed to connect socket to '\(path)': \(errnoText(error))", domain: .rpc)
            }
        case .tcp(let host, let port):
            do {
                let channel = try await ClientBootstrap(group: group).channelInitializer(initializer)
                    .connectTimeout(.seconds(30))
                    .connect(host: host, port: port).get()
                return ConnectedTransport(channel: channel, cleanup: {})
            } catch {
                throw VirError(.systemError, "unable to connect to server at '\(host):\(port)': \(errnoText(error))", domain: .rpc)
            }
        case .command(let argv):
            return try await spawn(argv, group: group, diagnosticsReady: diagnosticsReady, initializer: initializer)
        }
    }

    /// Runs `argv` with its stdin/stdout as the connection; stderr is kept for error messages.
    private static func spawn(_ argv: [String], group: any EventLoopGroup,
                              diagnosticsReady: (@escaping @Sendable () -> String) -> Void,
                              initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>) async throws -> ConnectedTransport {
        guard let program = argv.first else { throw VirError(.invalidArg, "invalid argument: empty transport command", domain: .remote) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = argv
        let toChild = Pipe(), fromChild = Pipe(), errors = Pipe()
        process.standardInput = toChild
        process.standardOutput = fromChild
        process.standardError = errors
        let stderrText = CapturedText()
        let stderrDone = DispatchSemaphore(value: 0)
        let stderrHandle = errors.fileHandleForReading
        // A thread of its own: the child's last words may come after its stdout closed.
        Thread.detachNewThread {
            while true {
                let d = stderrHandle.availableData
                if d.isEmpty { break }
                stderrText.append(d)
            }
            stderrDone.signal()
        }
        do {
            try process.run()
        } catch {
            throw VirError(.systemError, "Cannot run '\(program)': \(error.localizedDescription)", domain: .rpc)
        }
        // NIO owns duplicates; the originals (and the child's ends) are closed here.
        let input = dup(fromChild.fileHandleForReading.fileDescriptor)
        let output = dup(toChild.fileHandleForWriting.fileDescriptor)
        try? fromChild.fileHandleForReading.close()
        try? toChild.fileHandleForWriting.close()
        try? fromChild.fileHandleForWriting.close()
        try? toChild.fileHandleForReading.close()
        let reap: @Sendable () async -> Void = {
            if process.isRunning { process.terminate() }
            // Reaping blocks; keep it off the cooperative pool.
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async { process.waitUntilExit(); c.resume() }
            }
        }
        guard input >= 0, output >= 0 else {
            if input >= 0 { close(input) }
            if output >= 0 { close(output) }
            await reap()
            throw VirError(.systemError, "Cannot duplicate pipe descriptors: \(String(cString: strerror(errno)))", domain: .rpc)
        }
        let diagnostics: @Sendable () -> String = {
            // The child usually exits with its stdout; give its stderr a moment to drain.
            if stderrDone.wait(timeout: .now() + 1) == .success { stderrDone.signal() }
            return stderrText.text
        }
        diagnosticsReady(diagnostics)
        do {
            let channel = try await NIOPipeBootstrap(group: group).channelInitializer(initializer)
                .takingOwnershipOfDescriptors(input: input, output: output).get()
            return ConnectedTransport(channel: channel, cleanup: reap)
        } catch {
            await reap()
            throw VirError(.systemError, "Cannot use pipes to '\(program)': \(errnoText(error))", domain: .rpc)
        }
    }

    /// strerror-like text for a NIO connect failure.
    static func errnoText(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        if let c = error as? NIOConnectionError, let io = c.connectionErrors.first?.error as? IOError {
            return String(cString: strerror(io.errnoCode))
        }
        if let c = error as? NIOConnectionError, let first = c.connectionErrors.first { return "\(first.error)" }
        return "\(error)"
    }
}

/// Text collected from a readability handler.
final class CapturedText: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ d: Data) { lock.withLock { if data.count < 65_536 { data.append(d) } } }
    var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
}
