import Foundation
import Hypervisor
import QEMUDriver
import TestDriver

/// Which driver serves which local URI. Remote URIs are refused earlier by Connection.open.
enum Drivers {
    static func registerAll(_ registry: DriverRegistry = .shared) {
        registry.register(driver: "test") { uri in
            guard uri.path == "/default" else {
                throw VirError(.noConnect, "the test driver only serves test:///default, not \(uri.string)", domain: .test)
            }
            return TestDriver.shared
        }
        registry.register(driver: "qemu") { uri in
            switch uri.path {
            case "/embed":
                guard let root = uri[param: "root"], !root.isEmpty else {
                    throw VirError(.invalidArg, "invalid argument: \(uri.string) needs a root=DIR parameter", domain: .qemu)
                }
                return try await openEmbeddedQEMU(root: root)
            case "/system", "/session":
                throw VirError.requiresDaemon(uri.string)
            default:
                throw VirError(.noConnect, "unexpected QEMU URI path '\(uri.path)', try qemu:///system or qemu:///embed?root=DIR", domain: .qemu)
            }
        }
    }

    static func openEmbeddedQEMU(root: String) async throws -> any HypervisorDriver {
        try QEMUDriver.open(root: root)
    }
}
