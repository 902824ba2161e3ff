import ArgumentParser
import Foundation
import GuestFS

// `corral guest fish`: guestfish over the native readers. Commands come from the command line
// (separated by ":"), from -f FILE or a non-terminal stdin (one a line, `#` comments, stopping at
// the first error with exit 1), or from an interactive `><fs> ` prompt. A leading "-" lets one
// command fail without stopping.

struct GuestFish: GuestSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "fish", abstract: "Shell over the guest's disks and files (guestfish).",
        discussion: "Commands: `help -l`. Separate command-line commands with ':' and put '--' before a command starting with '-'.")

    @OptionGroup var disks: GuestDiskOptions

    @Flag(name: [.customShort("i"), .customLong("inspector")], help: "Inspect the disks and mount the OS's filesystems.")
    var inspector = false

    @Option(name: [.customShort("m"), .customLong("mount")], help: ArgumentHelp("Mount DEV on MOUNTPOINT (default /), read-only.", valueName: "dev[:mountpoint]"))
    var mounts: [String] = []

    @Option(name: [.customShort("f"), .customLong("file")], help: "Read commands from FILE.")
    var file: String?

    @Argument(parsing: .captureForPassthrough, help: "Commands, separated by ':'.")
    var commands: [String] = []

    static let program = "corral guest fish"

    func run(globalURI: String?, out: GuestOutput) async throws {
        let session = FishSession(disks: try await disks.open(globalURI: globalURI), out: out)
        var code: Int32 = 0
        do {
            if inspector { try session.inspectAndMount(program: Self.program) }
            for spec in mounts {
                // dev[:mountpoint[:options[:fstype]]]; options and type do not matter read-only.
                let parts = spec.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
                let mountpoint = parts.count > 1 && !parts[1].isEmpty ? parts[1] : "/"
                do { try session.mount(parts[0], at: mountpoint, call: "mount_options") } catch let e as FishCallError {
                    throw FishShellError(FishShell.callErrorText(e, location: nil) + couldNotMount(session, parts[0]))
                }
            }
            let shell = FishShell(session: session)
            if !commands.isEmpty {
                code = shell.runCommandLine(commands.first == "--" ? Array(commands.dropFirst()) : commands)
            } else if let file {
                guard let f = FileHandle(forReadingAtPath: file) else {
                    throw FishShellError("\(file): \(String(cString: strerror(errno)))")
                }
                code = shell.runScript(LineReader(fd: f.fileDescriptor), source: file)
            } else if isatty(STDIN_FILENO) == 1 {
                code = shell.runInteractive(banner: banner(session))
            } else {
                code = shell.runScript(LineReader(fd: STDIN_FILENO), source: "*stdin*")
            }
        } catch let e as FishShellError {
            out.flush()
            FileHandle.standardError.write(Data((e.text.hasSuffix("\n") ? e.text : e.text + "\n").utf8))
            code = 1
        } catch let e as FishCallError {
            out.flush()
            FileHandle.standardError.write(Data((FishShell.callErrorText(e, location: nil) + "\n").utf8))
            code = 1
        }
        out.flush()
        if code != 0 { throw ExitCode(code) }
    }

    /// guestfish's hint after a failed -m: the filesystems that could have been meant.
    func couldNotMount(_ session: FishSession, _ device: String) -> String {
        guard let all = try? session.inspector.filesystems(), !all.isEmpty else { return "" }
        return "\n\(Self.program): '\(device)' could not be mounted.  Did you mean one of these?\n"
            + all.map { "\t\($0.device) (\($0.signature.type))\n" }.joined()
    }

    func banner(_ session: FishSession) -> String {
        var s = """

            Welcome to corral guest fish, the guest filesystem shell for
            examining virtual machine disk images (read-only).

            Type: ‘help’ for help on commands
                  ‘quit’ to quit the shell


            """
        if inspector, let os = session.roots?.first {
            if os.productName != "unknown" { s += "Operating system: \(os.productName)\n" }
            for m in os.mountpoints.sorted(by: { $0.path.lowercased() < $1.path.lowercased() }) {
                s += "\(m.device) mounted on \(m.path)\n"
            }
            s += "\n"
        }
        return s
    }
}

