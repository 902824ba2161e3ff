import Foundation
import Hypervisor

// Probing what an emulator binary supports: one QEMU run speaking QMP on stdio
// (like libvirt's capabilities probe), cached as JSON keyed by the binary's identity.

extension QEMUCapabilities {
    /// Probes `emulator`, or returns the cached answer if the binary is unchanged
    /// (same path, size, mtime and inode) since it was cached in `cacheDir`.
    public static func probe(emulator: String, cacheDir: String) throws -> QEMUCapabilities {
        let identity = try BinaryIdentity(path: emulator)
        let cacheFile = URL(fileURLWithPath: cacheDir)
            .appendingPathComponent("qemu-caps" + emulator.replacingOccurrences(of: "/", with: "_") + ".json")
        if let data = try? Data(contentsOf: cacheFile),
           let entry = try? JSONDecoder().decode(CacheEntry.self, from: data), entry.binary == identity {
            return entry.capabilities
        }
        let caps = try probeUncached(emulator: emulator)
        // A cache that cannot be written only costs a re-probe next time.
        try? FileManager.default.createDirectory(atPath: cacheDir, withIntermediateDirectories: true)
        if let data = try? JSONEncoder().encode(CacheEntry(binary: identity, capabilities: caps)) {
            try? data.write(to: cacheFile, options: .atomic)
        }
        return caps
    }

    /// Runs `emulator -machine none ... -qmp stdio` once and asks it about itself.
    public static func probeUncached(emulator: String, timeout: Duration = .seconds(30)) throws -> QEMUCapabilities {
        _ = try BinaryIdentity(path: emulator)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: emulator)
        process.arguments = ["-machine", "none,accel=tcg", "-nodefaults", "-display", "none", "-no-user-config", "-qmp", "stdio"]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do { try process.run() } catch {
            throw VirError(.systemError, "Cannot run QEMU binary \(emulator): \(error.localizedDescription)", domain: .qemu)
        }
        let watchdog = Watchdog(pid: process.processIdentifier, after: timeout)
        let commands = [
            #"{"execute":"qmp_capabilities","id":"caps"}"#,
            #"{"execute":"query-version","id":"version"}"#,
            #"{"execute":"query-machines","id":"machines"}"#,
            #"{"execute":"qom-list-types","arguments":{"implements":"device","abstract":false},"id":"devices"}"#,
            #"{"execute":"query-cpu-definitions","id":"cpus"}"#,
            #"{"execute":"quit","id":"quit"}"#,
        ]
        input.fileHandleForWriting.write(Data((commands.joined(separator: "\n") + "\n").utf8))
        try? input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let stderrText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        // Cancel before reaping, so the watchdog can never signal a reused pid.
        watchdog.cancel()
        process.waitUntilExit()

        var replies: [String: Any] = [:]
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let id = object["id"] as? String else { continue }
            if let error = object["error"] as? [String: Any] {
                throw VirError(.internalError, "QEMU binary \(emulator) failed '\(id)' while probing: \(error["desc"] as? String ?? "unknown error")", domain: .qemu)
            }
            replies[id] = object["return"]
        }
        guard let version = replies["version"] as? [String: Any], let qemu = version["qemu"] as? [String: Any],
              let major = qemu["major"] as? Int, let minor = qemu["minor"] as? Int, let micro = qemu["micro"] as? Int,
              let machineList = replies["machines"] as? [[String: Any]], let deviceList = replies["devices"] as? [[String: Any]] else {
            let why = stderrText.trimmingCharacters(in: .whitespacesAndNewlines)
            throw VirError(.internalError, "QEMU binary \(emulator) did not answer the capabilities probe" + (why.isEmpty ? "" : ": \(why)"), domain: .qemu)
        }
        var machines: [String] = []
        var defaultMachine: String?
        for machine in machineList {
            guard let name = machine["name"] as? String, name != "none" else { continue }
            machines.append(name)
            if let alias = machine["alias"] as? String { machines.append(alias) }
            if machine["is-default"] as? Bool == true { defaultMachine = name }
        }
        let devices = deviceList.compactMap { $0["name"] as? String }
        var caps = QEMUCapabilities(version: [major, minor, micro], machines: machines.sorted(), defaultMachine: defaultMachine,
                                    devices: devices.sorted())
        caps.cpuModels = ((replies["cpus"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }.sorted()
        return caps
    }
}

/// What identifies a binary for the cache: a replaced or upgraded QEMU changes one of these.
struct BinaryIdentity: Codable, Equatable {
    var path: String
    var size: Int64
    var mtimeSeconds: Int
    var mtimeNanoseconds: Int
    var inode: UInt64

    init(path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw VirError(.systemError, "Cannot find QEMU binary \(path): \(String(cString: strerror(errno)))", domain: .qemu)
        }
        guard access(path, X_OK) == 0 else {
            throw VirError(.systemError, "QEMU binary \(path) is not executable: \(String(cString: strerror(errno)))", domain: .qemu)
        }
        self.path = path
        size = Int64(st.st_size)
        mtimeSeconds = Int(st.st_mtim.tv_sec)
        mtimeNanoseconds = Int(st.st_mtim.tv_nsec)
        inode = UInt64(st.st_ino)
    }
}

private struct CacheEntry: Codable {
    var binary: BinaryIdentity
    var capabilities: QEMUCapabilities
}

/// Kills a probe process that hangs; cancelled once the process is reaped.
private final class Watchdog: @unchecked Sendable {
    private let lock = NSLock()
    private var active = true

    init(pid: Int32, after timeout: Duration) {
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { [self] in
            lock.lock(); defer { lock.unlock() }
            if active { kill(pid, SIGKILL) }
        }
    }

    func cancel() {
        lock.lock(); active = false; lock.unlock()
    }
}
