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

    public init() {}

    /// Registers (or replaces) the factory for URIs whose driver part is `driver`.
    public func register(driver: String, _ factory: @escaping DriverFactory) {
        lock.withLock { factories[driver.lowercased()] = factory }
    }

    public func factory(for driver: String) -> DriverFactory? {
        lock.withLock { factories[driver.lowercased()] }
    }
}

public enum Connection {
    /// Opens a connection: parses the URI, refuses what needs the daemon, asks the registered
    /// factory, and wraps the driver so that a read-only connection cannot change anything.
    public static func open(uri text: String, readOnly: Bool = false,
                            registry: DriverRegistry = .shared) async throws -> any HypervisorDriver {
        let uri = try ConnectionURI(parsing: text)
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
