import Foundation
import GuestFS

enum FuzzTarget: String, CaseIterable {
    case qcow2, partition, lvm, ext4, fat, iso9660, xfs

    /// Reads everything reachable from `input` within a fixed budget; errors are expected (most
    /// inputs are corrupt) and only counted: a finding is a crash, a hang or a memory blow-up.
    func run(_ input: [UInt8]) -> Walk {
        var walk = Walk()
        switch self {
        case .qcow2:
            guard let disk = walk.attempt({ () throws(GuestFSError) in try QCOW2Input.shared.open(input) }) else { break }
            walk.sample(disk)
            walk.disk(disk)
        case .partition, .lvm:
            walk.disk(MemoryDevice(bytes: input))
        case .ext4, .fat, .iso9660:
            walk.filesystem(on: MemoryDevice(bytes: input))
        case .xfs:
            // An XFS is at least 300 MiB, so seeds are its first blocks: the device is as large as
            // the superblock says (dblocks × blocksize), zeros past the input.
            let declared = UInt64(input.be32(4)).multipliedReportingOverflow(by: input.be64(8))
            let size = declared.overflow ? 0 : min(declared.partialValue, 1 << 40)
            walk.filesystem(on: MemoryDevice(bytes: input, size: max(size, UInt64(input.count))))
        }
        return walk
    }
}

/// The input bytes as a disk, optionally followed by zeros up to `size`.
struct MemoryDevice: BlockDevice {
    let bytes: [UInt8]
    let size: UInt64

    init(bytes: [UInt8], size: UInt64? = nil) {
        self.bytes = bytes
        self.size = size ?? UInt64(bytes.count)
    }

    func read(at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else {
            throw GuestFSError("memory device: read of \(count) bytes at \(offset) past the end of \(size)")
        }
        var out = [UInt8](repeating: 0, count: count)
        if offset < UInt64(bytes.count) {
            let start = Int(offset), n = min(count, bytes.count - start)
            out.replaceSubrange(0..<n, with: bytes[start..<(start + n)])
        }
        return out
    }
}

