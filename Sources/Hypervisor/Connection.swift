import Foundation
import DomainXML

/// Makes a driver for a parsed URI. Registered per URI driver name (`qemu`, `test`) by the
/// executables, so that Hypervisor never depends on a concrete driver.
public typealias DriverFactory = @Sendable (ConnectionURI) async throws -> any HypervisorDriver

/// Which driver serves which URI scheme, like libvirt's virConnectOpen driver table.
public final class DriverRegistry: @unchecked Sendable {
    public static let shared = DriverRegistry()

    // NSLock rather than Mutex: Mutex needs macOS 15, the package targets 14.
    private let lock = NSLock()
    private var factories: [String: DriverFactory] = [:]
    private var remoteFactory: RemoteDriverFactory?
    private var remoteServesLocal: @Sendable (ConnectionURI) -> Bool = { _ in false }

    public init() {}

    /// Registers (or replaces) the factory for URIs whose driver part is `driver`.
    public func register(driver: String, _ factory: @escaping DriverFactory) {
        lock.withLock { factories[driver.lowercased()] = factory }
    }

    public func factory(for driver: String) -> DriverFactory? {
        lock.withLock { factories[driver.lowercased()] }
    }

    /// Registers the client of the daemon, for URIs with a transport or a host (libvirt's
    /// remote driver) and for the local URIs `servesLocal` accepts (qemu:///system). It is
    /// told about read-only, which the daemon must hear too.
    public func registerRemote(servesLocal: @escaping @Sendable (ConnectionURI) -> Bool = { _ in false },
                               _ factory: @escaping RemoteDriverFactory) {
        lock.withLock { remoteFactory = factory; remoteServesLocal = servesLocal }
    }

    /// The remote factory, if it serves `uri`.
    public func remote(for uri: ConnectionURI) -> RemoteDriverFactory? {
        lock.withLock { uri.isRemote || remoteServesLocal(uri) ? remoteFactory : nil }
    }
}

/// Makes a driver for a URI served by a daemon; the Bool is the read-only flag.
public typealias RemoteDriverFactory = @Sendable (ConnectionURI, Bool) async throws -> any HypervisorDriver

public enum Connection {
    /// Opens a connection: parses the URI, sends remote ones (transport or host) to the remote
    /// factory (refused when none is registered), asks the registered factory for the others,
    /// and wraps the driver so that a read-only connection cannot change anything.
    public static func open(uri text: String, readOnly: Bool = false,
                            registry: DriverRegistry = .shared) async throws -> any HypervisorDriver {
        let uri = try ConnectionURI(parsing: text)
        if let remote = registry.remote(for: uri) {
            // The local wrapper still refuses changes before they reach the wire, as libvirt's
            // public API does on a read-only connection.
            let driver = try await remote(uri, readOnly)
            return readOnly ? ReadOnlyDriver(driver) : driver
        }
        if uri.isRemote { throw VirError.requiresDaemon(text) }
        guard let factory = registry.factory(for: uri.driver) else {
            throw VirError(.noConnect, "no connection driver available for \(text)")
        }
        let driver = try await factory(uri)
        return readOnly ? ReadOnlyDriver(driver) : driver
    }
}

extension VirError {
    /// For URIs that only the daemon will serve (qemu:///system, qemu:///session, remote transports).
    public static func requiresDaemon(_ uri: String) -> VirError {
        VirError(.noConnect, "\(uri) requires corrald (not available yet); use qemu:///embed?root=DIR or test:///default",
                 domain: .remote)
    }

    /// libvirt's refusal on a read-only connection.
    public static func readOnly(_ api: String) -> VirError {
        VirError(.operationDenied, "operation forbidden: read only access prevents \(api)")
    }
}

extension VirError {
    /// A domain XML parse or validation failure. DomainXML's messages already carry libvirt's
    /// prefix ("XML error: ...", "unsupported configuration: ..."); the code follows it.
    public static func xml(_ error: DomainXMLError) -> VirError {
        let m = error.message
        if m.hasPrefix("unsupported configuration") { return VirError(.configUnsupported, m, domain: .domain) }
        return VirError(.xmlError, m.hasPrefix("XML error") ? m : "XML error: \(m)", domain: .domain)
    }
}
