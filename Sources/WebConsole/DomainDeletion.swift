import DomainXML
import Foundation
import Hypervisor

/// virt-manager's "Delete" (with "Delete associated storage files"): force the guest off,
/// undefine it with its NVRAM and metadata, then remove the disks that belonged to it alone.
enum DomainDeletion {
    /// virDomainUndefineFlagsValues: MANAGED_SAVE | SNAPSHOTS_METADATA | NVRAM | CHECKPOINTS_METADATA,
    /// what virt-manager passes so that a guest with UEFI vars or a saved state can go.
    static let undefineFlags: UInt32 = 1 | 2 | 4 | 16

    /// A disk that may be deleted with the guest.
    enum DiskSource: Equatable {
        case path(String)
        case volume(pool: String, name: String)

        var label: String {
            switch self {
            case .path(let p): p
            case .volume(let pool, let name): "\(pool)/\(name)"
            }
        }
    }

    /// Returns what could not be done (the guest itself is gone when this returns).
    static func delete(_ d: any HypervisorDriver, _ ref: DomainRef, storage: Bool, localHost: Bool) async throws -> [String] {
        var warnings: [String] = []
        var disks: [DiskSource] = []
        if storage {
            // Both definitions: a disk hot-plugged live only, or one in the config only, is still the guest's.
            for flags in [DomainXMLFlags.inactive, []] {
                guard let xml = try? await d.domainXML(ref, flags: flags), let def = try? Domain(xml: xml) else { continue }
                for disk in ownDisks(def) where !disks.contains(disk) { disks.append(disk) }
            }
            // Compared as paths too: one guest may name a disk by pool/volume, another by its file.
            let shared = await usedElsewhere(d, except: ref)
            var sharedPaths = Set<String>()
            for s in shared { if let p = await path(d, s) { sharedPaths.insert(p) } }
            var keep: [DiskSource] = []
            for disk in disks {
                if shared.contains(disk) { keep.append(disk); continue }
                if let p = await path(d, disk), sharedPaths.contains(p) { keep.append(disk) }
            }
            disks.removeAll { disk in
                guard keep.contains(disk) else { return false }
                warnings.append("kept \(disk.label): another guest uses it")
                return true
            }
        }

        let st = try await d.domainState(ref).state
        if st != .shutoff && st != .noState {
            try await d.destroyDomain(ref, flags: 0)
        }
        if try await isPersistent(d, ref) {
            do {
                try await d.undefineDomain(ref, flags: undefineFlags)
            } catch let e as VirError where e.code == .invalidArg || e.code == .noSupport {
                // An older host that knows none of these flags: plain undefine.
                try await d.undefineDomain(ref, flags: 0)
            }
        }

        for disk in disks {
            if let problem = await deleteDisk(d, disk, localHost: localHost) { warnings.append(problem) }
        }
        return warnings
    }

    /// The file behind a disk: a volume's path from its pool, a path as written (standardized).
    private static func path(_ d: any HypervisorDriver, _ disk: DiskSource) async -> String? {
        switch disk {
        case .path(let p):
            return URL(fileURLWithPath: p).standardizedFileURL.path
        case .volume(let pool, let name):
            guard let p = try? await d.lookupStoragePool(name: pool),
                  let v = try? await d.lookupStorageVolume(pool: p, name: name),
                  let path = try? await d.storageVolumePath(v) else { return nil }
            return URL(fileURLWithPath: path).standardizedFileURL.path
        }
    }

    /// A transient guest vanished when it was destroyed: nothing to undefine.
    private static func isPersistent(_ d: any HypervisorDriver, _ ref: DomainRef) async throws -> Bool {
        do { return try await d.isPersistent(ref) } catch let e as VirError where e.code == .noDomain { return false }
    }