/// Reads lines from a file descriptor without buffering ahead of what is consumed, so local
/// commands (`!cmd`) started from a script see the rest of stdin.
struct LineReader {
    var fd: Int32
    func next() -> String? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = read(fd, &byte, 1)
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
            if byte == 0x0A { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
    }
}

/// Parses and runs command lines with guestfish's quoting, error and exit rules.
struct FishShell {
    let session: FishSession
    var out: GuestOutput { session.out }

    /// Command-line mode: words split at ":"; the first failure (unless "-cmd") exits 1.
    func runCommandLine(_ words: [String]) -> Int32 {
        var groups: [[String]] = [[]]
        for w in words { if w == ":" { groups.append([]) } else { groups[groups.count - 1].append(w) } }
        for g in groups {
            guard var name = g.first else {
                shellError("\(GuestFish.program): empty command on command line")
                return 1
            }
            var mayFail = false
            if name.hasPrefix("-") { mayFail = true; name.removeFirst() }
            // guestfish reports command-line errors as at line 0 of its (unread) stdin.
            if !issue(name, Array(g.dropFirst()), pipe: nil, location: "*stdin*:0"), !mayFail { return 1 }
            if session.quit { break }
        }
        return 0
    }

    func runScript(_ reader: LineReader, source: String) -> Int32 {
        var number = 0
        while !session.quit, let line = reader.next() {
            number += 1
            if !runLine(line, location: "\(source):\(number)", exitOnError: true) { return 1 }
        }
        return 0
    }

    func runInteractive(banner: String) -> Int32 {
        out.write(banner)
        while !session.quit {
            out.write("><fs> ")
            out.flush()
            guard let line = readLine(strippingNewline: true) else { break }
            // At the prompt errors carry no location and never end the session.
            _ = runLine(line, location: nil, exitOnError: false)
        }
        out.write("\n")
        return 0
    }

    /// Runs one line; false when it failed and the shell must stop.
    func runLine(_ raw: String, location: String?, exitOnError: Bool) -> Bool {
        var text = Substring(raw).drop { $0 == " " || $0 == "\t" }
        guard let first = text.first, first != "#" else { return true }
        if first == "!" {
            out.flush()
            let status = FishShell.system(String(text.dropFirst()))
            return !exitOnError || status == 0
        }
        var mayFail = !exitOnError
        while text.first == "-" {
            mayFail = true
            text = text.dropFirst().drop { $0 == " " || $0 == "\t" }
        }
        let parsed: (words: [String], pipe: String?)
        do { parsed = try Self.split(text) } catch let e as FishShellError {
            shellError("\(GuestFish.program): \(e.text)")
            return mayFail
        } catch { return mayFail }
        guard let name = parsed.words.first else { return true }
        return issue(name, Array(parsed.words.dropFirst()), pipe: parsed.pipe, location: location) || mayFail
    }

