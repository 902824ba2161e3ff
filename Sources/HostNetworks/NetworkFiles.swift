import Foundation
import Hypervisor
#if canImport(Glibc)
import Glibc
#endif

/// The network driver's part of a state root, after libvirt's /etc/libvirt/qemu/networks and
/// /run/libvirt/network:
///
///     etc/network/NAME.xml          persistent config
///     etc/network/autostart/NAME    autostart marker (symlink to the config)
///     run/network/NAME.xml          live XML: present while the network is active
///     run/network/NAME.json         what start set up on the host (to undo it), with the netns it was done in
///     run/network/NAME.conf         dnsmasq configuration; NAME.pid, NAME.leases its pid and lease files
///     run/network/network.lock      one lock for every change, across processes sharing the root
///     lib/network/default-defined   the `default` network was created once (not again after an undefine)
struct NetworkPaths: Sendable {
    let root: String
    var configDir: String { "\(root)/etc/network" }
    var autostartDir: String { "\(configDir)/autostart" }
    var runDir: String { "\(root)/run/network" }
    var libDir: String { "\(root)/lib/network" }
    var lock: String { "\(runDir)/network.lock" }
    var defaultMarker: String { "\(libDir)/default-defined" }
    func config(_ name: String) -> String { "\(configDir)/\(name).xml" }
    func autostart(_ name: String) -> String { "\(autostartDir)/\(name)" }
    func live(_ name: String) -> String { "\(runDir)/\(name).xml" }
    func status(_ name: String) -> String { "\(runDir)/\(name).json" }
    func dnsmasqConf(_ name: String) -> String { "\(runDir)/\(name).conf" }
    func dnsmasqPid(_ name: String) -> String { "\(runDir)/\(name).pid" }
    func leases(_ name: String) -> String { "\(runDir)/\(name).leases" }

    func create() throws {
        for dir in [configDir, autostartDir, runDir, libDir] {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                throw VirError(.systemError, "cannot create directory '\(dir)': \(error.localizedDescription)", domain: .net)
            }
        }
    }

    /// Names of the `.xml` files in `dir`.
    static func names(in dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".xml") }
            .map { String($0.dropLast(4)) }
    }
}

/// File helpers with libvirt-style error messages.
enum Files {
    static func systemError(_ what: String, _ err: Int32 = errno) -> VirError {
        VirError(.systemError, "\(what): \(String(cString: strerror(err)))", domain: .net)
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
    static func read(_ path: String) -> String? { FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } }
    static func remove(_ path: String) { unlink(path) }

    /// Temp file, fsync, rename: readers in other processes never see a half-written file.
    static func writeAtomically(_ text: String, to path: String, mode: mode_t = 0o644) throws {
        let tmp = "\(path).tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw systemError("cannot create '\(tmp)'") }
        let bytes = Array(text.utf8)
        var off = 0
        var failure: Int32 = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; failure = errno; break }
            off += n
        }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        close(fd)
        guard failure == 0 else { unlink(tmp); throw systemError("cannot write '\(tmp)'", failure) }
        guard rename(tmp, path) == 0 else {
            let e = systemError("cannot rename '\(tmp)' to '\(path)'")
            unlink(tmp)
            throw e
        }
    }
}

/// An exclusive flock held until release (or deinit); flock locks belong to the open file, so
/// two holders in one process exclude each other like two processes do.
final class NetworkLock {
    private var fd: Int32
    private init(fd: Int32) { self.fd = fd }

    static func acquire(_ path: String, timeout: Double = 60) async throws -> NetworkLock {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw Files.systemError("cannot open lock file '\(path)'") }
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return NetworkLock(fd: fd) }
            close(fd)
            if Date() > deadline {
                throw VirError(.operationTimeout, "Timed out during operation: cannot acquire the network lock \(path)", domain: .net)
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    func release() { if fd >= 0 { close(fd); fd = -1 } }
    deinit { release() }
}

/// What `start` did on the host, so that `destroy` (maybe in another process) undoes exactly that.
struct NetworkStatus: Codable, Sendable, Equatable {
    var mode: String                  // NetworkMode raw value at start
    var bridge: String?               // created by us (system mode)
    var nftTable: String?             // "ip corral_virbr0"
    var dnsmasq: Bool                 // started by us; its pid is in NAME.pid
    /// /proc/self/ns/net of the process that set things up: host state is only undone from the same namespace.
    var netns: String?
    /// The host's boot id: after a reboot nothing recorded here exists any more.
    var bootID: String?
}

enum HostIdentity {
    static var netns: String? {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net"))
    }
    static var bootID: String? {
        Files.read("/proc/sys/kernel/random/boot_id")?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
