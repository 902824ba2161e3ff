import Foundation

/// The shell without a command: a script from stdin, or a prompt on a terminal.
@MainActor
enum Interactive {
    static func runScript(_ shell: Shell) async -> Bool {
        var allOK = true
        var carried = ""
        while let line = readLine(strippingNewline: true) {
            // backslash-newline continues a command on the next line; the tokenizer elides it
            if line.hasSuffix("\\") {
                carried += line + "\n"
                continue
            }
            let text = carried + line
            carried = ""
            switch await runLine(text, shell) {
            case .quit: return allOK
            case .ran(let ok): allOK = allOK && ok
            }
        }
        if !carried.isEmpty, case .ran(let ok) = await runLine(carried, shell) { allOK = allOK && ok }
        return allOK
    }

    static func run(_ shell: Shell) async -> Int32 {
        shell.extra("Welcome to corral, the virtualization interactive terminal.\n\n")
        shell.extra("Type:  'help' for help with commands\n       'quit' to quit\n\n")
        let prompt = shell.readOnly ? "corral > " : "corral # "
        var quit = false
        while !quit, let line = shell.ask(prompt) {
            if case .quit = await runLine(line, shell) { quit = true }
        }
        await shell.close()
        if !quit { shell.print("\n") }   // end of input leaves the cursor after the prompt
        return 0
    }

    enum Outcome { case ran(Bool), quit }

    private static func runLine(_ text: String, _ shell: Shell) async -> Outcome {
        let commands: [[String]]
        do { commands = try Tokenizer.split(text) } catch {
            shell.error(String(describing: error))
            return .ran(false)
        }
        var ok = true
        for words in commands {
            if Commands.isQuit(words[0]) { return .quit }
            ok = await shell.run(words) && ok
        }
        return .ran(ok)
    }
}
