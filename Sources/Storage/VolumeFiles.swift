import Foundation
import DomainXML
import GuestFS
import Hypervisor

// What a file or block device says about itself: format, sizes, backing chain, permissions.
// Everything is read from the file each time, so processes sharing a root never disagree.

enum VolumeFiles {
    /// raw, qcow2 or iso from the first bytes (the formats a dir pool's refresh tells apart).
    static func probeFormat(_ path: String) -> String {
        guard let h = FileHandle(forReadingAtPath: path) else { return "raw" }
        defer { try? h.close() }
        let head = (try? h.read(upToCount: 4)) ?? Data()
        if head.count == 4, Array(head) == [0x51, 0x46, 0x49, 0xFB] { return "qcow2" }
        // ISO 9660: "CD001" in the primary volume descriptor at 32769.
        if (try? h.seek(toOffset: 32769)) != nil, let id = try? h.read(upToCount: 5), Array(id) == Array("CD001".utf8) {
            return "iso"
        }
        return "raw"
    }

    struct QCOW2Facts { var virtualSize: UInt64; var backing: String?; var backingFormat: String? }

    static func qcow2(_ path: String) -> QCOW2Facts? {
        guard let file = try? ImageFile(path: path), let h = try? QCOW2Header.parse(file, name: path) else { return nil }
        return QCOW2Facts(virtualSize: h.virtualSize, backing: h.backingFile, backingFormat: h.backingFormat)
    }

    /// Size of a block device (BLKGETSIZE64) or regular file.
    static func deviceSize(_ path: String) -> UInt64? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let end = lseek(fd, 0, SEEK_END)
        return end >= 0 ? UInt64(end) : nil
    }

    /// libvirt's "seconds.nanoseconds", nanoseconds zero-padded to 9 digits.
    static func stamp(_ t: timespec) -> String {
        let ns = String(t.tv_nsec)
        return "\(t.tv_sec)." + String(repeating: "0", count: max(0, 9 - ns.count)) + ns
    }

    /// The volume XML libvirt reports for `path` (vol-dumpxml), or nil when it is gone.
    static func describe(name: String, path: String) -> StorageVolume? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        var v = StorageVolume(name: name)
        v.key = path
        v.targetPath = path
        let kind = st.st_mode & S_IFMT
        let physical = UInt64(max(0, st.st_size))
        switch kind {
        case S_IFDIR:
            v.type = "dir"
            v.format = "dir"
            v.capacity = physical
            v.allocation = UInt64(st.st_blocks) * 512
        case S_IFBLK:
            v.type = "block"
            let size = deviceSize(path) ?? 0
            v.capacity = size
            v.allocation = size
            v.physical = size
        default:
            v.type = "file"
            let format = probeFormat(path)
            v.format = format
            v.capacity = physical
            // st_blocks counts 512-byte units whatever the filesystem's block size: right for sparse files.
            v.allocation = UInt64(st.st_blocks) * 512
            v.physical = physical
            if format == "qcow2", let q = qcow2(path) {
                v.capacity = q.virtualSize
                if let b = q.backing {
                    let full = b.hasPrefix("/") ? b : (path as NSString).deletingLastPathComponent + "/" + b
                    var store = StorageVolume.BackingStore(path: full, format: q.backingFormat ?? (StorageFiles.exists(full) ? probeFormat(full) : nil))
                    store.permissions = permissions(full)
                    v.backingStore = store
                }
            }
        }
        v.targetPermissions = StoragePermissions(mode: UInt32(st.st_mode & 0o7777), owner: Int(st.st_uid), group: Int(st.st_gid))
        v.timestamps = StorageVolume.Timestamps(atime: stamp(st.st_atim), mtime: stamp(st.st_mtim), ctime: stamp(st.st_ctim))
        return v
    }

    static func permissions(_ path: String) -> StoragePermissions? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return StoragePermissions(mode: UInt32(st.st_mode & 0o7777), owner: Int(st.st_uid), group: Int(st.st_gid))
    }

    /// Zero-fills [from, to) of an open file or device in 1 MiB writes.
    static func writeZeros(fd: Int32, from: UInt64, to: UInt64, path: String) throws {
        let chunk = [UInt8](repeating: 0, count: 1 << 20)
        var off = from
        while off < to {
            let n = Int(min(UInt64(chunk.count), to - off))
            let w = chunk.withUnsafeBytes { pwrite(fd, $0.baseAddress!, n, off_t(off)) }
            if w < 0 && errno == EINTR { continue }
            guard w > 0 else { throw StorageFiles.systemError("cannot write to '\(path)'") }
            off += UInt64(w)
        }
    }
}
