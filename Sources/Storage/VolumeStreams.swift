import Foundation
import Hypervisor

// vol-upload / vol-download as ByteStreams over a volume's file or device.

/// The byte window a transfer may touch. Offset and length come from the client: the window must
/// fit off_t, or pwrite/pread offsets would trap.
enum VolumeTransferWindow {
    /// The end offset (nil = to the end of the volume), or an error naming the bad numbers.
    static func end(offset: UInt64, length: UInt64) throws -> UInt64? {
        let (sum, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, offset <= UInt64(Int64.max), sum <= UInt64(Int64.max) else {
            throw VirError(.invalidArg, "invalid argument: offset \(offset) and length \(length) are beyond the largest file offset", domain: .storage)
        }
        return length == 0 ? nil : sum
    }
}

/// Writes arriving bytes at `offset` onward, at most `length` bytes (0 = no limit); finish()
/// fsyncs and reports any failure, close() alone abandons the upload where it stands.
final class VolumeUploadStream: ByteStream, @unchecked Sendable {
    private let lock = NSLock()
    private var fd: Int32
    private var position: UInt64
    private let end: UInt64?
    private let path: String

    init(path: String, offset: UInt64, length: UInt64) throws {
        let end = try VolumeTransferWindow.end(offset: offset, length: length)
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageFiles.systemError("cannot open volume '\(path)'") }
        self.fd = fd
        self.path = path
        position = offset
        self.end = end
    }

    func read() async throws -> [UInt8]? {
        throw VirError(.operationInvalid, "Requested operation is not valid: an upload stream cannot be read", domain: .storage)
    }

    func write(_ bytes: [UInt8]) async throws {
        try lock.withLock {
            guard fd >= 0 else { throw VirError(.operationInvalid, "Requested operation is not valid: stream is closed", domain: .storage) }
            let limit = end ?? UInt64(Int64.max)
            guard UInt64(bytes.count) <= limit - min(limit, position) else {
                throw VirError(.invalidArg, end == nil ? "invalid argument: upload goes past the largest file offset"
                               : "invalid argument: upload is longer than the requested length", domain: .storage)
            }
            var done = 0
            while done < bytes.count {
                let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, bytes.count - done, off_t(position)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw StorageFiles.systemError("cannot write to volume '\(path)'") }
                done += n
                position += UInt64(n)
            }
        }
    }

    func finish() async throws {
        try lock.withLock {
            guard fd >= 0 else { return }
            let synced = fsync(fd) == 0
            let e = errno
            let closed = Glibc.close(fd) == 0
            fd = -1
            guard synced else { throw StorageFiles.systemError("cannot sync volume '\(path)'", e) }
            guard closed else { throw StorageFiles.systemError("cannot close volume '\(path)'") }
        }
    }

    func close() async {
        lock.withLock {
            if fd >= 0 { Glibc.close(fd); fd = -1 }
        }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }
}

/// Yields the volume's bytes from `offset` in 256 KiB chunks, `length` bytes at most (0 = to the end), then nil.
final class VolumeDownloadStream: ByteStream, @unchecked Sendable {
    static let chunk = 256 << 10
    private let lock = NSLock()
    private var fd: Int32
    private var position: UInt64
    private let end: UInt64?
    private let path: String

    init(path: String, offset: UInt64, length: UInt64) throws {
        let end = try VolumeTransferWindow.end(offset: offset, length: length)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageFiles.systemError("cannot open volume '\(path)'") }
        self.fd = fd
        self.path = path
        position = offset
        self.end = end
    }

    func read() async throws -> [UInt8]? {
        try lock.withLock {
            guard fd >= 0 else { return nil }
            var want = Self.chunk
            if let end { want = Int(min(UInt64(want), end - min(end, position))) }
            guard want > 0 else { return nil }
            var buf = [UInt8](repeating: 0, count: want)
            while true {
                let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, want, off_t(position)) }
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw StorageFiles.systemError("cannot read volume '\(path)'") }
                if n == 0 { return nil }
                position += UInt64(n)
                return Array(buf[0..<n])
            }
        }
    }

    func write(_ bytes: [UInt8]) async throws {
        throw VirError(.operationInvalid, "Requested operation is not valid: a download stream cannot be written", domain: .storage)
    }

    func close() async {
        lock.withLock {
            if fd >= 0 { Glibc.close(fd); fd = -1 }
        }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }
}
