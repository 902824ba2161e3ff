import ArgumentParser
import Foundation
import Hypervisor

// uri, version, hostname, capabilities, domcapabilities, nodeinfo.

struct URI: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "uri", abstract: "print the hypervisor canonical URI")
    func execute(_ shell: Shell) async throws {
        shell.print(try await shell.connection().uri() + "\n")
    }
}

struct Hostname: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "hostname", abstract: "print the hypervisor hostname")
    func execute(_ shell: Shell) async throws {
        shell.print(try await shell.connection().hostname() + "\n")
    }
}

struct Version: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "show version")
    @Flag(help: "Include version of the daemon.") var daemon = false

    /// major*1_000_000 + minor*1_000 + micro, printed as virsh does.
    static func dotted(_ v: UInt64) -> String { "\(v / 1_000_000).\((v / 1_000) % 1_000).\(v % 1_000)" }

    func execute(_ shell: Shell) async throws {
        let conn = try await shell.connection()
        let type = try await conn.hypervisorType()
        shell.print("Compiled against library: corral \(CorralVersion.string)\n")
        shell.print("Using library: corral \(CorralVersion.string)\n")
        shell.print("Using API: \(type) \(CorralVersion.string)\n")
        let hv = try await attempt("failed to get the hypervisor version") { try await conn.hypervisorVersion() }
        shell.print("Running hypervisor: \(type) \(Self.dotted(hv))\n")
        if daemon { throw CommandFailure("failed to get the daemon version: no daemon (corrald) in use") }
    }
}

struct Capabilities: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "capabilities", abstract: "capabilities")
    func execute(_ shell: Shell) async throws {
        let xml = try await attempt("failed to get capabilities") { try await shell.connection().capabilitiesXML() }
        shell.print(xml.hasSuffix("\n") ? xml : xml + "\n")
    }
}

struct DomCapabilities: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "domcapabilities", abstract: "domain capabilities")
    @Option(help: "Virtualization type (/domain/@type).") var virttype: String?
    @Option(help: "Path to emulator binary (/domain/devices/emulator).") var emulatorbin: String?
    @Option(help: "Domain architecture (/domain/os/type/@arch).") var arch: String?
    @Option(help: "Machine type (/domain/os/type/@machine).") var machine: String?

    func execute(_ shell: Shell) async throws {
        let xml = try await attempt("failed to get emulator capabilities") {
            try await shell.connection().domainCapabilitiesXML(emulator: emulatorbin, arch: arch, machine: machine, virtType: virttype)
        }
        shell.print(xml.hasSuffix("\n") ? xml : xml + "\n")
    }
}

struct NodeInfo: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "nodeinfo", abstract: "node information")
    @Flag(help: "Machine-readable output (JSON).") var json = false

    static func line(_ label: String, _ value: String) -> String {
        label.padding(toLength: max(20, label.count), withPad: " ", startingAt: 0) + " " + value + "\n"
    }

    func execute(_ shell: Shell) async throws {
        let info = try await attempt("failed to get node information") { try await shell.connection().nodeInfo() }
        if json {
            shell.print(JSONOutput.encode([
                "model": info.model, "cpus": Int(info.cpus), "mhz": Int(info.mhz), "sockets": Int(info.sockets),
                "cores": Int(info.cores), "threads": Int(info.threads), "nodes": Int(info.nodes),
                "memoryKiB": info.memoryKiB,
            ]))
            return
        }
        var out = Self.line("CPU model:", info.model)
        out += Self.line("CPU(s):", String(info.cpus))
        if info.mhz != 0 { out += Self.line("CPU frequency:", "\(info.mhz) MHz") }
        out += Self.line("CPU socket(s):", String(info.sockets))
        out += Self.line("Core(s) per socket:", String(info.cores))
        out += Self.line("Thread(s) per core:", String(info.threads))
        out += Self.line("NUMA cell(s):", String(info.nodes))
        out += Self.line("Memory size:", "\(info.memoryKiB) KiB")
        shell.print(out)
    }
}
