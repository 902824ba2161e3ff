import ArgumentParser
import Foundation
import Hypervisor

// corral: a virsh-compatible shell. `corral [OPTIONS] [COMMAND [ARGS]...]`.
// Several commands are separated by ';' (one quoted string, or ';' words); without a command
// it reads commands from stdin (a script), or runs an interactive shell on a terminal.

struct GlobalOptions: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "corral", abstract: "Manage virtual machines, virsh-style.")

    @Option(name: [.short, .customLong("connect")], help: "Hypervisor connection URI.")
    var connect: String?

    @Flag(name: [.short, .long], help: "Connect read-only.")
    var readonly = false

    @Flag(name: [.short, .long], help: "Quiet mode: no informational messages.")
    var quiet = false

    @Option(name: [.short, .customLong("escape")], help: "Escape sequence for the console.")
    var escape = "^]"

    @Flag(name: [.short, .customLong("version")], help: "Print the version and exit.")
    var version = false

    @Argument(parsing: .captureForPassthrough, help: "Command and its arguments; ';' separates commands.")
    var command: [String] = []
}

@MainActor
func corralMain() async -> Int32 {
    Drivers.registerAll()
    let options: GlobalOptions
    do {
        options = try GlobalOptions.parse(Array(CommandLine.arguments.dropFirst()))
    } catch {
        if GlobalOptions.exitCode(for: error) == .success {
            print(GlobalOptions.fullMessage(for: error))
            print(Commands.summary(), terminator: "")
            return 0
        }
        FileHandle.standardError.write(Data("error: \(GlobalOptions.message(for: error))\n".utf8))
        return 1
    }
    if options.version {
        print(CorralVersion.string)
        return 0
    }
    // Unknown options land in `command` (passthrough parsing), --help among them.
    if let first = options.command.first, first == "-h" || first == "--help" {
        print(GlobalOptions.helpMessage())
        print(Commands.summary(), terminator: "")
        return 0
    }
    if let first = options.command.first, first.hasPrefix("-"), first != "-" {
        FileHandle.standardError.write(Data("error: unsupported option '\(first)'. See --help.\n".utf8))
        return 1
    }

    // `corral guest ...`: the libguestfs-like host tools, with their own flags.
    if options.command.first == "guest" {
        return await GuestTool.run(Array(options.command.dropFirst()), uri: options.connect)
    }

    let shell = Shell(uri: options.connect ?? ConnectionURI.defaultURI(), readOnly: options.readonly,
                      quiet: options.quiet, escapeChar: options.escape)
    defer { shell.flush() }

    if !options.command.isEmpty {
        // virsh: a single argument is a command string; several are the words of commands.
        let commands: [[String]]
        if options.command.count == 1 {
            do { commands = try Tokenizer.split(options.command[0]) } catch {
                shell.error(String(describing: error))
                return 1
            }
        } else {
            commands = Tokenizer.splitWords(options.command)
        }
        var ok = true
        for words in commands {
            if Commands.isQuit(words[0]) { break }
            ok = await shell.run(words)   // like virsh: the last command decides the exit status
        }
        await shell.close()
        return ok ? 0 : 1
    }

    if isatty(STDIN_FILENO) == 1 {
        return await Interactive.run(shell)
    }
    // A script on stdin: every line runs; any failure makes the exit status 1.
    let ok = await Interactive.runScript(shell)
    await shell.close()
    return ok ? 0 : 1
}

exit(await corralMain())
