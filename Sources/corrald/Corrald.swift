import ArgumentParser
import Foundation
import Hypervisor
import HostNetworks
import NIOCore
import NIOPosix
import QEMUDriver
import RemoteProtocol
import WebConsole
#if canImport(Glibc)
import Glibc
#endif

/// corrald: serves libvirt's remote protocol for the QEMU driver, so virsh, the libvirt
/// language bindings and `corral -c qemu:///system` can manage Corral's guests.
@main
struct Corrald: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corrald",
        abstract: "The Corral daemon: libvirt's remote protocol over UNIX sockets (and optionally TCP).",
        discussion: """
            With --root DIR all state lives under DIR: domains under DIR/etc, DIR/run, DIR/log (as \
            `corral -c qemu:///embed?root=DIR` uses them), sockets DIR/run/libvirt-sock (read-write, \
            mode 0600) and DIR/run/libvirt-sock-ro (read-only, mode 0666), pid file DIR/run/corrald.pid.
            Without --root, as root: state in /var/lib/corral, sockets and pid file in /run/corral \
            (URI qemu:///system); as a user: state in $XDG_DATA_HOME/corral (~/.local/share/corral), \
            sockets in $XDG_RUNTIME_DIR/corral (URI qemu:///session; no read-only socket, as libvirt).
            Connect with: virsh -c 'qemu+unix:///system?socket=DIR/run/libvirt-sock'
            """)

    @Option(help: "Keep all state and sockets under this directory.")
    var root: String?

    @Option(help: "Also listen on TCP HOST:PORT (no TLS, no authentication). Only loopback addresses unless --listen-any.")
    var listen: String?

    @Flag(help: "Allow --listen on a non-loopback address.")
    var listenAny = false

    @Option(help: ArgumentHelp("Serve the web console and its JSON API (/api/v1) on HOST:PORT, e.g. 127.0.0.1:8080.",
                               discussion: "Only loopback addresses unless --http-token-file is given."))
    var http: String?

    @Option(help: "File holding the access token the web console requires (Authorization: Bearer, cookie corral_token or ?token=).")
    var httpTokenFile: String?

    @Option(help: "Directory with the web console's pages (default: Web/ of the source tree, else /usr/share/corral/web).")
    var webDir: String?

    @Flag(help: "Do not start autostart domains, networks and storage pools.")
    var noAutostart = false

    @Option(help: ArgumentHelp("How virtual networks reach the host: system (Linux bridges, dnsmasq, nftables; needs root) or session (QEMU user-mode networking).",
                               discussion: "Default: system when running as root without --root, else session."))
    var networkMode: NetworkModeOption?

    enum NetworkModeOption: String, ExpressibleByArgument { case system, session }

    /// libvirt's split: the privileged system daemon owns host networking; anything else stays in user mode.
    var effectiveNetworkMode: NetworkMode {
        switch networkMode {
        case .system?: return .system
        case .session?: return .session
        case nil: return geteuid() == 0 && root == nil ? .system : .session
        }
    }

    func validate() throws {
        if let listen { _ = try Self.parseListen(listen, allowAny: listenAny) }
        if let http { _ = try Self.parseHTTP(http, hasToken: httpTokenFile != nil) }
        if networkMode == .system && geteuid() != 0 {
            throw ValidationError("--network-mode system needs root (it creates bridges, taps and NAT rules)")
        }
    }

    mutating func run() async throws {
        // Signals first: a SIGTERM during start-up or autostart still shuts down cleanly.
        let signals = Self.terminationSignals()
        let layout = try Layout.make(root: root)
        umask(0o077)
        try FileManager.default.createDirectory(atPath: layout.socketDir, withIntermediateDirectories: true)
        // Other users reach the read-only socket through this directory.
        if layout.readOnlySocket != nil { chmod(layout.socketDir, 0o755) }
        let pidLock = try PidFile.acquire(layout.pidFile)

        let mode = effectiveNetworkMode
        let driver = try QEMUDriver.open(root: layout.stateRoot, networkMode: mode)
        log("network mode: \(mode.rawValue)")
        let metrics = DaemonMetrics()
        var serverConfig = RemoteServerConfig(uri: layout.uri)
        serverConfig.callObserver = { metrics.recordRPC(procedure: $0.procedure, succeeded: $0.succeeded, duration: $0.duration) }
        let server = RemoteServer(driver: driver, config: serverConfig)
        let group = MultiThreadedEventLoopGroup.singleton

        var listeners: [any Channel] = []
        var socketPaths: [String] = []
        do {
            listeners.append(try await RemoteListener.bindUnix(path: layout.socket, mode: 0o600, group: group, server: server, readOnly: false))
            socketPaths.append(layout.socket)
            if let ro = layout.readOnlySocket {
                listeners.append(try await RemoteListener.bindUnix(path: ro, mode: 0o666, group: group, server: server, readOnly: true))
                socketPaths.append(ro)
            }
            if let listen {
                let (host, port) = try Self.parseListen(listen, allowAny: listenAny)
                listeners.append(try await RemoteListener.bindTCP(host: host, port: port, group: group, server: server))
            }
        } catch {
            for l in listeners { try? await l.close() }
            for p in socketPaths { unlink(p) }
            pidLock.release()
            throw error
        }
        for l in listeners { log("listening on \(l.localAddress.map { "\($0)" } ?? "?")") }

        // The default pool and network are defined even with --no-autostart (that flag only skips
        // starting things).
        do {
            if try await driver.defineDefaultPoolIfFirstStart() { log("defined the 'default' storage pool (autostart)") }
        } catch {
            log("cannot define the 'default' storage pool: \(error)")
        }
        if mode == .system {
            do {
                if try await driver.defineDefaultNetworkIfFirstStart() { log("defined the 'default' network (autostart)") }
            } catch {
                log("cannot define the 'default' network: \(error)")
            }
        }
        let autostart = noAutostart ? nil : Task { await Self.autostart(driver) }
        let web: Task<Void, Never>?
        do {
            web = try startWebConsole(driver: driver, layout: layout, metrics: metrics)
        } catch {
            autostart?.cancel()
            for l in listeners { try? await l.close() }
            for p in socketPaths { unlink(p) }
            pidLock.release()
            throw error
        }

        var received = "end of signal stream"
        for await name in signals { received = name; break }
        log("received \(received), shutting down (guests keep running)")
        autostart?.cancel()
        web?.cancel()
        _ = await web?.value
        for l in listeners { try? await l.close() }
        for p in socketPaths { unlink(p) }
        pidLock.release()
    }

    /// Starts the web console when --http was given; connections the user adds there go
    /// through the remote protocol client, as `corral -c URI` does.
    func startWebConsole(driver: QEMUDriver, layout: Layout, metrics: DaemonMetrics) throws -> Task<Void, Never>? {
        guard let http else { return nil }
        let (host, port) = try Self.parseHTTP(http, hasToken: httpTokenFile != nil)
        var token: String?
        if let httpTokenFile {
            guard let data = FileManager.default.contents(atPath: httpTokenFile),
                  let text = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else {
                throw DaemonError("cannot read an access token from '\(httpTokenFile)'")
            }
            token = text
        }
        guard let dir = webDir ?? Self.defaultWebDir() else {
            throw DaemonError("cannot find the web console's pages; pass --web-dir DIR")
        }
        let config = WebConsoleConfig(host: host, port: port, token: token, webDir: dir, stateDir: "\(layout.stateRoot)/lib/web")
        let registry = DriverRegistry()
        registry.registerRemote(servesLocal: { $0.driver == "qemu" && ($0.path == "/system" || $0.path == "/session") }) { uri, readOnly in
            try await RemoteDriver.open(uri: uri, readOnly: readOnly, sessionDaemon: nil)
        }
        let connections = ConnectionRegistry(localURI: layout.uri, local: driver, opener: { uri, readOnly in
            try await Connection.open(uri: uri, readOnly: readOnly, registry: registry)
        }, storeFile: "\(config.stateDir)/connections.json")
        let console = WebConsole(config: config, connections: connections, metrics: metrics)
        return Task {
            do {
                try await console.run { port in log("web console on http://\(host.contains(":") ? "[\(host)]" : host):\(port)/") }
            } catch is CancellationError {
            } catch {
                log("web console stopped: \(error)")
            }
        }
    }

    /// The source tree's Web/ (corrald runs from .build/CONFIG/), else the installed copy.
    static func defaultWebDir() -> String? {
        var candidates: [String] = []
        if let exe = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            var dir = exe.deletingLastPathComponent()
            for _ in 0..<4 {
                candidates.append(dir.appendingPathComponent("Web").path)
                dir = dir.deletingLastPathComponent()
            }
        }
        candidates.append("/usr/share/corral/web")
        return candidates.first { FileManager.default.fileExists(atPath: "\($0)/index.html") }
    }

    static func parseHTTP(_ text: String, hasToken: Bool) throws -> (String, Int) {
        do {
            return try parseListen(text, allowAny: hasToken)
        } catch {
            throw ValidationError("--http expects a loopback HOST:PORT such as 127.0.0.1:8080; other addresses need --http-token-file")
        }
    }

    /// Starts persistent pools, networks, then domains, marked autostart that are not running
    /// (guests need their volumes and networks up).
    static func autostart(_ driver: QEMUDriver) async {
        for (name, error) in await driver.autostartPools().sorted(by: { $0.key < $1.key }) {
            log("autostart: failed to start storage pool '\(name)': \(error)")
        }
        for (name, error) in await driver.autostartNetworks() {
            if let error { log("autostart: failed to start network '\(name)': \(error)") } else { log("autostart: started network '\(name)'") }
        }
        let doms: [DomainRef]
        do {
            doms = try await driver.listAllDomains(flags: [.autostart, .inactive, .persistent])
        } catch {
            log("autostart: cannot list domains: \(error)")
            return
        }
        for dom in doms {
            do {
                _ = try await driver.startDomain(dom, flags: [])
                log("autostart: started domain '\(dom.name)'")
            } catch {
                log("autostart: failed to start domain '\(dom.name)': \(error)")
            }
        }
    }

    static func parseListen(_ text: String, allowAny: Bool) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw ValidationError("--listen expects HOST:PORT, e.g. 127.0.0.1:16509")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let loopback = host == "localhost" || host == "::1" || host.hasPrefix("127.")
        guard loopback || allowAny else {
            throw ValidationError("refusing to listen on non-loopback address '\(host)' without authentication; add --listen-any to do it anyway")
        }
        return (host, port)
    }

    /// SIGTERM and SIGINT, by name, as they arrive.
    static func terminationSignals() -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        var sources: [any DispatchSourceSignal] = []
        for (sig, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler { continuation.yield(name) }
            src.resume()
            sources.append(src)
        }
        SignalSources.keep(sources)
        return stream
    }
}

