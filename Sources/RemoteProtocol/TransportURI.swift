import Foundation
import Hypervisor
#if canImport(Glibc)
import Glibc
#endif

// From a connection URI to a transport, as libvirt's remote driver reads them:
// qemu:///system and qemu:///session (local daemons), qemu+unix:///system?socket=PATH,
// qemu+tcp://HOST[:PORT]/system, qemu+ssh://[user@]host[:port]/system, qemu+ext:///system?command=X.

/// Where corrald listens when started without --root (as its Layout; keep them in step).
public enum DaemonSockets {
    public static let system = "/run/corral/libvirt-sock"
    public static let systemReadOnly = "/run/corral/libvirt-sock-ro"

    /// The session daemon's socket: $XDG_RUNTIME_DIR/corral/libvirt-sock (~/.cache without it).
    public static func session(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let home = environment["HOME"] ?? NSHomeDirectory()
        let runtime = environment["XDG_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.cache"
        return "\(runtime)/corral/libvirt-sock"
    }

    /// The same path for a remote shell to expand (ssh to a session daemon).
    static let sessionShellWord = "\"${XDG_RUNTIME_DIR:-$HOME/.cache}/corral/libvirt-sock\""

    /// libvirtd's default TCP port.
    public static let tcpPort = 16509
}

/// A resolved remote URI: how to get there and what to ask for.
public struct RemoteEndpoint: Sendable, Equatable {
    public var transport: RemoteTransport
    /// The URI sent in CONNECT_OPEN (transport, host and client-only parameters removed).
    public var name: String
    /// The local session daemon may be started when its socket is not there.
    public var mayAutostartSession: Bool

    /// Query parameters the client consumes (libvirt's list); others go to the server.
    static let clientParams: Set<String> = ["name", "command", "socket", "netcat", "keyfile", "no_verify", "no_tty",
                                            "pkipath", "known_hosts", "sshauth", "mode", "proxy", "tls_priority"]

    public init(transport: RemoteTransport, name: String, mayAutostartSession: Bool) {
        self.transport = transport; self.name = name; self.mayAutostartSession = mayAutostartSession
    }

    public init(uri: ConnectionURI, readOnly: Bool,
                environment: [String: String] = ProcessInfo.processInfo.environment) throws(VirError) {
        let serverParams = uri.params.filter { !Self.clientParams.contains($0.name) }
        let query = serverParams.isEmpty ? "" : "?" + serverParams.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
        name = uri[param: "name"] ?? "\(uri.driver)://\(uri.path)\(query)"
        mayAutostartSession = false

        let isSystem = uri.path == "/system", isSession = uri.path == "/session"
        func localSocket() throws(VirError) -> String {
            if let s = uri[param: "socket"], !s.isEmpty { return s }
            if isSystem { return readOnly ? DaemonSockets.systemReadOnly : DaemonSockets.system }
            if isSession { return DaemonSockets.session(environment: environment) }
            throw VirError(.invalidArg, "invalid argument: no default socket for \(uri.string); add ?socket=PATH", domain: .remote)
        }

        switch uri.transport {
        case nil where uri.host == nil, "unix":
            if let host = uri.host, !host.isEmpty {
                throw VirError(.invalidArg, "invalid argument: transport 'unix' does not take a host: \(uri.string)", domain: .remote)
            }
            transport = .unix(path: try localSocket())
            mayAutostartSession = isSession && uri[param: "socket"] == nil
        case "tcp":
            transport = .tcp(host: uri.host ?? "localhost", port: uri.port ?? DaemonSockets.tcpPort)
        case "ssh":
            guard let host = uri.host, !host.isEmpty else {
                throw VirError(.invalidArg, "invalid argument: ssh transport needs a host: \(uri.string)", domain: .remote)
            }
            let remoteSocket: String
            if let s = uri[param: "socket"], !s.isEmpty {
                remoteSocket = Self.shellQuote(s)
            } else if isSystem {
                remoteSocket = readOnly ? DaemonSockets.systemReadOnly : DaemonSockets.system
            } else if isSession {
                remoteSocket = DaemonSockets.sessionShellWord
            } else {
                throw VirError(.invalidArg, "invalid argument: no default socket for \(uri.string); add ?socket=PATH", domain: .remote)
            }
            transport = .command(Self.sshCommand(uri: uri, host: host, remoteSocket: remoteSocket))
        case "ext":
            guard let command = uri[param: "command"], !command.isEmpty else {
                throw VirError(.invalidArg, "invalid argument: transport 'ext' needs a command=PROGRAM parameter", domain: .remote)
            }
            transport = .command([command])
        case let t:
            throw VirError(.noSupport, "this function is not supported by the connection driver: transport '\(t ?? "tls")' (Corral's client speaks unix, tcp, ssh and ext)",
                           domain: .remote)
        }
    }

