import Foundation
import Hypervisor
import QEMUDriver
import RemoteProtocol
import TestDriver

/// Which driver serves which URI: test and embedded QEMU in process, everything a daemon
/// serves (qemu:///system, qemu:///session, qemu+unix/tcp/ssh/ext) through the remote client.
enum Drivers {
    static func registerAll(_ registry: DriverRegistry = .shared) {
        registry.registerRemote(servesLocal: { $0.driver == "qemu" && ($0.path == "/system" || $0.path == "/session") }) { uri, readOnly in
            try await RemoteDriver.open(uri: uri, readOnly: readOnly, sessionDaemon: sessionDaemon)
        }
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
            default:
                throw VirError(.noConnect, "unexpected QEMU URI path '\(uri.path)', try qemu:///system or qemu:///embed?root=DIR", domain: .qemu)
            }
        }
    }

    /// corrald next to this executable, started for qemu:///session when no daemon runs.
    static var sessionDaemon: String? {
        guard let dir = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent() else { return nil }
        let path = dir.appendingPathComponent("corrald").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    static func openEmbeddedQEMU(root: String) async throws -> any HypervisorDriver {
        try QEMUDriver.open(root: root)
    }
}
