import Foundation
import Hypervisor
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A domain's serial console: the pty QEMU allocated, opened raw.
///
/// Reads happen on a dedicated thread (poll + read), never on an event loop or the cooperative
/// pool; chunks are handed to `read()` callers through a small buffer with a cap, so a reader
/// that stops reading stalls the thread instead of growing memory.
final class PTYConsoleStream: ByteStream {
    private struct State: Sendable {
        var chunks: [[UInt8]] = []
        var buffered = 0
        var eof = false
        var closed = false
        var waiter: CheckedContinuation<[UInt8]?, any Error>?
    }

    private static let maxBuffered = 1 << 20
    private let fd: Int32
    private let lockFD: Int32
    private let state = Mutex(State())

    /// Opens `path` (O_RDWR|O_NOCTTY) in raw mode. `lockPath` guards against two sessions unless `force`.
    init(path: String, lockPath: String, force: Bool) throws {
        let lfd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) != 0 {
            Glibc.close(lfd)
            if !force {
                throw VirError(.operationFailed, "operation failed: Active console session exists for this domain", domain: .qemu)
            }
            lockFD = -1
        } else {
            lockFD = lfd
        }
        let fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let err = FileIO.systemError("cannot open console '\(path)'")
            if lockFD >= 0 { Glibc.close(lockFD) }
            throw err
        }
        var tio = termios()
        if tcgetattr(fd, &tio) == 0 {
            cfmakeraw(&tio)
            tcsetattr(fd, TCSANOW, &tio)
        }
        self.fd = fd
        let thread = Thread { [self] in self.readLoop() }
        thread.name = "corral-console"
        thread.start()
    }

    private func readLoop() {
        var buf = [UInt8](repeating: 0, count: 16384)
        loop: while true {
            let (closed, full) = state.withLock { ($0.closed, $0.buffered >= Self.maxBuffered) }
            if closed { break }
            if full { usleep(10_000); continue }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, 100)
            if r < 0 { if errno == EINTR { continue }; break }
            if r == 0 { continue }
            let n = Glibc.read(fd, &buf, buf.count)
            if n > 0 {
                let chunk = Array(buf[0..<n])
                let waiter: CheckedContinuation<[UInt8]?, any Error>? = state.withLock { s in
                    if let w = s.waiter { s.waiter = nil; return w }
                    s.chunks.append(chunk)
                    s.buffered += chunk.count
                    return nil
                }
                waiter?.resume(returning: chunk)
            } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                // EIO: QEMU closed the pty's master side (the domain stopped).
                break loop
            } else if pfd.revents & Int16(POLLHUP) != 0 {
                break loop
            }
        }
        let waiter = state.withLock { s -> CheckedContinuation<[UInt8]?, any Error>? in
            s.eof = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: nil)
        Glibc.close(fd)
        if lockFD >= 0 { Glibc.close(lockFD) }
    }

    func read() async throws -> [UInt8]? {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<[UInt8]?, any Error>) in
            enum Action { case data([UInt8]), end, busy, wait }
            let action: Action = state.withLock { s in
                if !s.chunks.isEmpty {
                    let c = s.chunks.removeFirst()
                    s.buffered -= c.count
                    return .data(c)
                }
                if s.eof || s.closed { return .end }
                if s.waiter != nil { return .busy }
                s.waiter = cont
                return .wait
            }
            switch action {
            case .data(let c): cont.resume(returning: c)
            case .end: cont.resume(returning: nil)
            case .busy: cont.resume(throwing: VirError(.operationInvalid, "Requested operation is not valid: console read already in progress", domain: .qemu))
            case .wait: break
            }
        }
    }

    func write(_ bytes: [UInt8]) async throws {
        var offset = 0
        while offset < bytes.count {
            if state.withLock({ $0.closed || $0.eof }) {
                throw VirError(.operationInvalid, "Requested operation is not valid: console is closed", domain: .qemu)
            }
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n > 0 { offset += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { try await Task.sleep(nanoseconds: 5_000_000); continue }
            throw FileIO.systemError("cannot write to console")
        }
    }

    func close() async {
        let waiter = state.withLock { s -> CheckedContinuation<[UInt8]?, any Error>? in
            s.closed = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: nil)
    }
}

extension QEMUDriver {
    public func openConsole(_ dom: DomainRef, devName: String?, force: Bool) async throws -> any ByteStream {
        let e = try requireActive(dom)
        guard let status = e.status, let live = e.live else { throw VirError.notRunning(e.name) }
        let pty: String?
        switch devName {
        case nil:
            pty = status.consolePTYs.compactMap { $0 }.first ?? status.serialPTYs.compactMap { $0 }.first
        case let name?:
            // libvirt's device names are aliases: serial0, console0.
            if name.hasPrefix("serial"), let i = Int(name.dropFirst(6)), i < status.serialPTYs.count {
                pty = status.serialPTYs[i]
            } else if name.hasPrefix("console"), let i = Int(name.dropFirst(7)), i < status.consolePTYs.count {
                pty = status.consolePTYs[i]
            } else {
                throw VirError(.internalError, "internal error: cannot find character device \(name)", domain: .qemu)
            }
        }
        guard let path = pty else {
            let hasChar = !live.devices.serials.isEmpty || !live.devices.consoles.isEmpty
            throw VirError(.operationUnsupported, hasChar
                ? "Operation not supported: character device is not using a PTY"
                : "internal error: cannot find default console device", domain: .qemu)
        }
        return try PTYConsoleStream(path: path, lockPath: state.consoleLock(e.name), force: force)
    }
}
