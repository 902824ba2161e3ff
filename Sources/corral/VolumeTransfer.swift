import ArgumentParser
import Foundation
import Hypervisor

// vol-upload and vol-download: a volume's bytes through a stream, with a progress bar on a terminal.

/// The volume and local file of vol-upload / vol-download, and their byte range.
struct TransferArguments: ParsableArguments {
    @Argument(help: "Volume name, key or path, then the local file.") var words: [String] = []
    @Option(name: .customLong("vol"), help: .hidden) var volOption: String?
    @Option(name: .customLong("file"), help: .hidden) var fileOption: String?
    @Option(help: "Pool name or uuid.") var pool: String?
    // .unconditional so that "--length -1" reaches the number check instead of reading as an option.
    @Option(parsing: .unconditional, help: "Volume offset to start at.") var offset: String?
    @Option(parsing: .unconditional, help: "Amount of data to transfer (0 or negative: to the end).") var length: String?
    @Flag(help: "Preserve sparseness of volume.") var sparse = false

    func args() throws -> (vol: String, file: String) {
        let v = try fillPositionals(words, [("vol", volOption), ("file", fileOption)], required: 2)
        return (v[0] ?? "", v[1] ?? "")
    }

    func validate() throws { _ = try args() }

    /// virsh's order: the numbers, then the volume.
    @MainActor
    func resolve(_ shell: Shell) async throws -> (vol: StorageVolRef, name: String, file: String, offset: UInt64, length: UInt64) {
        let offsetValue = try unsignedOption(offset, name: "offset")
        let lengthValue = try unsignedOption(length, name: "length", wrapNegative: true)
        let (volText, file) = try args()
        let vol = try await shell.volume(volText, pool: pool)
        // A wrapped negative length means "to the end", which the API spells 0.
        return (vol, volText, file, offsetValue, lengthValue == UInt64.max ? 0 : lengthValue)
    }
}

struct VolUpload: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "vol-upload", abstract: "upload file contents to a volume")
    @OptionGroup var transfer: TransferArguments

    static let chunk = 1 << 20

    func execute(_ shell: Shell) async throws {
        let (vol, name, file, offset, length) = try await transfer.resolve(shell)
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CommandFailure("cannot read \(file)", String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        let size: UInt64? = fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG ? UInt64(st.st_size) : nil
        let total = size.map { length == 0 ? $0 : min($0, length) }

        let stream = try await attempt("cannot upload to volume \(name)") {
            try await shell.connection().uploadStorageVolume(vol, offset: offset, length: length,
                                                             flags: transfer.sparse ? .sparseStream : [])
        }
        let progress = ProgressBar(shell, label: "Uploading", total: total)
        var sent: UInt64 = 0
        var buffer = [UInt8](repeating: 0, count: Self.chunk)
        do {
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw CommandFailure("cannot send data to volume \(name)", "cannot read \(file): \(String(cString: strerror(errno)))")
                }
                if n == 0 { break }
                do { try await stream.write(Array(buffer[0..<n])) } catch {
                    throw CommandFailure("cannot send data to volume \(name)", Shell.describe(error))
                }
                sent += UInt64(n)
                progress?.update(sent)
            }
        } catch {
            progress?.end()
            await stream.close()   // without finish(): the upload is aborted
            throw error
        }
        do { try await stream.finish() } catch {
            progress?.end()
            throw CommandFailure("cannot close volume \(name)", Shell.describe(error))
        }
        progress?.end()
    }
}

struct VolDownload: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "vol-download", abstract: "download volume contents to a file")
    @OptionGroup var transfer: TransferArguments

    static let block = 4096

    func execute(_ shell: Shell) async throws {
        let (vol, name, file, offset, length) = try await transfer.resolve(shell)
        let output = try DownloadTarget(file)
        var committed = false
        defer { if !committed { output.discard() } }

        let capacity = try? await shell.connection().storageVolumeInfo(vol).capacity
        let total = capacity.map { cap -> UInt64 in
            let rest = cap > offset ? cap - offset : 0
            return length == 0 ? rest : min(rest, length)
        }
        let stream = try await attempt("cannot download from volume \(name)") {
            try await shell.connection().downloadStorageVolume(vol, offset: offset, length: length,
                                                               flags: transfer.sparse ? .sparseStream : [])
        }
        let progress = ProgressBar(shell, label: "Downloading", total: total)
        var received: UInt64 = 0
        do {
            while true {
                let chunk: [UInt8]?
                do { chunk = try await stream.read() } catch {
                    throw CommandFailure("cannot receive data from volume \(name)", Shell.describe(error))
                }
                guard let chunk else { break }
                try output.write(chunk, sparse: transfer.sparse)
                received += UInt64(chunk.count)
                progress?.update(received)
            }
            try output.commit()
        } catch {
            progress?.end()
            await stream.close()
            throw error
        }
        committed = true
        progress?.end()
        do { try await stream.finish() } catch {
            throw CommandFailure("cannot close volume \(name)", Shell.describe(error))
        }
    }
}

