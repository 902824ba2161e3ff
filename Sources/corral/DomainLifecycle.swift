import ArgumentParser
import Foundation
import Hypervisor

// define, undefine, create, start, shutdown, destroy, reboot, reset, suspend, resume, autostart.

/// Runs a driver call; on failure reports virsh's "Failed to ..." line before the driver's error.
@MainActor
func attempt<T>(_ failure: @autoclosure () -> String, _ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let e as CommandFailure { throw e } catch {
        throw CommandFailure(failure(), Shell.describe(error))
    }
}

/// Reads an XML file argument as virsh does (errors name the file).
func readXMLFile(_ path: String) throws -> String {
    do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
        let reason = (error as NSError).localizedFailureReason ?? "No such file or directory"
        throw CommandFailure("Failed to open file '\(path)': \(FileManager.default.fileExists(atPath: path) ? reason : "No such file or directory")")
    }
}

struct Define: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "define", abstract: "define (but don't start) a domain from an XML file")

    @Argument(help: "File containing an XML domain description.") var file: String?
    @Option(name: .customLong("file"), help: .hidden) var fileOption: String?
    @Flag(name: .customLong("validate"), help: "Validate the XML against the schema.") var validateXML = false

    func validate() throws {
        if file == nil && fileOption == nil { throw ValidationError("missing <file> argument") }
    }

    func execute(_ shell: Shell) async throws {
        let path = fileOption ?? file ?? ""
        let xml = try readXMLFile(path)
        let conn = try await shell.connection()
        let dom = try await attempt("Failed to define domain from \(path)") {
            try await conn.defineDomain(xml: xml, validate: validateXML)
        }
        shell.extra("Domain '\(dom.name)' defined from \(path)\n")
    }
}

struct Undefine: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "undefine", abstract: "undefine a domain")

    @OptionGroup var domain: DomainArgument
    @Flag(name: .customLong("managed-save"), help: "Remove domain managed state file.") var managedSave = false
    @Flag(name: .customLong("snapshots-metadata"), help: "Remove all domain snapshot metadata.") var snapshotsMetadata = false
    @Flag(help: "Remove nvram file.") var nvram = false
    @Flag(name: .customLong("keep-nvram"), help: "Keep nvram file.") var keepNvram = false
    @Flag(name: .customLong("remove-all-storage"), help: "Not supported yet.") var removeAllStorage = false

    func validate() throws {
        if nvram && keepNvram { throw ValidationError("Options --nvram and --keep-nvram are mutually exclusive") }
        if removeAllStorage { throw ValidationError("--remove-all-storage is not supported yet") }
    }

    func execute(_ shell: Shell) async throws {
        let dom = try await shell.domain(domain.value)
        // virDomainUndefineFlagsValues
        var flags: UInt32 = 0
        if managedSave { flags |= 1 << 0 }
        if snapshotsMetadata { flags |= 1 << 1 }
        if nvram { flags |= 1 << 2 }
        if keepNvram { flags |= 1 << 3 }
        try await attempt("Failed to undefine domain '\(dom.name)'") {
            try await shell.connection().undefineDomain(dom, flags: flags)
        }
        shell.extra("Domain '\(dom.name)' has been undefined\n")
    }
}

struct Create: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "create a domain from an XML file")

    @Argument(help: "File containing an XML domain description.") var file: String?
    @Option(name: .customLong("file"), help: .hidden) var fileOption: String?
    @Flag(help: "Attach to console after creation.") var console = false
    @Flag(help: "Leave the guest paused after creation.") var paused = false
    @Flag(help: "Automatically destroy the guest when virsh disconnects.") var autodestroy = false
    @Flag(name: .customLong("validate"), help: "Validate the XML against the schema.") var validateXML = false

    func validate() throws {
        if file == nil && fileOption == nil { throw ValidationError("missing <file> argument") }
    }

    func execute(_ shell: Shell) async throws {
        let path = fileOption ?? file ?? ""
        let xml = try readXMLFile(path)
        var flags: DomainCreateFlags = []
        if paused { flags.insert(.paused) }
        if autodestroy { flags.insert(.autodestroy) }
        if validateXML { flags.insert(.validate) }
        let conn = try await shell.connection()
        let dom = try await attempt("Failed to create domain from \(path)") {
            try await conn.createDomain(xml: xml, flags: flags)
        }
        shell.extra("Domain '\(dom.name)' created from \(path)\n")
        if console { try await ConsoleSession.run(shell, dom, devName: nil, force: false) }
    }
}