    /// Writable hard disks: never CD-ROM or floppy media, never read-only or shareable disks.
    static func ownDisks(_ def: Domain) -> [DiskSource] {
        def.devices.disks.compactMap { disk in
            guard disk.device == "disk", !disk.readonly, !disk.shareable else { return nil }
            if disk.type == "volume" {
                let a = disk.sourceExtra.attributes
                guard let pool = a.first(where: { $0.name == "pool" })?.value,
                      let vol = a.first(where: { $0.name == "volume" })?.value else { return nil }
                return .volume(pool: pool, name: vol)
            }
            guard disk.type == "file" || disk.type == "block", let path = disk.sourcePath, !path.isEmpty else { return nil }
            return .path(path)
        }
    }

    /// Disks any other guest on the connection refers to.
    private static func usedElsewhere(_ d: any HypervisorDriver, except ref: DomainRef) async -> [DiskSource] {
        var used: [DiskSource] = []
        for other in (try? await d.listAllDomains(flags: [])) ?? [] where other.uuid != ref.uuid {
            for flags in [DomainXMLFlags.inactive, []] {
                guard let xml = try? await d.domainXML(other, flags: flags), let def = try? Domain(xml: xml) else { continue }
                for disk in def.devices.disks {
                    if let p = disk.sourcePath { used.append(.path(p)) }
                    let a = disk.sourceExtra.attributes
                    if let pool = a.first(where: { $0.name == "pool" })?.value, let vol = a.first(where: { $0.name == "volume" })?.value {
                        used.append(.volume(pool: pool, name: vol))
                    }
                }
            }
        }
        return used
    }

    /// Deletes one disk through the storage API; on the daemon's own host, a file inside a pool's
    /// directory that the pool does not list (yet) is unlinked. Anything else is left alone.
    static func deleteDisk(_ d: any HypervisorDriver, _ disk: DiskSource, localHost: Bool) async -> String? {
        do {
            let vol: StorageVolRef
            switch disk {
            case .volume(let poolName, let name):
                vol = try await d.lookupStorageVolume(pool: try await d.lookupStoragePool(name: poolName), name: name)
            case .path(let path):
                if let found = try? await d.lookupStorageVolume(path: path) {
                    vol = found
                } else if let found = try await volumeAfterRefresh(d, path) {
                    vol = found
                } else if localHost, try await !poolsContaining(d, path).isEmpty {
                    var st = stat()
                    guard lstat(path, &st) == 0 else { return nil }  // already gone
                    guard (st.st_mode & S_IFMT) == S_IFREG else { return "kept \(path): not a regular file" }
                    guard unlink(path) == 0 else { return "could not delete \(path): \(String(cString: strerror(errno)))" }
                    return nil
                } else {
                    return "kept \(path): it is not a volume of a storage pool"
                }
            }
            try await d.deleteStorageVolume(vol, flags: [])
            return nil
        } catch {
            return "could not delete \(disk.label): \(APIError.mapping(error).message)"
        }
    }

    /// Active pools whose directory holds `path`: refreshed, so a file created behind the pool's
    /// back becomes a volume that can be deleted the proper way.
    private static func volumeAfterRefresh(_ d: any HypervisorDriver, _ path: String) async throws -> StorageVolRef? {
        for pool in try await poolsContaining(d, path) where (try? await d.storagePoolIsActive(pool)) == true {
            try? await d.refreshStoragePool(pool, flags: 0)
            if let vol = try? await d.lookupStorageVolume(path: path) { return vol }
        }
        return nil
    }

    /// Pools whose target directory contains `path` (after resolving symlinks and `..`, so a
    /// path cannot step out of the pool by spelling).
    private static func poolsContaining(_ d: any HypervisorDriver, _ path: String) async throws -> [StoragePoolRef] {
        let file = canonical(path)
        var out: [StoragePoolRef] = []
        for pool in (try? await d.listAllStoragePools(flags: [])) ?? [] {
            guard let xml = try? await d.storagePoolXML(pool, flags: []), let def = try? StoragePool(xml: xml),
                  let target = def.targetPath, target.hasPrefix("/") else { continue }
            let dir = canonical(target)
            if dir != "/" && file.hasPrefix(dir + "/") { out.append(pool) }
        }
        return out
    }

    static func canonical(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }
}