extension Array where Element == UInt8 {
    func be32(_ o: Int) -> UInt32 {
        guard o >= 0, o + 4 <= count else { return 0 }
        return self[o..<(o + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }

    func be64(_ o: Int) -> UInt64 { UInt64(be32(o)) << 32 | UInt64(be32(o + 4)) }
}

/// The qcow2 reader opens files by path (it reads through ImageFile), so each input is written to
/// one unlinked scratch file and opened again through /proc/self/fd. Backing files are refused:
/// a fuzzed backing name must not make the fuzzer read host files.
final class QCOW2Input: @unchecked Sendable {
    static let shared = QCOW2Input()
    private let fd: Int32
    private let path: String

    private init() {
        let dir = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let name = "\(dir)/guestfs-fuzz-\(getpid())"
        fd = Glibc.open(name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "guestfs-fuzzer: cannot create \(name)")
        unlink(name)
        path = "/proc/self/fd/\(fd)"
    }

    func open(_ input: [UInt8]) throws(GuestFSError) -> any BlockDevice {
        guard ftruncate(fd, 0) == 0,
              input.withUnsafeBytes({ pwrite(fd, $0.baseAddress, $0.count, 0) }) == input.count else {
            fatalError("guestfs-fuzzer: cannot write the scratch file")
        }
        return try openImage(path: path, format: .qcow2, followBacking: false)
    }
}

/// A bounded exploration of one input, counting what it reached.
struct Walk {
    // Budgets per input: enough to reach every structure of a seed image, small enough that an
    // execution stays in the millisecond range.
    static let maxBytes = 4 << 20
    static let maxNodes = 2000
    static let maxDepth = 24
    static let maxEntriesPerDirectory = 512
    static let fileChunk = 64 << 10

    var bytesLeft = maxBytes
    var nodesLeft = maxNodes
    var errors = 0
    var devices = 0
    var filesystems = 0
    var nodes = 0

    var summary: String {
        "\(devices) devices, \(filesystems) filesystems, \(nodes) nodes, \(Walk.maxBytes - bytesLeft) bytes, \(errors) errors"
    }

    /// The value, or nil after counting the error.
    mutating func attempt<T>(_ body: () throws(GuestFSError) -> T) -> T? {
        do { return try body() } catch { errors += 1; return nil }
    }

    mutating func read(_ device: any BlockDevice, at offset: UInt64, count: Int) {
        guard offset < device.size, bytesLeft > 0 else { return }
        let n = Int(min(UInt64(min(count, bytesLeft)), device.size - offset))
        bytesLeft -= n
        _ = attempt { () throws(GuestFSError) in try device.read(at: offset, count: n) }
    }

    /// Reads spread over a device: its start, its end, and one chunk per 1/64th, so every level of
    /// an image's mapping (each L1 entry's L2 table in a small qcow2) is touched.
    mutating func sample(_ device: any BlockDevice) {
        devices += 1
        read(device, at: 0, count: 64 << 10)
        let step = max(device.size / 64, 4096)
        var offset = step
        for _ in 0..<64 where offset < device.size {
            read(device, at: offset, count: 4096)
            offset += step
        }
        if device.size > 4096 { read(device, at: device.size - 4096, count: 4096) }
    }

    /// What `GuestDisks.open` does for one disk: partitions (or the whole disk), LVM over them,
    /// then a filesystem walk on every candidate that is not a PV.
    mutating func disk(_ device: any BlockDevice) {
        devices += 1
        var candidates: [GuestDevice] = []
        if let table = attempt({ () throws(GuestFSError) in try PartitionTable.read(device) }), let table {
            for p in table.partitions where !p.isExtended {
                if let d = attempt({ () throws(GuestFSError) in try p.device(on: device) }) {
                    candidates.append(GuestDevice(name: "/dev/sda\(p.number)", device: d))
                }
            }
        } else {
            candidates.append(GuestDevice(name: "/dev/sda", device: device))
        }
        for c in candidates {
            let pv: LVMPhysicalVolume? = attempt { () throws(GuestFSError) in try LVMPhysicalVolume.read(c.device) } ?? nil
            if pv == nil { filesystem(on: c.device) }
        }
        let groups = attempt { () throws(GuestFSError) in try LVM.scan(candidates) } ?? []
        for lv in groups.flatMap(\.logicalVolumes) {
            guard let d = attempt({ () throws(GuestFSError) in try lv.open() }) else { continue }
            sample(d)
            filesystem(on: d)
        }
    }

    /// Opens the filesystem on `device` and walks it: statfs, then depth-first readdir, lookup of
    /// every name, stat, readlink plus path resolution through the VFS, and reads of each file's
    /// start and end.
    mutating func filesystem(on device: any BlockDevice) {
        guard let fs = attempt({ () throws(GuestFSError) in try openFilesystem(device) }) else { return }
        filesystems += 1
        _ = attempt { () throws(GuestFSError) in try fs.statfs() }
        var vfs = VFS()
        vfs.mount(fs, at: "/")
        var seen: Set<UInt64> = []
        var stack: [(inode: UInt64, path: String, depth: Int)] = [(fs.rootInode, "/", 0)]
        while let (inode, path, depth) = stack.popLast(), nodesLeft > 0, bytesLeft > 0 {
            // Hard links and corrupt directories can name an inode twice, or an ancestor.
            guard seen.insert(inode).inserted else { continue }
            nodesLeft -= 1
            nodes += 1
            guard let st = attempt({ () throws(GuestFSError) in try fs.stat(inode) }) else { continue }
            switch st.type {
            case .directory:
                guard depth < Walk.maxDepth,
                      let entries = attempt({ () throws(GuestFSError) in try fs.readdir(inode) }) else { continue }
                for e in entries.prefix(Walk.maxEntriesPerDirectory) {
                    _ = attempt { () throws(GuestFSError) in try fs.lookup(inode, name: e.nameBytes) }
                    stack.append((e.inode, (path == "/" ? "/" : path + "/") + e.name, depth + 1))
                }
            case .symlink:
                _ = attempt { () throws(GuestFSError) in try fs.readlink(inode) }
                _ = attempt { () throws(GuestFSError) in try vfs.stat(path) }
            case .regular:
                _ = attempt { () throws(GuestFSError) in try vfs.lstat(path) }
                let first = Int(min(st.size, UInt64(Walk.fileChunk)))
                bytesLeft -= first
                _ = attempt { () throws(GuestFSError) in try fs.read(inode, at: 0, count: first) }
                if st.size > UInt64(Walk.fileChunk) {
                    bytesLeft -= 4096
                    _ = attempt { () throws(GuestFSError) in try fs.read(inode, at: st.size - 4096, count: 4096) }
                }
            default:
                break
            }
        }
    }
}
