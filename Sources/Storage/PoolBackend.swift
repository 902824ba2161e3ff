import Foundation
import DomainXML
import Hypervisor

// Pool types: what build, start, stop, delete and sizes mean for dir, fs and logical pools.

enum Mounts {
    /// Mount points from /proc/self/mountinfo (field 5, with octal escapes undone).
    static func mountPoints() -> Set<String> {
        guard let text = StorageFiles.read("/proc/self/mountinfo") else { return [] }
        var out = Set<String>()
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count > 4 { out.insert(unescape(String(fields[4]))) }
        }
        return out
    }

    static func isMountPoint(_ path: String) -> Bool { mountPoints().contains(path) }

    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var bytes: [UInt8] = []
        let u = Array(s.utf8)
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "\\"), i + 3 < u.count, let v = UInt8(String(decoding: u[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                bytes.append(v); i += 4
            } else {
                bytes.append(u[i]); i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

enum PoolBackend {
    static func fail(_ message: String) -> VirError { VirError(.operationFailed, "operation failed: \(message)", domain: .storage) }
    static func invalid(_ message: String) -> VirError { VirError(.operationInvalid, "Requested operation is not valid: \(message)", domain: .storage) }

    static func target(_ def: StoragePool) throws -> String {
        guard let t = def.targetPath else { throw VirError(.xmlError, "XML error: missing storage pool target path", domain: .storage) }
        return t
    }

    static func vg(_ def: StoragePool) -> String { def.source.name ?? def.name }

    // MARK: build / delete

    static func build(_ def: StoragePool, flags: StoragePoolBuildFlags) async throws {
        switch def.type {
        case "dir":
            try makeTarget(def)
        case "fs":
            try makeTarget(def)
            guard let dev = def.source.devices.first?.path else { throw fail("missing source device") }
            guard StorageFiles.exists(dev) else {
                throw VirError(.systemError, "Cannot access storage file '\(dev)': No such file or directory", domain: .storage)
            }
            // Like libvirt: without a flag, build only makes the mount point.
            guard flags.contains(.overwrite) || flags.contains(.noOverwrite) else { return }
            let format = def.source.format.flatMap { $0 == "auto" ? nil : $0 } ?? "ext4"
            if flags.contains(.noOverwrite), let existing = try await probeFilesystem(dev) {
                throw VirError(.storagePoolBuilt, "Storage pool already built: Device '\(dev)' already formatted using '\(existing)'", domain: .storage)
            }
            guard let mkfs = Tool.find("mkfs." + format) else {
                throw VirError(.internalError, "internal error: cannot build pool: mkfs.\(format) is not installed", domain: .storage)
            }
            // Each mkfs spells "do not ask, overwrite" differently.
            var argv = [mkfs]
            switch format {
            case "ext2", "ext3", "ext4": argv += ["-F", "-q"]
            case "xfs": argv += ["-f", "-q"]
            default: break
            }
            try await Tool.check(argv + [dev])
        case "logical":
            let devices = def.source.devices.map(\.path)
            guard !devices.isEmpty else { throw fail("logical pool '\(def.name)' needs at least one source device to build") }
            try requireLVM()
            if flags.contains(.noOverwrite) {
                for d in devices {
                    if let existing = try await probeFilesystem(d) {
                        throw VirError(.storagePoolBuilt, "Storage pool already built: Device '\(d)' already formatted using '\(existing)'", domain: .storage)
                    }
                }
            }
            for d in devices {
                try await Tool.check(["pvcreate", "-ff", "-y", d])
            }
            try await Tool.check(["vgcreate", vg(def)] + devices)
        default:
            throw VirError(.noSupport, "this function is not supported by the connection driver: building a \(def.type) pool", domain: .storage)
        }
    }

    static func makeTarget(_ def: StoragePool) throws {
        let path = try target(def)
        var st = stat()
        if stat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                throw VirError(.systemError, "cannot create path '\(path)': File exists and is not a directory", domain: .storage)
            }
        } else {
            let parent = StorageFiles.parent(path)
            try StorageFiles.mkdirs(parent)
            // libvirt's default mode for a pool directory is 0711.
            let mode = mode_t(def.targetPermissions?.mode ?? 0o711)
            guard mkdir(path, mode) == 0 || errno == EEXIST else { throw StorageFiles.systemError("cannot create path '\(path)'") }
        }
        if let m = def.targetPermissions?.mode { chmod(path, mode_t(m)) }
        let owner = def.targetPermissions?.owner.map { uid_t($0) } ?? uid_t.max
        let group = def.targetPermissions?.group.map { gid_t($0) } ?? gid_t.max
        if owner != uid_t.max || group != gid_t.max, chown(path, owner, group) != 0 {
            throw StorageFiles.systemError("cannot chown '\(path)' to (\(Int(owner)), \(Int(group)))")
        }
    }

    static func delete(_ def: StoragePool) async throws {
        switch def.type {
        case "dir", "fs":
            let path = try target(def)
            guard rmdir(path) == 0 || errno == ENOENT else { throw StorageFiles.systemError("failed to remove pool '\(path)'") }
        case "logical":
            try requireLVM()
            try await Tool.check(["vgremove", "-f", vg(def)])
            for d in def.source.devices { try await Tool.check(["pvremove", "-y", d.path]) }
        default:
            throw VirError(.noSupport, "this function is not supported by the connection driver: deleting a \(def.type) pool", domain: .storage)
        }
    }

    // MARK: start / stop

    static func start(_ def: StoragePool) async throws {
        switch def.type {
        case "dir":
            try checkTargetDir(def)
        case "fs":
            try checkTargetDir(def)
            let path = try target(def)
            guard let dev = def.source.devices.first?.path else { throw fail("missing source device") }
            guard !Mounts.isMountPoint(path) else {
                throw fail("Target '\(path)' is already mounted")
            }
            var st = stat()
            guard stat(dev, &st) == 0 else {
                throw VirError(.systemError, "Cannot access storage file '\(dev)': No such file or directory", domain: .storage)
            }
            var argv = ["mount"]
            // An image file is mounted through a loop device, which umount frees again.
            if (st.st_mode & S_IFMT) == S_IFREG { argv += ["-o", "loop"] }
            if let f = def.source.format, f != "auto" { argv += ["-t", f] }
            try await Tool.check(argv + [dev, path])
        case "logical":
            try requireLVM()
            let r = try await Tool.run(["vgchange", "-aay", vg(def)])
            guard r.status == 0 else {
                throw VirError(.internalError, "internal error: cannot activate volume group '\(vg(def))': \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))", domain: .storage)
            }
        default:
            throw VirError(.noSupport, "this function is not supported by the connection driver: starting a \(def.type) pool", domain: .storage)
        }
    }

    static func checkTargetDir(_ def: StoragePool) throws {
        let path = try target(def)
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw VirError(.systemError, "cannot open directory '\(path)': No such file or directory", domain: .storage)
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw VirError(.systemError, "cannot open directory '\(path)': Not a directory", domain: .storage)
        }
    }

    static func stop(_ def: StoragePool) async throws {
        switch def.type {
        case "fs":
            let path = try target(def)
            if Mounts.isMountPoint(path) { try await Tool.check(["umount", path]) }
        case "logical":
            try requireLVM()
            try await Tool.check(["vgchange", "-an", vg(def)])
        default:
            break
        }
    }

    /// pool-refresh: the pool's storage must still be there.
    static func check(_ def: StoragePool) async throws {
        switch def.type {
        case "logical":
            try requireLVM()
            _ = try await sizes(def)
        default:
            try checkTargetDir(def)
        }
    }

    // MARK: sizes

    static func sizes(_ def: StoragePool) async throws -> (capacity: UInt64, allocation: UInt64, available: UInt64) {
        if def.type == "logical" {
            let out = try await Tool.check(["vgs", "--noheadings", "--units", "b", "--nosuffix", "--separator", ",",
                                            "-o", "vg_size,vg_free", vg(def)])
            let f = out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").compactMap { UInt64($0.trimmingCharacters(in: .whitespaces)) }
            guard f.count == 2 else { throw VirError(.internalError, "internal error: cannot parse vgs output '\(out)'", domain: .storage) }
            return (f[0], f[0] - min(f[0], f[1]), f[1])
        }
        let path = try target(def)
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { throw StorageFiles.systemError("cannot statvfs path '\(path)'") }
        let unit = UInt64(s.f_frsize)
        let capacity = UInt64(s.f_blocks) * unit
        return (capacity, (UInt64(s.f_blocks) - UInt64(s.f_bfree)) * unit, UInt64(s.f_bavail) * unit)
    }

    // MARK: helpers

    static func requireLVM() throws {
        guard Tool.find("lvm") != nil || Tool.find("vgs") != nil else {
            throw VirError(.internalError, "internal error: LVM tools are not installed (lvm2)", domain: .storage)
        }
    }

    /// The filesystem or signature on a device (blkid), nil when it has none.
    static func probeFilesystem(_ dev: String) async throws -> String? {
        let r = try await Tool.run(["blkid", "-p", "-o", "value", "-s", "TYPE", dev])
        let t = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return r.status == 0 && !t.isEmpty ? t : nil
    }
}