struct Start: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "start a (previously defined) inactive domain")

    @OptionGroup var domain: DomainArgument
    @Flag(help: "Attach to console after creation.") var console = false
    @Flag(help: "Leave the guest paused after creation.") var paused = false
    @Flag(help: "Automatically destroy the guest when virsh disconnects.") var autodestroy = false
    @Flag(name: .customLong("bypass-cache"), help: "Avoid file system cache when loading.") var bypassCache = false
    @Flag(name: .customLong("force-boot"), help: "Force fresh boot by discarding any managed save.") var forceBoot = false

    func execute(_ shell: Shell) async throws {
        let dom = try await shell.domain(domain.value)
        // virsh's own check and wording; the driver still refuses a racing second start.
        if dom.id != -1 { throw CommandFailure("Domain is already active") }
        var flags: DomainCreateFlags = []
        if paused { flags.insert(.paused) }
        if autodestroy { flags.insert(.autodestroy) }
        if bypassCache { flags.insert(.bypassCache) }
        if forceBoot { flags.insert(.forceBoot) }
        let started = try await attempt("Failed to start domain '\(dom.name)'") {
            try await shell.connection().startDomain(dom, flags: flags)
        }
        shell.extra("Domain '\(started.name)' started\n")
        if console { try await ConsoleSession.run(shell, started, devName: nil, force: false) }
    }
}

/// virDomainShutdownFlagValues / virDomainRebootFlagValues, from --mode.
func shutdownModeFlags(_ mode: String?) throws -> UInt32 {
    guard let mode else { return 0 }
    var flags: UInt32 = 0
    for m in mode.split(separator: ",") {
        switch m {
        case "acpi": flags |= 1 << 0
        case "agent": flags |= 1 << 1
        case "initctl": flags |= 1 << 2
        case "signal": flags |= 1 << 3
        case "paravirt": flags |= 1 << 4
        default: throw CommandFailure("Unknown mode \(m) value, expecting 'acpi', 'agent', 'initctl', 'signal', or 'paravirt'")
        }
    }
    return flags
}

struct Shutdown: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "shutdown", abstract: "gracefully shutdown a domain")
    @OptionGroup var domain: DomainArgument
    @Option(help: "Shutdown mode: acpi|agent|initctl|signal|paravirt.") var mode: String?

    func execute(_ shell: Shell) async throws {
        let flags = try shutdownModeFlags(mode)
        let dom = try await shell.domain(domain.value)
        try await attempt("Failed to shutdown domain '\(dom.name)'") {
            try await shell.connection().shutdownDomain(dom, flags: flags)
        }
        shell.extra("Domain '\(dom.name)' is being shutdown\n")
    }
}

struct Reboot: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "reboot", abstract: "reboot a domain")
    @OptionGroup var domain: DomainArgument
    @Option(help: "Shutdown mode: acpi|agent|initctl|signal|paravirt.") var mode: String?

    func execute(_ shell: Shell) async throws {
        let flags = try shutdownModeFlags(mode)
        let dom = try await shell.domain(domain.value)
        try await attempt("Failed to reboot domain '\(dom.name)'") {
            try await shell.connection().rebootDomain(dom, flags: flags)
        }
        shell.extra("Domain '\(dom.name)' is being rebooted\n")
    }
}

struct Destroy: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "destroy", abstract: "destroy (stop) a domain")
    @OptionGroup var domain: DomainArgument
    @Flag(help: "Terminate gracefully.") var graceful = false

    func execute(_ shell: Shell) async throws {
        let dom = try await shell.domain(domain.value)
        try await attempt("Failed to destroy domain '\(dom.name)'") {
            try await shell.connection().destroyDomain(dom, flags: graceful ? 1 : 0)
        }
        shell.extra("Domain '\(dom.name)' destroyed\n")
    }
}

struct Reset: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "reset", abstract: "reset a domain")
    @OptionGroup var domain: DomainArgument

    func execute(_ shell: Shell) async throws {
        let dom = try await shell.domain(domain.value)
        try await attempt("Failed to reset domain '\(dom.name)'") { try await shell.connection().resetDomain(dom) }
        shell.extra("Domain '\(dom.name)' was reset\n")
    }
}

struct Suspend: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "suspend", abstract: "suspend a domain")
    @OptionGroup var domain: DomainArgument

    func execute(_ shell: Shell) async throws {
        let dom = try await shell.domain(domain.value)
        try await attempt("Failed to suspend domain '\(dom.name)'") { try await shell.connection().suspendDomain(dom) }
        shell.extra("Domain '\(dom.name)' suspended\n")
    }
}

struct Resume: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "resume a domain")
    @OptionGroup var domain: DomainArgument

    func execute(_ shell: Shell) async throws {
        let dom = try await shell.domain(domain.value)
        try await attempt("Failed to resume domain '\(dom.name)'") { try await shell.connection().resumeDomain(dom) }
        shell.extra("Domain '\(dom.name)' resumed\n")
    }
}

struct Autostart: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "autostart", abstract: "autostart a domain")
    @OptionGroup var domain: DomainArgument
    @Flag(help: "Disable autostarting.") var disable = false

    func execute(_ shell: Shell) async throws {
        let dom = try await shell.domain(domain.value)
        let failure = disable ? "Failed to unmark domain '\(dom.name)' as autostarted"
                              : "Failed to mark domain '\(dom.name)' as autostarted"
        try await attempt(failure) { try await shell.connection().setAutostart(dom, !disable) }
        shell.extra(disable ? "Domain '\(dom.name)' unmarked as autostarted\n" : "Domain '\(dom.name)' marked as autostarted\n")
    }
}
