import ArgumentParser
import Foundation
import Hypervisor

struct Console: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "console", abstract: "connect to the guest console")
    @OptionGroup var domain: DomainArgument
    @Option(help: "Character device name.") var devname: String?
    @Flag(help: "Force console connection (disconnect already connected sessions).") var force = false
    @Flag(help: "Only connect if safe console handling is supported.") var safe = false

    func execute(_ shell: Shell) async throws {
        let dom = try await shell.domain(domain.value)
        try await ConsoleSession.run(shell, dom, devName: devname, force: force)
    }
}

/// Passes bytes between the terminal and a domain's console until the escape character
/// (default Ctrl-]) is typed. Without a terminal, stdin is sent as is and the session ends
/// when the console stream ends, or shortly after stdin ends and the guest falls quiet.
enum ConsoleSession {
    /// How long the guest may stay quiet after stdin ended before the session closes.
    static var drainInterval: Duration {
        let ms = ProcessInfo.processInfo.environment["CORRAL_CONSOLE_DRAIN_MS"].flatMap(Int.init) ?? 2000
        return .milliseconds(max(0, ms))
    }

    /// "^]" -> 0x1d, as virsh's -e option.
    static func escapeByte(_ spec: String) -> UInt8? {
        let bytes = Array(spec.utf8)
        if bytes.count == 2 && bytes[0] == UInt8(ascii: "^") { return bytes[1] & 0x1f }
        if bytes.count == 1 { return bytes[0] }
        return nil
    }

    @MainActor
    static func run(_ shell: Shell, _ dom: DomainRef, devName: String?, force: Bool) async throws {
        let conn = try await shell.connection()
        let state = try await conn.domainState(dom)
        if state.state == .shutoff { throw CommandFailure("The domain is not running") }
        guard let escape = escapeByte(shell.escapeChar) else { throw CommandFailure("invalid escape character '\(shell.escapeChar)'") }

        shell.extra("Connected to domain '\(dom.name)'\n")
        shell.extra("Escape character is \(shell.escapeChar)")
        if shell.escapeChar.hasPrefix("^"), let c = shell.escapeChar.dropFirst().first { shell.extra(" (Ctrl + \(c))") }
        shell.extra("\n")
        shell.flush()

        let stream = try await conn.openConsole(dom, devName: devName, force: force)
        let tty = isatty(STDIN_FILENO) == 1
        let terminal = tty ? RawTerminal() : nil
        defer { terminal?.restore() }

        let input = StdinReader()
        let activity = Activity()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // terminal/stdin -> console
                for await chunk in input.chunks {
                    if tty, let i = chunk.firstIndex(of: escape) {
                        if i > 0 { try? await stream.write(Array(chunk[..<i])) }
                        return
                    }
                    do { try await stream.write(chunk) } catch { return }
                }
                if !tty { await activity.waitForQuiet(drainInterval) }
            }
            group.addTask {
                // console -> terminal
                while let chunk = try? await stream.read() {
                    await activity.touch()
                    FileHandle.standardOutput.write(Data(chunk))
                }
            }
            await group.next()
            input.stop()
            await stream.close()
            group.cancelAll()
        }
        if tty { shell.print("\n") }
    }
}

/// When console output last arrived, to end a scripted session once the guest is quiet.
actor Activity {
    private var last = ContinuousClock.now
    func touch() { last = .now }
    func waitForQuiet(_ interval: Duration) async {
        last = .now
        while !Task.isCancelled {
            let quietFor = ContinuousClock.now - last
            if quietFor >= interval { return }
            try? await Task.sleep(for: interval - quietFor)
        }
    }
}

/// Reads stdin on its own thread (reads block), polling so that it can be stopped without
/// swallowing input meant for the next command.
final class StdinReader: @unchecked Sendable {
    let chunks: AsyncStream<[UInt8]>
    private let lock = NSLock()
    private var stopped = false

    init() {
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream()
        chunks = stream
        let thread = Thread { [self] in
            var buf = [UInt8](repeating: 0, count: 4096)
            var pfd = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
            while !isStopped {
                let ready = poll(&pfd, 1, 100)
                if ready < 0 && errno == EINTR { continue }
                if ready <= 0 { if ready < 0 { break } else { continue } }
                let n = read(STDIN_FILENO, &buf, buf.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                continuation.yield(Array(buf[0..<n]))
            }
            continuation.finish()
        }
        thread.start()
    }

    private var isStopped: Bool { lock.withLock { stopped } }
    func stop() { lock.withLock { stopped = true } }
}

/// Puts the terminal in raw mode and restores it.
final class RawTerminal {
    private var saved = termios()
    private var active = false

    init() {
        guard tcgetattr(STDIN_FILENO, &saved) == 0 else { return }
        var raw = saved
        cfmakeraw(&raw)
        // TCSANOW, not TCSAFLUSH: keystrokes typed ahead belong to the guest.
        active = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0
    }

    func restore() {
        if active { tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved) }
        active = false
    }
}
