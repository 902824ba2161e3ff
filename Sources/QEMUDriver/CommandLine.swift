import Foundation
import DomainXML
import HostNetworks

// The QEMU argv builder: turns the domain model into the command line libvirt's
// qemu driver would generate for a current QEMU (JSON -device/-blockdev syntax).

/// Where a running domain's files live; the argv builder only formats these paths.
public struct QEMULaunchContext: Sendable {
    /// Per-domain private directory (monitor socket, pid file), like libvirt's /run/libvirt/qemu/NAME.
    public var domainDir: String
    /// Directory for logs (QEMU's stderr log, serial console logs).
    public var logDir: String
    /// "tcg" or "kvm": decided by the driver after probing KVM.
    public var accel: String
    /// TCP ports the driver allocated for graphics with autoport, keyed by index in `devices.graphics`.
    /// A VNC display with autoport and no allocated port lets QEMU pick a free one (`to=`); read it
    /// back with QMP `query-vnc`. SPICE with autoport needs an allocated port.
    public var graphicsPorts: [Int: Int] = [:]
    /// How each `<interface type='network'|'bridge'>` (by index in `devices.interfaces`) reaches the
    /// host, resolved by the driver before the argv is built: a tap device it created, or user-mode
    /// networking shaped by the network's XML (session mode).
    public var interfaceBackends: [Int: InterfaceBackend] = [:]
    /// When the guest starts: `<clock offset='variable'>` sets the guest clock relative to it.
    public var startTime = Date()
    public init(domainDir: String, logDir: String, accel: String) {
        self.domainDir = domainDir; self.logDir = logDir; self.accel = accel
    }
    public var qmpSocket: String { "\(domainDir)/monitor.sock" }
    public var pidFile: String { "\(domainDir)/qemu.pid" }
    /// Serial console log of serial device `index` (libvirt's `<log file=.../>`).
    public func serialLogPath(domainName: String, index: Int) -> String {
        "\(logDir)/\(domainName)-serial\(index).log"
    }
    /// Log of a virtio console (index in `devices.consoles`).
    public func consoleLogPath(domainName: String, index: Int) -> String {
        "\(logDir)/\(domainName)-console\(index).log"
    }
    /// Socket of a unix channel without a source path (e.g. the guest agent's org.qemu.guest_agent.0).
    public func channelSocketPath(name: String) -> String { "\(domainDir)/\(name).sock" }
    /// Control socket of the swtpm process the driver starts for a TPM emulator.
    public var tpmSocket: String { "\(domainDir)/swtpm.sock" }
}

/// The host side of a guest NIC on a network or bridge.
public enum InterfaceBackend: Sendable, Equatable {
    case tap(String)
    case user(UserNetOptions)
}

/// What an emulator binary supports, probed once and cached keyed by the binary's identity.
public struct QEMUCapabilities: Sendable, Codable, Equatable {
    public var version: [Int]          // [major, minor, micro]
    /// Machine type names and their aliases (pc, q35, pc-i440fx-7.2, ...).
    public var machines: [String]
    public var defaultMachine: String?
    /// Device type names (qom-list-types implements=device); empty means "not probed": nothing is checked.
    public var devices: [String]
    /// CPU model names (query-cpu-definitions); empty means "not probed": nothing is checked.
    public var cpuModels: [String] = []
    public init(version: [Int], machines: [String], defaultMachine: String?, devices: [String]) {
        self.version = version; self.machines = machines; self.defaultMachine = defaultMachine; self.devices = devices
    }
}

public enum QEMUCommandLine {
    /// Used when the domain has no `<emulator>`.
    public static let defaultEmulator = "/usr/bin/qemu-system-x86_64"

    /// The full argv (argv[0] is the emulator) that starts `domain` paused (-S) with a QMP monitor.
    ///
    /// `-no-shutdown` is deliberately not passed: QEMU exits when the guest powers off and the
    /// driver learns how it ended from the exit status. VNC/SPICE passwords are not on the
    /// command line: the display is started with `password=on` (VNC) or without
    /// `disable-ticketing` (SPICE) and the driver must set the password with QMP `set_password`.
    public static func build(_ domain: Domain, context: QEMULaunchContext, caps: QEMUCapabilities) throws -> [String] {
        var builder = try ArgvBuilder(domain: domain, context: context, caps: caps)
        try builder.buildAll()
        return builder.args
    }

    /// Escapes a value for QEMU's `key=value,...` option syntax (a comma is written twice).
    static func optEscape(_ s: String) -> String { s.replacingOccurrences(of: ",", with: ",,") }
}
