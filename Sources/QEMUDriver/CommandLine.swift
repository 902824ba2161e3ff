import DomainXML

// Contract for the QEMU argv builder and capabilities probe (implementation to land here).

/// Where a running domain's files live; the argv builder only formats these paths.
public struct QEMULaunchContext: Sendable {
    /// Per-domain private directory (monitor socket, pid file), like libvirt's /run/libvirt/qemu/NAME.
    public var domainDir: String
    /// Directory for logs (QEMU's stderr log, serial console logs).
    public var logDir: String
    /// "tcg" or "kvm": decided by the driver after probing KVM.
    public var accel: String
    public init(domainDir: String, logDir: String, accel: String) {
        self.domainDir = domainDir; self.logDir = logDir; self.accel = accel
    }
    public var qmpSocket: String { "\(domainDir)/monitor.sock" }
    public var pidFile: String { "\(domainDir)/qemu.pid" }
    /// Serial console log of serial device `index` (libvirt's `<log file=.../>`).
    public func serialLogPath(domainName: String, index: Int) -> String {
        "\(logDir)/\(domainName)-serial\(index).log"
    }
}

/// What an emulator binary supports, probed once and cached keyed by the binary's identity.
public struct QEMUCapabilities: Sendable, Codable, Equatable {
    public var version: [Int]          // [major, minor, micro]
    public var machines: [String]
    public var defaultMachine: String?
    public var devices: [String]
    public init(version: [Int], machines: [String], defaultMachine: String?, devices: [String]) {
        self.version = version; self.machines = machines; self.defaultMachine = defaultMachine; self.devices = devices
    }
}

public enum QEMUCommandLine {
    /// The full argv (argv[0] is the emulator) that starts `domain` paused (-S) with a QMP monitor.
    public static func build(_ domain: Domain, context: QEMULaunchContext, caps: QEMUCapabilities) throws -> [String] {
        throw DomainXMLError("QEMU command line builder not implemented yet")
    }
}
