#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An open host file read with pread only: nothing is mapped, and no allocation follows a size
/// read from the file itself. Also the "raw" image format.
public final class ImageFile: BlockDevice, Sendable {
    public let path: String
    public let size: UInt64
    /// (st_dev, st_ino): identifies the file for backing-chain cycle detection, whatever its path.
    public let identity: FileIdentity
    private let fd: Int32

    public struct FileIdentity: Hashable, Sendable {
        public let device: UInt64
        public let inode: UInt64
    }

    public init(path: String) throws(GuestFSError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw GuestFSError("\(path): cannot open: \(ImageFile.errnoText())") }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let text = ImageFile.errnoText()
            close(fd)
            throw GuestFSError("\(path): cannot stat: \(text)")
        }
        let kind = st.st_mode & S_IFMT
        let size: UInt64
        if kind == S_IFREG {
            size = UInt64(st.st_size)
        } else if kind == S_IFBLK {
            // Block devices report st_size 0; their size is where lseek(SEEK_END) lands.
            let end = lseek(fd, 0, SEEK_END)
            guard end >= 0 else { close(fd); throw GuestFSError("\(path): cannot size block device") }
            size = UInt64(end)
        } else {
            close(fd)
            throw GuestFSError("\(path): not a regular file or block device")
        }
        self.path = path
        self.fd = fd
        self.size = size
        self.identity = FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    deinit { close(fd) }

    public func read(at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else {
            throw GuestFSError("\(path): read of \(count) bytes at \(offset) past the end of a \(size)-byte file")
        }
        var buffer = [UInt8](repeating: 0, count: count)
        try readFully(into: &buffer, range: 0..<count, at: offset)
        return buffer
    }

    /// Fills `buffer[range]` from `offset` without an intermediate copy; the caller has
    /// bounds-checked both the range and the file extent.
    func readFully(into buffer: inout [UInt8], range: Range<Int>, at offset: UInt64) throws(GuestFSError) {
        let failure: String? = buffer.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return nil }
            var done = 0
            while done < range.count {
                let n = pread(fd, base + range.lowerBound + done, range.count - done, off_t(offset) + off_t(done))
                if n > 0 {
                    done += n
                } else if n == 0 {
                    return "file shrank while reading at \(offset + UInt64(done))"
                } else if errno != EINTR {
                    return "read error at \(offset + UInt64(done)): \(ImageFile.errnoText())"
                }
            }
            return nil
        }
        if let failure { throw GuestFSError("\(path): \(failure)") }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
