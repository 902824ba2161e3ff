// The contract every layer of the image stack reads through: a disk image after its format is
// decoded (raw, qcow2 with backing chain), a partition, or an LVM logical volume.

/// A read-only, random-access byte source of known size. Images are untrusted: implementations
/// bounds-check every offset and length and never allocate more than they were asked to read.
public protocol BlockDevice: Sendable {
    /// Size in bytes as the guest sees it.
    var size: UInt64 { get }
    /// Reads exactly `count` bytes at `offset`; throws `GuestFSError` past the end or on corruption.
    func read(at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8]
}

/// What went wrong, naming the image structure involved (e.g. "qcow2: L2 table at 0x... lies past
/// the end of the file", "ext4: inode 12: extent tree depth 9 exceeds 5").
public struct GuestFSError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A window of another device: a partition or a linear logical volume segment.
public struct SliceDevice: BlockDevice {
    public let base: any BlockDevice
    public let offset: UInt64
    public let size: UInt64

    public init(base: any BlockDevice, offset: UInt64, size: UInt64) throws(GuestFSError) {
        guard offset <= base.size, size <= base.size - offset else {
            throw GuestFSError("slice of \(size) bytes at \(offset) lies outside a device of \(base.size) bytes")
        }
        self.base = base; self.offset = offset; self.size = size
    }

    public func read(at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else {
            throw GuestFSError("read of \(count) bytes at \(offset) past the end of a \(size)-byte device")
        }
        return try base.read(at: self.offset + offset, count: count)
    }
}
