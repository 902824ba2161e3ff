import Foundation
import DomainXML
import Hypervisor

// Volumes: files in dir and fs pools, logical volumes in logical pools. Keys are paths, as
// libvirt's. A new volume is built under a hidden temp name its creator holds a flock on, then
// linked to its real name (link fails if the name exists), so a reader never sees half a volume
// and a crashed creator leaves only a temp that refresh removes.

extension StorageManager {
    struct VolEntry { var name: String; var path: String }

    static func volExists(_ name: String) -> VirError {
        VirError(.storageVolExist, "storage volume '\(name)' exists already", domain: .storage)
    }

    static func inUse(_ name: String, _ domain: String) -> VirError {
        VirError(.operationInvalid, "Requested operation is not valid: storage volume '\(name)' is in use by running domain '\(domain)'", domain: .storage)
    }

    func volumePath(_ def: StoragePool, _ name: String) throws -> String {
        if def.type == "logical" { return "/dev/" + PoolBackend.vg(def) + "/" + name }
        return try PoolBackend.target(def) + "/" + name
    }

    func volumeEntries(_ def: StoragePool) async throws -> [VolEntry] {
        if def.type == "logical" {
            let vg = PoolBackend.vg(def)
            let out = try await Tool.check(["lvs", "--noheadings", "-o", "lv_name", vg])
            return out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix(Self.lvTempPrefix) }
                .sorted().map { VolEntry(name: $0, path: "/dev/\(vg)/\($0)") }
        }
        let dir = try PoolBackend.target(def)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { !$0.hasPrefix(Self.tempPrefix) }.sorted().compactMap { n in
            var st = stat()
            let p = dir + "/" + n
            // Regular files, directories and block devices are volumes; sockets and the like are not.
            guard stat(p, &st) == 0 else { return nil }
            let kind = st.st_mode & S_IFMT
            guard kind == S_IFREG || kind == S_IFDIR || kind == S_IFBLK else { return nil }
            return VolEntry(name: n, path: p)
        }
    }

    /// LVs being created carry this prefix until renamed (LV names cannot start with a dot).
    static let lvTempPrefix = "corral-new-"

    func entry(_ r: PoolRecord, name: String) async throws -> VolEntry {
        let path = try volumePath(r.def, name)
        guard !name.contains("/"), name != ".", name != "..", !name.hasPrefix(Self.tempPrefix), StorageFiles.exists(path) else {
            throw VirError.noStorageVol(name: name)
        }
        return VolEntry(name: name, path: path)
    }

    func resolve(_ vol: StorageVolRef) async throws -> (PoolRecord, VolEntry) {
        let r = try record(named: vol.pool)
        guard r.active else { throw Self.notActive(r.name) }
        return (r, try await entry(r, name: vol.name))
    }

    public func listAllStorageVolumes(_ pool: StoragePoolRef, flags: UInt32) async throws -> [StorageVolRef] {
        let r = try activeRecord(pool)
        return try await volumeEntries(r.def).map { StorageVolRef(pool: r.name, name: $0.name, key: $0.path) }
    }

    public func lookupStorageVolume(pool: StoragePoolRef, name: String) async throws -> StorageVolRef {
        let r = try activeRecord(pool)
        let e = try await entry(r, name: name)
        return StorageVolRef(pool: r.name, name: e.name, key: e.path)
    }

    /// The volume at `path` (a key is a path) in any active pool.
    func find(path: String) async -> StorageVolRef? {
        let wanted = Self.canonical(path)
        for r in loadPools().values.sorted(by: { $0.name < $1.name }) where r.active {
            let def = r.def
            let dir = def.type == "logical" ? "/dev/" + PoolBackend.vg(def) : (def.targetPath ?? "")
            let parent = StorageFiles.parent(wanted)
            guard parent == dir || parent == Self.canonical(dir) else { continue }
            let name = StorageFiles.lastComponent(wanted)
            if let e = try? await entry(r, name: name) { return StorageVolRef(pool: r.name, name: e.name, key: e.path) }
        }
        return nil
    }

    static func canonical(_ path: String) -> String {
        guard let p = realpath(path, nil) else { return path }
        defer { free(p) }
        return String(cString: p)
    }

    public func lookupStorageVolume(key: String) async throws -> StorageVolRef {
        guard let v = await find(path: key) else { throw VirError.noStorageVol(key: key) }
        return v
    }

    public func lookupStorageVolume(path: String) async throws -> StorageVolRef {
        guard let v = await find(path: path) else { throw VirError.noStorageVol(path: path) }
        return v
    }

    /// The running domain using a volume, if any.
    func user(of e: VolEntry, pool: String) async -> String? {
        guard let uses = await usageProvider?() else { return nil }
        let real = Self.canonical(e.path)
        return uses.first { u in
            (u.pool == pool && u.volume == e.name) || u.path.map { $0 == e.path || Self.canonical($0) == real } == true
        }?.domain
    }

    // MARK: Create

    func parseVolume(_ xml: String) throws -> StorageVolume {
        do { return try StorageVolume(xml: xml) } catch { throw Self.xmlError(error) }
    }

    public func createStorageVolume(_ pool: StoragePoolRef, xml: String, flags: StorageVolCreateFlags) async throws -> StorageVolRef {
        let vol = try parseVolume(xml)
        let r = try activeRecord(pool)
        return try await create(in: r, vol, flags: flags, from: nil)
    }

    public func createStorageVolume(_ pool: StoragePoolRef, xml: String, from source: StorageVolRef,
                                    flags: StorageVolCreateFlags) async throws -> StorageVolRef {
        let vol = try parseVolume(xml)
        let r = try activeRecord(pool)
        let (_, src) = try await resolve(source)
        return try await create(in: r, vol, flags: flags, from: src)
    }

    /// What a new volume is built from: nothing, or a source to copy (and convert).
    struct CopySource { var path: String; var format: String; var capacity: UInt64 }

    func create(in r: PoolRecord, _ newVolume: StorageVolume, flags: StorageVolCreateFlags, from: VolEntry?) async throws -> StorageVolRef {
        let def = r.def
        var vol = newVolume
        var source: CopySource?
        if let from {
            guard let info = VolumeFiles.describe(name: from.name, path: from.path) else { throw VirError.noStorageVol(name: from.name) }
            // An ISO image is raw bytes to qemu-img.
            let format = info.format.flatMap { $0 == "iso" ? "raw" : $0 } ?? "raw"
            source = CopySource(path: from.path, format: format, capacity: info.capacity ?? 0)
        }
        // A copy is standalone (convert reads through the source's backing chain), so the
        // backing store that `vol-clone` carries over from the source's XML is left out.
        if source != nil { vol.backingStore = nil }
        let path = try volumePath(def, vol.name)
        if def.type == "logical" {
            return try await createLV(r, vol, path: path, source: source)
        }
        let format = vol.format.flatMap { $0 == "iso" && source != nil ? "raw" : $0 } ?? source?.format ?? "raw"
        guard ["raw", "qcow2", "qed", "vmdk", "vdi", "vpc", "vhdx"].contains(format) else {
            throw VirError(.noSupport, "this function is not supported by the connection driver: creating a volume in format '\(format)'", domain: .storage)
        }
        if flags.contains(.preallocMetadata) && format != "qcow2" {
            throw VirError(.configUnsupported, "unsupported configuration: metadata preallocation is not supported for \(format) volumes", domain: .storage)
        }
        if vol.backingStore != nil && format == "raw" {
            throw VirError(.configUnsupported, "unsupported configuration: backing storage not supported for raw volumes", domain: .storage)
        }
        let dir = try PoolBackend.target(def)
        let tmp = dir + "/" + Self.tempPrefix + vol.name
        let fd = try await reserve(name: vol.name, path: path, tmp: tmp)
        defer { close(fd) }
        do {
            if let source {
                try await copy(source, to: tmp, format: format, capacity: max(vol.capacity ?? 0, source.capacity), flags: flags)
            } else if format == "raw" {
                try fillRaw(fd: fd, path: tmp, capacity: vol.capacity ?? 0, allocation: vol.allocation ?? 0)
            } else {
                try await createImage(tmp, vol, format: format, flags: flags)
            }
            try applyPermissions(tmp, vol.targetPermissions)
            guard link(tmp, path) == 0 else {
                if errno == EEXIST { throw Self.volExists(vol.name) }
                throw StorageFiles.systemError("cannot create volume '\(path)'")
            }
        } catch {
            unlink(tmp)
            throw error
        }
        unlink(tmp)
        return StorageVolRef(pool: r.name, name: vol.name, key: path)
    }

    /// Claims a volume name: under the storage lock, no volume by that name and no live creator.
    /// Returns the temp file's descriptor, flocked for as long as the creation runs.
    func reserve(name: String, path: String, tmp: String) async throws -> Int32 {
        try await withLock {
            guard !StorageFiles.exists(path) else { throw Self.volExists(name) }
            for _ in 0..<2 {
                let fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                if fd >= 0 {
                    flock(fd, LOCK_EX | LOCK_NB)
                    return fd
                }
                guard errno == EEXIST else { throw StorageFiles.systemError("cannot create volume '\(path)'") }
                // A temp nobody holds is a crashed creator's: take it over.
                guard let stale = try StorageLock.tryAcquire(tmp) else { throw Self.volExists(name) }
                unlink(tmp)
                stale.release()
            }
            throw Self.volExists(name)
        }
    }

    /// Removes temps of creators that died (called with the storage lock held).
    func removeStaleTemps(_ def: StoragePool) throws {
        guard def.type != "logical", let dir = def.targetPath else { return }
        for n in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where n.hasPrefix(Self.tempPrefix) {
            let p = dir + "/" + n
            if let lock = try? StorageLock.tryAcquire(p) {
                unlink(p)
                lock.release()
            }
        }
    }

    /// A raw file: sparse at `capacity`, with the first `allocation` bytes allocated (libvirt's rule).
    func fillRaw(fd: Int32, path: String, capacity: UInt64, allocation: UInt64) throws {
        guard ftruncate(fd, off_t(capacity)) == 0 else { throw StorageFiles.systemError("cannot resize '\(path)'") }
        let alloc = min(allocation, capacity)
        if alloc > 0 { try preallocate(fd: fd, path: path, from: 0, length: alloc) }
        guard fsync(fd) == 0 else { throw StorageFiles.systemError("cannot sync '\(path)'") }
    }

    func preallocate(fd: Int32, path: String, from: UInt64, length: UInt64) throws {
        // glibc falls back to writing zeros where the filesystem lacks fallocate.
        let rc = posix_fallocate(fd, off_t(from), off_t(length))
        guard rc == 0 else { throw StorageFiles.systemError("cannot allocate \(length) bytes for file '\(path)'", rc) }
    }

    func createImage(_ tmp: String, _ vol: StorageVolume, format: String, flags: StorageVolCreateFlags) async throws {
        var argv = ["qemu-img", "create", "-q", "-f", format]
        var options: [String] = []
        if format == "qcow2" {
            options.append("compat=" + (vol.compat ?? "1.1"))
            if flags.contains(.preallocMetadata) { options.append("preallocation=metadata") }
        }
        if let b = vol.backingStore {
            let backing = b.path
            guard StorageFiles.exists(backing) else {
                throw VirError(.noStorageVol, "Storage volume not found: backing store '\(backing)' does not exist", domain: .storage)
            }
            argv += ["-b", backing, "-F", b.format ?? VolumeFiles.probeFormat(backing)]
        }
        if !options.isEmpty { argv += ["-o", options.joined(separator: ",")] }
        argv.append(tmp)
        if let c = vol.capacity { argv.append(String(c)) }
        try await Tool.check(argv)
    }

    func copy(_ source: CopySource, to dest: String, format: String, capacity: UInt64, flags: StorageVolCreateFlags,
              existingTarget: Bool = false) async throws {
        var argv = ["qemu-img", "convert", "-q", "-f", source.format, "-O", format]
        if existingTarget { argv.append("-n") }
        if flags.contains(.preallocMetadata) && format == "qcow2" { argv += ["-o", "preallocation=metadata"] }
        try await Tool.check(argv + [source.path, dest])
        if capacity > source.capacity && !existingTarget {
            try await Tool.check(["qemu-img", "resize", "-q", "-f", format, dest, String(capacity)])
        }
    }

    func applyPermissions(_ path: String, _ perms: StoragePermissions?) throws {
        // libvirt's default mode for a new volume is 0600.
        guard chmod(path, mode_t(perms?.mode ?? 0o600)) == 0 else { throw StorageFiles.systemError("cannot set mode of '\(path)'") }
        let owner = perms?.owner.map { uid_t($0) } ?? uid_t.max
        let group = perms?.group.map { gid_t($0) } ?? gid_t.max
        if owner != uid_t.max || group != gid_t.max, chown(path, owner, group) != 0 {
            throw StorageFiles.systemError("cannot chown '\(path)'")
        }
    }

    func createLV(_ r: PoolRecord, _ vol: StorageVolume, path: String, source: CopySource?) async throws -> StorageVolRef {
        let vg = PoolBackend.vg(r.def)
        if vol.backingStore != nil {
            throw VirError(.configUnsupported, "unsupported configuration: backing storage not supported for logical volumes", domain: .storage)
        }
        // A copy is at least as large as its source (vol-clone passes the source's own capacity or 0).
        let capacity = max(vol.capacity ?? 0, source?.capacity ?? 0)
        guard capacity > 0 else {
            throw VirError(.xmlError, "XML error: missing capacity element", domain: .storage)
        }
        try PoolBackend.requireLVM()
        let tmpName = Self.lvTempPrefix + vol.name
        // The LV name is the lock: lvcreate refuses a name that exists, in any process.
        try await withLock {
            guard !StorageFiles.exists(path) else { throw Self.volExists(vol.name) }
            let r = try await Tool.run(["lvcreate", "--yes", "-Wy", "-n", tmpName, "-L", "\(capacity)b", vg])
            guard r.status == 0 else {
                if r.stderr.contains("already exists") { throw Self.volExists(vol.name) }
                throw VirError(.internalError, "internal error: lvcreate failed: \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))", domain: .storage)
            }
        }
        do {
            if let source {
                try await copy(source, to: "/dev/\(vg)/\(tmpName)", format: "raw", capacity: capacity, flags: [], existingTarget: true)
            }
            let rn = try await Tool.run(["lvrename", vg, tmpName, vol.name])
            guard rn.status == 0 else {
                if rn.stderr.contains("already exists") { throw Self.volExists(vol.name) }
                throw VirError(.internalError, "internal error: lvrename failed: \(rn.stderr.trimmingCharacters(in: .whitespacesAndNewlines))", domain: .storage)
            }
        } catch {
            _ = try? await Tool.run(["lvremove", "-f", "\(vg)/\(tmpName)"])
            throw error
        }
        return StorageVolRef(pool: r.name, name: vol.name, key: path)
    }

    // MARK: Delete, wipe, resize

    public func deleteStorageVolume(_ vol: StorageVolRef, flags: StorageVolDeleteFlags) async throws {
        let (r, e) = try await resolve(vol)
        if let d = await user(of: e, pool: r.name) { throw Self.inUse(e.name, d) }
        if flags.contains(.zeroed) { try await wipeStorageVolume(vol, algorithm: .zero, flags: 0) }
        if r.def.type == "logical" {
            try await Tool.check(["lvremove", "-f", PoolBackend.vg(r.def) + "/" + e.name])
            return
        }
        if StorageFiles.isDirectory(e.path) {
            guard rmdir(e.path) == 0 else { throw StorageFiles.systemError("cannot remove directory '\(e.path)'") }
        } else {
            guard unlink(e.path) == 0 else { throw StorageFiles.systemError("cannot unlink file '\(e.path)'") }
        }
    }

    public func wipeStorageVolume(_ vol: StorageVolRef, algorithm: StorageVolWipeAlgorithm, flags: UInt32) async throws {
        guard algorithm == .zero else {
            throw VirError(.noSupport, "this function is not supported by the connection driver: wipe algorithm '\(algorithm.virshName)' (Corral implements zero)", domain: .storage)
        }
        let (r, e) = try await resolve(vol)
        if let d = await user(of: e, pool: r.name) { throw Self.inUse(e.name, d) }
        guard let info = VolumeFiles.describe(name: e.name, path: e.path) else { throw VirError.noStorageVol(name: e.name) }
        switch (info.type, info.format) {
        case ("file", "qcow2"?):
            // Zeroing a qcow2 file would destroy its header: give it a fresh, empty one of the same size and backing.
            var fresh = StorageVolume(name: e.name)
            fresh.capacity = info.capacity
            fresh.backingStore = info.backingStore
            try await createImage(e.path, fresh, format: "qcow2", flags: [])
        case ("file", _):
            let fd = open(e.path, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { throw StorageFiles.systemError("cannot open '\(e.path)'") }
            defer { close(fd) }
            let size = off_t(info.physical ?? 0)
            // Dropping the blocks zeroes the file and keeps it sparse.
            guard ftruncate(fd, 0) == 0, ftruncate(fd, size) == 0, fsync(fd) == 0 else {
                throw StorageFiles.systemError("cannot wipe '\(e.path)'")
            }
        case ("block", _):
            let fd = open(e.path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw StorageFiles.systemError("cannot open '\(e.path)'") }
            defer { close(fd) }
            try VolumeFiles.writeZeros(fd: fd, from: 0, to: info.capacity ?? 0, path: e.path)
            guard fsync(fd) == 0 else { throw StorageFiles.systemError("cannot sync '\(e.path)'") }
        default:
            throw VirError(.noSupport, "this function is not supported by the connection driver: wiping a \(info.type ?? "") volume", domain: .storage)
        }
    }

    public func resizeStorageVolume(_ vol: StorageVolRef, capacity: UInt64, flags: StorageVolResizeFlags) async throws {
        let (r, e) = try await resolve(vol)
        guard let info = VolumeFiles.describe(name: e.name, path: e.path), let current = info.capacity else {
            throw VirError.noStorageVol(name: e.name)
        }
        var wanted = capacity
        if flags.contains(.delta) {
            if flags.contains(.shrink) {
                guard capacity <= current else {
                    throw VirError(.invalidArg, "invalid argument: can't shrink capacity below zero", domain: .storage)
                }
                wanted = current - capacity
            } else {
                let (sum, overflow) = current.addingReportingOverflow(capacity)
                guard !overflow else { throw VirError(.invalidArg, "invalid argument: capacity overflows", domain: .storage) }
                wanted = sum
            }
        }
        // The size comes from the client; files and devices are addressed with off_t.
        guard wanted <= UInt64(Int64.max) else {
            throw VirError(.invalidArg, "invalid argument: capacity \(wanted) is too large", domain: .storage)
        }
        if wanted < current {
            // libvirt's checks, in its order.
            if wanted < info.allocation ?? 0 && info.format != "qcow2" {
                throw VirError(.invalidArg, "invalid argument: can't shrink capacity below existing allocation", domain: .storage)
            }
            guard flags.contains(.shrink) else {
                throw VirError(.invalidArg, "invalid argument: Can't shrink capacity below current capacity unless shrink flag explicitly specified", domain: .storage)
            }
            if let d = await user(of: e, pool: r.name) { throw Self.inUse(e.name, d) }
        }
        if wanted == current { return }
        switch (info.type, info.format) {
        case ("file", "qcow2"?):
            guard !flags.contains(.allocate) else {
                throw VirError(.operationUnsupported, "Operation not supported: preallocate is only supported for raw type volume", domain: .storage)
            }
            try await Tool.check(["qemu-img", "resize", "-q", "-f", "qcow2"] + (wanted < current ? ["--shrink"] : []) + [e.path, String(wanted)])
        case ("file", _):
            let fd = open(e.path, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { throw StorageFiles.systemError("cannot open '\(e.path)'") }
            defer { close(fd) }
            guard ftruncate(fd, off_t(wanted)) == 0 else { throw StorageFiles.systemError("cannot resize '\(e.path)'") }
            if flags.contains(.allocate) && wanted > current {
                try preallocate(fd: fd, path: e.path, from: current, length: wanted - current)
            }
            guard fsync(fd) == 0 else { throw StorageFiles.systemError("cannot sync '\(e.path)'") }
        case ("block", _) where r.def.type == "logical":
            try await Tool.check(["lvresize", "-f", "-L", "\(wanted)b", PoolBackend.vg(r.def) + "/" + e.name])
        default:
            throw VirError(.noSupport, "this function is not supported by the connection driver: resizing a \(info.type ?? "") volume", domain: .storage)
        }
    }

    // MARK: Queries

    public func storageVolumeInfo(_ vol: StorageVolRef) async throws -> StorageVolInfo {
        let (_, e) = try await resolve(vol)
        guard let v = VolumeFiles.describe(name: e.name, path: e.path) else { throw VirError.noStorageVol(name: e.name) }
        let type = StorageVolType.allCases.first { $0.virshName == v.type } ?? .file
        return StorageVolInfo(type: type, capacity: v.capacity ?? 0, allocation: v.allocation ?? 0)
    }

    public func storageVolumeXML(_ vol: StorageVolRef, flags: UInt32) async throws -> String {
        let (_, e) = try await resolve(vol)
        guard let v = VolumeFiles.describe(name: e.name, path: e.path) else { throw VirError.noStorageVol(name: e.name) }
        return v.formatXML()
    }

    public func storageVolumePath(_ vol: StorageVolRef) async throws -> String {
        try await resolve(vol).1.path
    }

    /// For `<disk type='volume'>`: the volume's path, its format and whether it is a block device.
    public func resolveDiskVolume(pool: String, volume: String) async throws -> (path: String, format: String?, isBlock: Bool) {
        let r = try record(named: pool)
        guard r.active else {
            throw VirError(.operationInvalid, "Requested operation is not valid: storage pool '\(pool)' containing volume '\(volume)' is not active", domain: .storage)
        }
        let e = try await entry(r, name: volume)
        guard let v = VolumeFiles.describe(name: e.name, path: e.path) else { throw VirError.noStorageVol(name: volume) }
        if v.type == "dir" {
            throw VirError(.configUnsupported, "unsupported configuration: volume '\(volume)' in pool '\(pool)' is a directory, not a disk image", domain: .storage)
        }
        return (e.path, v.type == "block" ? "raw" : v.format, v.type == "block")
    }

    // MARK: Streams

    public func uploadStorageVolume(_ vol: StorageVolRef, offset: UInt64, length: UInt64,
                                    flags: StorageVolTransferFlags) async throws -> any ByteStream {
        let (r, e) = try await resolve(vol)
        if let d = await user(of: e, pool: r.name) { throw Self.inUse(e.name, d) }
        return try VolumeUploadStream(path: e.path, offset: offset, length: length)
    }

    public func downloadStorageVolume(_ vol: StorageVolRef, offset: UInt64, length: UInt64,
                                      flags: StorageVolTransferFlags) async throws -> any ByteStream {
        let (_, e) = try await resolve(vol)
        return try VolumeDownloadStream(path: e.path, offset: offset, length: length)
    }
}