    /// `ssh [-p port] [-i keyfile] [-o ...] -T -e none -- [user@]host nc -U SOCKET`, as libvirt
    /// builds it (libvirt runs `nc` through `sh -c` when virt-ssh-helper is absent).
    static func sshCommand(uri: ConnectionURI, host: String, remoteSocket: String) -> [String] {
        var argv = [uri[param: "command"].flatMap { $0.isEmpty ? nil : $0 } ?? "ssh"]
        if let port = uri.port { argv += ["-p", String(port)] }
        if let key = uri[param: "keyfile"], !key.isEmpty { argv += ["-i", key] }
        if uri[param: "no_verify"] == "1" { argv += ["-o", "StrictHostKeyChecking=no"] }
        if uri[param: "no_tty"] == "1" { argv += ["-o", "BatchMode=yes"] }
        argv += ["-T", "-e", "none", "--", uri.user.map { "\($0)@\(host)" } ?? host]
        argv += [uri[param: "netcat"].flatMap { $0.isEmpty ? nil : $0 } ?? "nc", "-U", remoteSocket]
        return argv
    }

    /// One word for a POSIX shell.
    static func shellQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}

extension RemoteDriver {
    /// Opens a remote URI. For qemu:///session without a running daemon, starts `sessionDaemon`
    /// (corrald) in the background and waits for its socket, as libvirt autostarts its session
    /// daemon; as root corrald would serve the system paths instead, so no autostart then.
    public static func open(uri: ConnectionURI, readOnly: Bool, sessionDaemon: String?) async throws -> RemoteDriver {
        let endpoint = try RemoteEndpoint(uri: uri, readOnly: readOnly)
        let connect = { try await RemoteDriver.connect(endpoint.transport, name: endpoint.name, readOnly: readOnly, openedURI: uri.string) }
        do {
            return try await connect()
        } catch let e as VirError where endpoint.mayAutostartSession && e.code == .systemError && e.message.hasPrefix("Failed to connect socket") {
            guard let daemon = sessionDaemon, geteuid() != 0 else { throw e }
            guard case .unix(let path) = endpoint.transport else { throw e }
            try spawnDetached(daemon, log: URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("corrald.log").path)
            let clock = ContinuousClock(), deadline = clock.now + .seconds(20)
            while true {
                try await Task.sleep(for: .milliseconds(100))
                do {
                    return try await connect()
                } catch let again as VirError where again.message.hasPrefix("Failed to connect socket") && clock.now < deadline {
                    continue
                }
            }
        }
    }

    /// Starts `path` in a session of its own (a Ctrl-C in the client's terminal must not stop
    /// it), stdin from /dev/null, output to `log`; it is not waited for.
    static func spawnDetached(_ path: String, log: String) throws(VirError) {
        try? FileManager.default.createDirectory(atPath: (log as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        var actions = posix_spawn_file_actions_t()
        var attr = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attr)
        defer { posix_spawn_file_actions_destroy(&actions); posix_spawnattr_destroy(&attr) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of the client's may stay open in the daemon: a caller waiting for EOF
        // on the client's output pipe would otherwise wait for the daemon to exit.
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap { Int32($0) } ?? []
        for fd in open where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
        // POSIX_SPAWN_SETSID (glibc only declares it under _GNU_SOURCE).
        posix_spawnattr_setflags(&attr, 0x80)
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), nil]
        defer { for p in argv { free(p) } }
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, environ)
        guard rc == 0 else {
            throw VirError(.systemError, "Failed to start the session daemon '\(path)': \(String(cString: strerror(rc)))", domain: .remote)
        }
    }
}
