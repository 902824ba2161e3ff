import ArgumentParser
import Foundation
import Hypervisor

/// A command of the shell: parsed by ArgumentParser from its words, run against the shell.
protocol ShellCommand: ParsableCommand {
    @MainActor func execute(_ shell: Shell) async throws
}

/// A failure to report as virsh does: one `error: ...` line per message, no further detail.
struct CommandFailure: Error {
    var messages: [String]
    init(_ messages: String...) { self.messages = messages }
    init(messages: [String]) { self.messages = messages }
}

/// The state shared by the commands of one invocation, like virsh's vshControl:
/// the connection (opened on first use), output, quiet mode.
@MainActor
final class Shell {
    let uri: String
    let readOnly: Bool
    let quiet: Bool
    let escapeChar: String
    private var driver: (any HypervisorDriver)?

    init(uri: String, readOnly: Bool, quiet: Bool, escapeChar: String) {
        self.uri = uri; self.readOnly = readOnly; self.quiet = quiet; self.escapeChar = escapeChar
    }

    // MARK: Output

    private var pending = ""

    /// Regular output (virsh's vshPrint).
    func print(_ text: String) { pending += text }

    /// Informational output that --quiet suppresses (virsh's vshPrintExtra).
    func extra(_ text: String) { if !quiet { pending += text } }

    func flush() {
        guard !pending.isEmpty else { return }
        FileHandle.standardOutput.write(Data(pending.utf8))
        pending = ""
    }

    func error(_ message: String) {
        flush()
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    }

    // MARK: Connection

    func connection() async throws -> any HypervisorDriver {
        if let driver { return driver }
        do {
            let d = try await Connection.open(uri: uri, readOnly: readOnly)
            driver = d
            return d
        } catch {
            throw CommandFailure("failed to connect to the hypervisor", Self.describe(error))
        }
    }

    func close() async {
        await driver?.close()
        driver = nil
    }

    /// virshLookupDomainBy: an id, then a UUID, then a name; the name lookup's error is the one reported.
    func domain(_ text: String) async throws -> DomainRef {
        let conn = try await connection()
        if let id = Int32(text), id >= 0, let dom = try? await conn.lookupDomain(id: id) { return dom }
        if text.count == 36, let uuid = UUID(uuidString: text), let dom = try? await conn.lookupDomain(uuid: uuid) { return dom }
        do {
            return try await conn.lookupDomain(name: text)
        } catch {
            throw CommandFailure("failed to get domain '\(text)'", Self.describe(error))
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let e as VirError: e.message
        case let e as CommandFailure: e.messages.joined(separator: "\n")
        default: String(describing: error)
        }
    }

    // MARK: Running commands

    /// Runs one command's words; reports its errors; returns whether it succeeded.
    /// Like virsh, a blank line follows every command unless --quiet.
    func run(_ words: [String]) async -> Bool {
        guard let name = words.first else { return true }
        let ok = await runOne(name: name, args: Array(words.dropFirst()))
        extra("\n")
        flush()
        return ok
    }

    private func runOne(name: String, args: [String]) async -> Bool {
        guard let type = Commands.find(name) else {
            error("unknown command: '\(name)'")
            return false
        }
        let command: any ShellCommand
        do {
            command = try type.parse(args)
        } catch {
            let code = type.exitCode(for: error)
            if code == .success {
                print(type.fullMessage(for: error) + "\n")
                return true
            }
            self.error("command '\(name)': " + type.message(for: error))
            return false
        }
        do {
            try await command.execute(self)
            return true
        } catch let failure as CommandFailure {
            failure.messages.forEach { self.error($0) }
        } catch {
            self.error(Self.describe(error))
        }
        return false
    }

    /// Prompts on the terminal and reads one answer; nil at end of input.
    func ask(_ prompt: String) -> String? {
        flush()
        FileHandle.standardOutput.write(Data(prompt.utf8))
        return readLine()
    }
}

/// Output format shared by table commands: virsh's table, or JSON (our extension).
struct JSONOutput {
    static func encode(_ value: Any) -> String {
        guard JSONSerialization.isValidJSONObject(value),
              let data = try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys]) else {
            return "null\n"
        }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

/// The domain argument of most commands: positional like virsh, or `--domain NAME`.
struct DomainArgument: ParsableArguments {
    @Argument(help: "Domain name, id or uuid.")
    var domain: String?

    @Option(name: .customLong("domain"), help: .hidden)
    var domainOption: String?

    func validate() throws {
        if domain == nil && domainOption == nil { throw ValidationError("missing <domain> argument (name, id or uuid)") }
        if domain != nil && domainOption != nil { throw ValidationError("the domain is given twice") }
    }

    var value: String { domainOption ?? domain ?? "" }
}
