// The protocol every filesystem reader implements, so the VFS (path resolution, mounts) is written
// once and FAT/ISO/XFS readers only have to map inodes to bytes.

public enum FileType: String, Sendable, Equatable {
    case regular, directory, symlink, characterDevice, blockDevice, fifo, socket, unknown

    /// From the S_IFMT bits of a POSIX mode.
    public init(mode: UInt32) {
        switch mode & 0o170000 {
        case 0o100000: self = .regular
        case 0o040000: self = .directory
        case 0o120000: self = .symlink
        case 0o020000: self = .characterDevice
        case 0o060000: self = .blockDevice
        case 0o010000: self = .fifo
        case 0o140000: self = .socket
        default: self = .unknown
        }
    }
}

/// Seconds since the Unix epoch plus nanoseconds, as `struct timespec`.
public struct FileTime: Sendable, Equatable, Hashable {
    public var seconds: Int64
    public var nanoseconds: UInt32
    public init(seconds: Int64, nanoseconds: UInt32 = 0) {
        self.seconds = seconds; self.nanoseconds = nanoseconds
    }
}

public struct FileStat: Sendable, Equatable {
    public var inode: UInt64
    public var type: FileType
    /// Full st_mode: type bits and permission bits (including setuid/setgid/sticky).
    public var mode: UInt32
    public var nlink: UInt64
    public var uid: UInt32
    public var gid: UInt32
    public var size: UInt64
    /// Allocated space in 512-byte units, as st_blocks.
    public var blocks: UInt64
    public var atime: FileTime
    public var mtime: FileTime
    public var ctime: FileTime
    /// Device number for character and block devices (Linux new encoding), 0 otherwise.
    public var rdev: UInt32

    public var permissions: UInt32 { mode & 0o7777 }
}

public struct DirEntry: Sendable, Equatable {
    /// Decoded as UTF-8; invalid sequences become U+FFFD (the raw bytes are in `nameBytes`).
    public var name: String { String(decoding: nameBytes, as: UTF8.self) }
    public var nameBytes: [UInt8]
    public var inode: UInt64
    /// From the directory entry when the filesystem records it, otherwise from the inode.
    public var type: FileType

    public init(nameBytes: [UInt8], inode: UInt64, type: FileType) {
        self.nameBytes = nameBytes; self.inode = inode; self.type = type
    }
}

/// Space and inode counts as statvfs(2) reports them for the mounted filesystem, which is what
/// df and virt-df print: size = blocks × blockSize, used = (blocks − freeBlocks) × blockSize,
/// available = availableBlocks × blockSize.
public struct FilesystemUsage: Sendable, Equatable {
    /// f_frsize.
    public var blockSize: UInt64
    /// f_blocks: the kernel's count, which for ext4 excludes metadata overhead.
    public var blocks: UInt64
    /// f_bfree.
    public var freeBlocks: UInt64
    /// f_bavail: free blocks an unprivileged user may use (reserved blocks excluded).
    public var availableBlocks: UInt64
    /// f_files and f_ffree (0 for filesystems without inode counts, as Linux reports).
    public var files: UInt64
    public var freeFiles: UInt64

    public init(blockSize: UInt64, blocks: UInt64, freeBlocks: UInt64, availableBlocks: UInt64,
                files: UInt64, freeFiles: UInt64) {
        self.blockSize = blockSize; self.blocks = blocks; self.freeBlocks = freeBlocks
        self.availableBlocks = availableBlocks; self.files = files; self.freeFiles = freeFiles
    }
}

/// A mounted, read-only filesystem addressed by inode numbers. Implementations validate everything
/// they read from the device and throw `GuestFSError` naming the structure on corruption.
public protocol Filesystem: Sendable {
    /// "ext4", "vfat", ... as `detectFilesystem` names it.
    var typeName: String { get }
    var rootInode: UInt64 { get }
    func stat(_ inode: UInt64) throws(GuestFSError) -> FileStat
    /// Entries in on-disk order, without "." and "..".
    func readdir(_ inode: UInt64) throws(GuestFSError) -> [DirEntry]
    /// The inode of `name` in directory `directory`, nil if there is no such entry.
    func lookup(_ directory: UInt64, name: [UInt8]) throws(GuestFSError) -> UInt64?
    /// Up to `count` bytes at `offset`, fewer only at the end of the file; holes read as zeros.
    func read(_ inode: UInt64, at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8]
    /// The raw target of a symbolic link.
    func readlink(_ inode: UInt64) throws(GuestFSError) -> [UInt8]
    /// What statvfs(2) would report with the filesystem mounted read-only by Linux.
    func statfs() throws(GuestFSError) -> FilesystemUsage
}

/// Bounds-checked little-endian reads: out-of-range offsets yield 0 instead of trapping. Callers
/// validate structure sizes first; this is the last line of defence against hostile images.
extension Array where Element == UInt8 {
    @inline(__always)
    func le16(_ offset: Int) -> UInt16 {
        guard offset >= 0, offset &+ 2 <= count else { return 0 }
        return UInt16(self[offset]) | UInt16(self[offset + 1]) << 8
    }

    @inline(__always)
    func le32(_ offset: Int) -> UInt32 {
        guard offset >= 0, offset &+ 4 <= count else { return 0 }
        return UInt32(self[offset]) | UInt32(self[offset + 1]) << 8
            | UInt32(self[offset + 2]) << 16 | UInt32(self[offset + 3]) << 24
    }

    @inline(__always)
    func le64(_ offset: Int) -> UInt64 {
        UInt64(le32(offset)) | UInt64(le32(offset + 4)) << 32
    }

    @inline(__always)
    func byte(_ offset: Int) -> UInt8 {
        guard offset >= 0, offset < count else { return 0 }
        return self[offset]
    }

    /// `length` bytes at `offset`, clipped to the array.
    func bytes(_ offset: Int, _ length: Int) -> [UInt8] {
        guard offset >= 0, length > 0, offset < count else { return [] }
        return Array(self[offset..<(length >= count - offset ? count : offset + length)])
    }
}
