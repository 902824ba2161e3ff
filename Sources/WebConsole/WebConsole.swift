import Foundation
import Hummingbird
import HummingbirdWebSocket
import Hypervisor
import Logging
import NIOCore
import ServiceLifecycle

/// What `corrald --http` was told.
public struct WebConsoleConfig: Sendable {
    /// Address and port to listen on (port 0: any free port, reported to `onRunning`).
    public var host: String
    public var port: Int
    /// When set, every request (API, WebSocket, pages) must carry it: `Authorization: Bearer T`,
    /// the `corral_token` cookie, or `?token=T` (browsers cannot set headers on WebSockets).
    /// corrald refuses a non-loopback address without one.
    public var token: String?
    /// Our pages (the repository's Web/ directory, or where a package installed it).
    public var webDir: String
    /// Debian's browser libraries, served under /vendor/NAME/: novnc, xterm, chart.js.
    public var vendorDirs: [String: String]
    /// Where the console keeps its own state (the saved remote connections).
    public var stateDir: String
    /// osinfo-db's root (Debian: /usr/share/osinfo).
    public var osinfoDir: String
    /// Seconds between the stats messages on the event stream.
    public var statsInterval: Double

    public init(host: String = "127.0.0.1", port: Int = 8080, token: String? = nil, webDir: String,
                vendorDirs: [String: String] = WebConsoleConfig.debianVendorDirs, stateDir: String,
                osinfoDir: String = "/usr/share/osinfo", statsInterval: Double = 2) {
        self.host = host; self.port = port; self.token = token; self.webDir = webDir
        self.vendorDirs = vendorDirs; self.stateDir = stateDir; self.osinfoDir = osinfoDir
        self.statsInterval = statsInterval
    }

    /// Where Debian's novnc, libjs-xterm and libjs-chart.js install their files.
    public static let debianVendorDirs: [String: String] = [
        "novnc": "/usr/share/novnc",
        "xterm": "/usr/share/javascript/xterm",
        // libjs-xterm's xterm.js is a stub that require()s the real one, which node-xterm ships
        // as CommonJS files (the serial console page loads them with Web/js/cjs.js).
        "xterm-lib": "/usr/share/nodejs/xterm/lib",
        // The SPICE console page imports spice-html5's ES modules (main.js).
        "spice-html5": "/usr/share/spice-html5",
        "chart.js": "/usr/share/javascript/chart.js",
    ]
}

/// Opens a connection for a URI the user added (corrald passes the remote driver's opener).
public typealias ConnectionOpener = @Sendable (_ uri: String, _ readOnly: Bool) async throws -> any HypervisorDriver

/// One request's context, for both the HTTP router and the WebSocket router.
public struct WebContext: RequestContext, WebSocketRequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        remoteAddress = source.channel.remoteAddress
    }
}

/// Everything the route files share.
public final class WebState: Sendable {
    public let config: WebConsoleConfig
    public let connections: ConnectionRegistry
    /// The daemon's request counters for /metrics (corrald also feeds it the remote protocol's calls).
    public let metrics: DaemonMetrics

    public init(config: WebConsoleConfig, connections: ConnectionRegistry, metrics: DaemonMetrics = DaemonMetrics()) {
        self.config = config
        self.connections = connections
        self.metrics = metrics
    }
}

/// The web console: builds the routers from the route files and serves them until cancelled.
public struct WebConsole: Sendable {
    public let state: WebState

    public init(config: WebConsoleConfig, connections: ConnectionRegistry, metrics: DaemonMetrics = DaemonMetrics()) {
        state = WebState(config: config, connections: connections, metrics: metrics)
    }

    /// Serves until the calling task is cancelled; `onRunning` gets the bound port.
    public func run(logger: Logger = Logger(label: "corrald.http"), onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let router = Router(context: WebContext.self)
        let wsRouter = Router(context: WebContext.self)
        router.add(middleware: HTTPMetricsMiddleware(metrics: state.metrics))  // first: counts refused requests too
        AccessControl.install(on: router, wsRouter: wsRouter, state: state)
        APIRoutes.register(on: router, state: state)
        WizardRoutes.register(on: router, state: state)
        MetricsRoutes.register(on: router, state: state)
        LiveRoutes.register(on: wsRouter, state: state)
        LiveRoutes.registerHTTP(on: router, state: state)
        StaticRoutes.register(on: router, state: state)
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: wsRouter),
            configuration: .init(address: .hostname(state.config.host, port: state.config.port), serverName: "corrald"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? state.config.port) },
            logger: logger)
        // Cancelling the caller (corrald on SIGTERM) shuts the server down gracefully: open
        // connections are closed by the server instead of torn down mid-request, which also
        // keeps Hummingbird from logging the cancellation as an error. The group runs unstructured
        // so that the caller's cancellation reaches it only as this graceful shutdown.
        var groupConfig = ServiceGroupConfiguration(services: [app], logger: logger)
        groupConfig.maximumGracefulShutdownDuration = .seconds(5)
        let group = ServiceGroup(configuration: groupConfig)
        let serving = Task { try await group.run() }
        try await withTaskCancellationHandler {
            try await serving.value
        } onCancel: {
            Task { await group.triggerGracefulShutdown() }
        }
    }
}
