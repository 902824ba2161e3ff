import Foundation
import DomainXML
import Hypervisor

/// The side file of a running domain (run/qemu/NAME/status.json), next to the live XML.
struct DomainStatus: Codable, Sendable, Equatable {
    var id: Int32
    /// QEMU's pid (from its -pidfile); 0 until known.
    var pid: Int32
    var state: Int32
    var reason: Int32
    var startTime: Double
    var emulator: String
    /// pty paths of `devices.serials`, index-aligned; nil for non-pty serials.
    var serialPTYs: [String?]
    /// pty paths of `devices.consoles`, index-aligned.
    var consolePTYs: [String?]
    /// The host's boot id at start: after a host reboot the recorded pids name other processes.
    var bootID: String?

    var domainState: DomainStateReason {
        DomainStateReason(DomainState(rawValue: state) ?? .noState, reason)
    }
}

/// How a domain last stopped (lib/qemu/NAME.json), so any later process reports the same reason.
struct ShutoffRecord: Codable, Sendable {
    var state: Int32
    var reason: Int32
}

/// One domain as found on disk: its persistent config and/or its running instance.
struct DomainEntry: Sendable {
    var name: String
    var uuid: UUID
    var config: Domain?
    var live: Domain?
    var status: DomainStatus?

    var isActive: Bool { status != nil && live != nil }
    var isPersistent: Bool { config != nil }
    var ref: DomainRef { DomainRef(name: name, uuid: uuid, id: isActive ? status?.id ?? -1 : -1) }
    /// The definition in effect: the live one while running.
    var current: Domain? { isActive ? live : config }
}

/// libvirt's virDomainEvent*DetailType numbers used here.
enum EventDetail {
    static let definedAdded: Int32 = 0, definedUpdated: Int32 = 1
    static let undefinedRemoved: Int32 = 0
    static let startedBooted: Int32 = 0
    static let suspendedPaused: Int32 = 0
    static let resumedUnpaused: Int32 = 0
    static let stoppedShutdown: Int32 = 0, stoppedDestroyed: Int32 = 1, stoppedCrashed: Int32 = 2, stoppedFailed: Int32 = 5
    static let shutdownFinished: Int32 = 0
}

extension VirError {
    static func internalError(_ message: String) -> VirError {
        VirError(.internalError, "internal error: \(message)", domain: .qemu)
    }
    static func operationFailed(_ message: String) -> VirError {
        VirError(.operationFailed, "operation failed: \(message)", domain: .qemu)
    }
    static func operationInvalid(_ message: String) -> VirError {
        VirError(.operationInvalid, "Requested operation is not valid: \(message)", domain: .qemu)
    }
    static func unsupported(_ message: String) -> VirError {
        VirError(.configUnsupported, "unsupported configuration: \(message)", domain: .qemu)
    }
    static func xml(_ error: DomainXMLError) -> VirError {
        VirError(.xmlError, error.message, domain: .domain)
    }
}

/// Maps QMP's run state (query-status) to libvirt's state and reason.
func stateFromQMP(_ status: String, previous: DomainStateReason) -> DomainStateReason {
    switch status {
    case "running":
        return previous.state == .running ? previous : DomainStateReason(.running, DomainStateReason.runningUnpaused)
    case "paused", "prelaunch", "debug":
        return previous.state == .paused ? previous : DomainStateReason(.paused, DomainStateReason.pausedUser)
    case "io-error": return DomainStateReason(.paused, 5)
    case "watchdog": return DomainStateReason(.paused, 6)
    case "inmigrate", "postmigrate", "finish-migrate": return DomainStateReason(.paused, 2)
    case "save-vm": return DomainStateReason(.paused, 3)
    case "restore-vm": return DomainStateReason(.paused, 0)
    case "shutdown": return DomainStateReason(.shutdown, DomainStateReason.shutdownUser)
    case "guest-panicked": return DomainStateReason(.crashed, 1)
    case "suspended": return DomainStateReason(.pmSuspended, 0)
    default: return DomainStateReason(.paused, 0)
    }
}