/// Keeps the signal sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []
    static func keep(_ s: [any DispatchSourceSignal]) { sources = s }
}

/// Where the daemon keeps things.
struct Layout {
    var stateRoot: String
    var socketDir: String
    var socket: String
    var readOnlySocket: String?
    var pidFile: String
    var uri: String

    static func make(root: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Layout {
        let privileged = geteuid() == 0
        let uri = privileged ? "qemu:///system" : "qemu:///session"
        if let root {
            let abs = root.hasPrefix("/") ? root : FileManager.default.currentDirectoryPath + "/" + root
            let dir = abs.count > 1 && abs.hasSuffix("/") ? String(abs.dropLast()) : abs
            return Layout(stateRoot: dir, socketDir: "\(dir)/run", socket: "\(dir)/run/libvirt-sock",
                          readOnlySocket: "\(dir)/run/libvirt-sock-ro", pidFile: "\(dir)/run/corrald.pid", uri: uri)
        }
        if privileged {
            return Layout(stateRoot: "/var/lib/corral", socketDir: "/run/corral", socket: "/run/corral/libvirt-sock",
                          readOnlySocket: "/run/corral/libvirt-sock-ro", pidFile: "/run/corral/corrald.pid", uri: uri)
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        let data = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.local/share"
        let runtime = environment["XDG_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(home)/.cache"
        let run = "\(runtime)/corral"
        return Layout(stateRoot: "\(data)/corral", socketDir: run, socket: "\(run)/libvirt-sock",
                      readOnlySocket: nil, pidFile: "\(run)/corrald.pid", uri: uri)
    }
}

/// The pid file doubles as the single-instance lock: flock is released by the kernel when
/// the process dies, so a stale file never blocks a restart.
struct PidFile {
    let path: String
    let fd: Int32

    static func acquire(_ path: String) throws -> PidFile {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DaemonError("cannot open pid file '\(path)': \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            var buf = [UInt8](repeating: 0, count: 32)
            let n = read(fd, &buf, buf.count)
            close(fd)
            let pid = String(decoding: buf.prefix(max(0, n)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw DaemonError("corrald is already running for this root (pid \(pid.isEmpty ? "?" : pid), lock \(path))")
        }
        ftruncate(fd, 0)
        let text = "\(getpid())\n"
        _ = text.withCString { write(fd, $0, strlen($0)) }
        return PidFile(path: path, fd: fd)
    }

    func release() {
        unlink(path)
        close(fd)
    }
}

/// A start-up failure, printed without the usage text.
struct DaemonError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

func log(_ message: String) {
    FileHandle.standardError.write(Data("corrald: \(message)\n".utf8))
}