/// Where vol-download writes: a regular file (new or existing) is written beside it and renamed
/// into place only when complete, so a failed download leaves the old file or nothing; a device,
/// pipe or symlink is written directly, as virsh does.
final class DownloadTarget {
    let path: String
    private let fd: Int32
    private let tempPath: String?
    /// Bytes written so far (the logical size, holes included).
    private var position: UInt64 = 0
    private var isOpen = true

    init(_ path: String) throws {
        self.path = path
        var st = stat()
        let exists = lstat(path, &st) == 0
        // A symlink (/dev/stdout, say) is written through, not replaced.
        if !exists || (st.st_mode & S_IFMT) == S_IFREG {
            let url = URL(fileURLWithPath: path)
            let temp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).corral-\(UUID().uuidString.prefix(8))").path
            let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, exists ? st.st_mode & 0o7777 : 0o666)
            guard fd >= 0 else { throw CommandFailure("cannot create \(path)", String(cString: strerror(errno))) }
            self.fd = fd
            tempPath = temp
        } else {
            let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
            guard fd >= 0 else { throw CommandFailure("cannot create \(path)", String(cString: strerror(errno))) }
            self.fd = fd
            tempPath = nil
        }
    }

    /// With `sparse`, all-zero blocks become holes (a seek instead of a write) in a regular file.
    func write(_ bytes: [UInt8], sparse: Bool) throws {
        try bytes.withUnsafeBytes { raw in
            var start = 0
            while start < raw.count {
                let end = min(start + VolDownload.block, raw.count)
                let piece = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                if sparse && tempPath != nil && piece.allSatisfy({ $0 == 0 }) {
                    guard lseek(fd, off_t(piece.count), SEEK_CUR) >= 0 else { throw failure("seek") }
                } else {
                    var done = 0
                    while done < piece.count {
                        let n = Glibc.write(fd, piece.baseAddress.map { $0 + done }, piece.count - done)
                        if n < 0 {
                            if errno == EINTR { continue }
                            throw failure("write")
                        }
                        done += n
                    }
                }
                position += UInt64(piece.count)
                start = end
            }
        }
    }

    private func failure(_ what: String) -> CommandFailure {
        CommandFailure("cannot \(what) \(path)", String(cString: strerror(errno)))
    }

    /// Sets the length (a trailing hole has no bytes written), syncs, and moves the file into place.
    func commit() throws {
        if tempPath != nil {
            guard ftruncate(fd, off_t(position)) == 0 else { throw failure("write") }
            guard fsync(fd) == 0 else { throw failure("write") }
        }
        isOpen = false
        guard close(fd) == 0 else { throw CommandFailure("cannot close file \(path)") }
        if let tempPath, rename(tempPath, path) != 0 { throw failure("create") }
    }

    /// Undoes an incomplete download: the partial copy goes, the original (if any) stays.
    func discard() {
        if isOpen { close(fd) }
        isOpen = false
        if let tempPath { unlink(tempPath) }
    }
}

/// A one-line progress bar on standard error, only when it is a terminal and not --quiet
/// (DESIGN.md: long work shows progress). Redrawn at most ten times a second.
@MainActor
final class ProgressBar {
    private let label: String
    private let total: UInt64?
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var done: UInt64 = 0

    init?(_ shell: Shell, label: String, total: UInt64?) {
        guard !shell.quiet, isatty(STDERR_FILENO) == 1 else { return nil }
        shell.flush()
        self.label = label
        self.total = total
        draw()
    }

    func update(_ done: UInt64) {
        self.done = done
        if Date().timeIntervalSince(lastDraw) >= 0.1 { draw() }
    }

    /// Draws the final state and ends the line.
    func end() {
        draw()
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func draw() {
        lastDraw = Date()
        let elapsed = max(Date().timeIntervalSince(start), 0.001)
        let rate = prettyCapacity(UInt64(min(Double(done) / elapsed, 1e18))) + "/s"
        var columns = 80
        var ws = winsize()
        if ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0 { columns = Int(ws.ws_col) }
        let line: String
        if let total, total > 0 {
            let fraction = min(1, Double(done) / Double(total))
            let tail = String(format: " %3d%% ", Int(fraction * 100)) + "\(prettyCapacity(done)) / \(prettyCapacity(total))  \(rate)"
            let barWidth = max(10, columns - label.count - tail.count - 4)
            let filled = Int(fraction * Double(barWidth))
            line = "\(label) [" + String(repeating: "=", count: filled) + String(repeating: " ", count: barWidth - filled) + "]" + tail
        } else {
            line = "\(label) \(prettyCapacity(done))  \(rate)"
        }
        // \r and clear-to-end-of-line redraw in place.
        FileHandle.standardError.write(Data(("\r" + String(line.prefix(max(1, columns - 1))) + "\u{1b}[K").utf8))
    }
}