    /// guestfish's words: a bare command name, then parameters bare (to whitespace), in double
    /// quotes (with \n, \t, \ooo, \xhh... escapes) or single quotes (literal); `|` starts a pipe to
    /// a host shell command.
    static func split(_ text: Substring) throws -> (words: [String], pipe: String?) {
        var words: [String] = []
        let chars = Array(text.unicodeScalars)
        var i = 0
        func isSpace(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" }
        var first = true
        while i < chars.count {
            while i < chars.count, isSpace(chars[i]) { i += 1 }
            guard i < chars.count else { break }
            let c = chars[i]
            var word = String.UnicodeScalarView()
            if !first, c == "|" {
                return (words, String(String.UnicodeScalarView(chars[(i + 1)...])))
            } else if !first, c == "\"" || c == "'" {
                i += 1
                var closed = false
                while i < chars.count {
                    let d = chars[i]
                    if d == c { closed = true; i += 1; break }
                    if c == "\"", d == "\\", i + 1 < chars.count {
                        let (scalar, used) = try escape(chars, i + 1)
                        word.append(scalar)
                        i += 1 + used
                        continue
                    }
                    word.append(d)
                    i += 1
                }
                guard closed else { throw FishShellError(c == "\"" ? "unterminated double quote" : "unterminated single quote") }
                guard i == chars.count || isSpace(chars[i]) else { throw FishShellError("command arguments not separated by whitespace") }
            } else {
                while i < chars.count, !isSpace(chars[i]) { word.append(chars[i]); i += 1 }
            }
            words.append(String(word))
            first = false
        }
        return (words, nil)
    }

    /// One escape after a backslash inside double quotes: the character and how many were used.
    static func escape(_ chars: [Unicode.Scalar], _ i: Int) throws -> (Unicode.Scalar, Int) {
        let simple: [Unicode.Scalar: Unicode.Scalar] = ["a": "\u{07}", "b": "\u{08}", "f": "\u{0C}", "n": "\n", "r": "\r",
                                                        "t": "\t", "v": "\u{0B}", "\"": "\"", "\\": "\\"]
        if let s = simple[chars[i]] { return (s, 1) }
        func number(_ count: Int, _ radix: Int) throws -> Unicode.Scalar {
            guard i + count <= chars.count, let v = UInt32(String(String.UnicodeScalarView(chars[i..<(i + count)])), radix: radix),
                  v != 0, let s = Unicode.Scalar(v) else { throw FishShellError("invalid escape sequence in string") }
            return s
        }
        if ("0"..."7").contains(chars[i]) { return (try number(3, 8), 3) }
        if chars[i] == "x" {
            guard i + 3 <= chars.count, let v = UInt32(String(String.UnicodeScalarView(chars[(i + 1)..<(i + 3)])), radix: 16),
                  v != 0, let s = Unicode.Scalar(v) else { throw FishShellError("invalid escape sequence in string") }
            return (s, 3)
        }
        throw FishShellError("invalid escape sequence in string (starting at offset \(i))")
    }

    /// Runs one command, its output piped to `pipe` (a host shell command) when given.
    func issue(_ name: String, _ args: [String], pipe: String?, location: String?) -> Bool {
        guard let pipe else { return execute(name, args, location: location) }
        out.flush()
        var fds: [Int32] = [0, 0]
        guard Foundation.pipe(&fds) == 0 else { shellError("pipe: \(String(cString: strerror(errno)))"); return false }
        let saved = dup(STDOUT_FILENO)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", pipe]
        p.standardInput = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true)
        do { try p.run() } catch {
            close(fds[1]); close(saved)
            shellError("\(pipe): \(error)")
            return false
        }
        dup2(fds[1], STDOUT_FILENO)
        close(fds[1])
        let ok = execute(name, args, location: location)
        out.flush()
        dup2(saved, STDOUT_FILENO)
        close(saved)
        p.waitUntilExit()
        return ok
    }

    func execute(_ name: String, _ args: [String], location: String?) -> Bool {
        guard let command = FishCommands.find(name) else {
            shellError("\(name): unknown command")
            return false
        }
        var required: [String] = []
        var options: [String: String] = [:]
        for a in args {
            if let colon = a.firstIndex(of: ":"), command.optional.contains(String(a[..<colon])), required.count >= command.arity.lowerBound {
                options[String(a[..<colon])] = String(a[a.index(after: colon)...])
            } else {
                required.append(a)
            }
        }
        guard command.arity.contains(required.count) else {
            shellError("error: incorrect number of arguments\nusage: \(command.name)\(command.synopsis.isEmpty ? "" : " " + command.synopsis)\ntype 'help \(command.name)' for more help on \(command.name)")
            return false
        }
        do {
            try command.run(session, required, options)
            out.flush()
            return true
        } catch let e as FishCallError {
            shellError((location.map { $0 + ": " } ?? "") + Self.callErrorText(e, location: nil))
        } catch let e as FishShellError {
            shellError(e.text)
        } catch {
            shellError((location.map { $0 + ": " } ?? "") + "libguestfs: error: \(GuestOutput.describe(error))")
        }
        return false
    }

    static func callErrorText(_ e: FishCallError, location: String?) -> String {
        (location.map { $0 + ": " } ?? "") + "libguestfs: error: " + (e.call.isEmpty ? "" : e.call + ": ") + e.message
    }

    func shellError(_ text: String) {
        out.flush()
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// `!cmd`: the host shell, sharing our stdin and stdout.
    static func system(_ command: String) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        do { try p.run() } catch { return 127 }
        p.waitUntilExit()
        return p.terminationStatus
    }
}
