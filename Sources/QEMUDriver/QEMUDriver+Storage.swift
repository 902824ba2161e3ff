import Foundation
import DomainXML
import Hypervisor
import Storage

// The StorageDriver entry points, forwarded to the root's StorageManager, and `<disk type='volume'>`
// resolved to the volume's path and format when a domain starts (or its argv is shown).

extension QEMUDriver {
    /// The storage manager, told (each call, cheaply) how to learn which disks running domains use.
    func storageManager() async -> StorageManager {
        await storage.setUsageProvider { [weak self] in await self?.volumeUses() ?? [] }
        return storage
    }

    /// For the daemon's start: on the very first start defines the `default` dir pool
    /// (ROOT/lib/images, autostart), as virt-install does on first use. True when it did.
    public func defineDefaultPoolIfFirstStart() async throws -> Bool {
        try await storageManager().defineDefaultPool()
    }

    /// Starts every autostart pool (building a missing dir pool's directory); returns the pools
    /// that failed with their errors, for the daemon's log.
    public func autostartPools() async -> [String: String] {
        await storageManager().autostartPools()
    }

    /// The disks of running domains, from their live XML.
    func volumeUses() -> [VolumeUse] {
        var uses: [VolumeUse] = []
        for e in loadEntries() where e.isActive {
            for disk in e.live?.devices.disks ?? [] {
                if disk.type == "volume" {
                    let attrs = disk.sourceExtra.attributes
                    uses.append(VolumeUse(domain: e.name, pool: attrs.first { $0.name == "pool" }?.value,
                                          volume: attrs.first { $0.name == "volume" }?.value))
                } else if let path = disk.sourcePath {
                    uses.append(VolumeUse(domain: e.name, path: path))
                }
            }
        }
        return uses
    }

    /// `def` with every `<disk type='volume'>` turned into the file or block disk it stands for;
    /// the driver type comes from the volume when the XML gives none.
    func resolvingVolumes(_ def: Domain) async throws -> Domain {
        guard def.devices.disks.contains(where: { $0.type == "volume" }) else { return def }
        var out = def
        for (i, disk) in def.devices.disks.enumerated() where disk.type == "volume" {
            out.devices.disks[i] = try await resolvingVolume(disk)
        }
        return out
    }

    /// One `<disk type='volume'>` as the file or block disk it stands for (others unchanged).
    func resolvingVolume(_ disk: Disk) async throws -> Disk {
        guard disk.type == "volume" else { return disk }
        let attrs = disk.sourceExtra.attributes
        guard let pool = attrs.first(where: { $0.name == "pool" })?.value,
              let volume = attrs.first(where: { $0.name == "volume" })?.value else {
            if disk.sourceExtra.isEmpty && (disk.device == "cdrom" || disk.device == "floppy") { return disk }
            throw VirError(.xmlError, "XML error: disk '\(disk.targetDev)': <source> of a volume disk needs pool and volume attributes", domain: .domain)
        }
        let (path, format, isBlock) = try await storageManager().resolveDiskVolume(pool: pool, volume: volume)
        var d = disk
        d.type = isBlock ? "block" : "file"
        d.sourcePath = path
        d.sourceExtra.attributes.removeAll { $0.name == "pool" || $0.name == "volume" || $0.name == "mode" }
        if d.driverType == nil { d.driverType = format == "iso" ? "raw" : format }
        return d
    }

    public func listAllStoragePools(flags: ListStoragePoolsFlags) async throws -> [StoragePoolRef] {
        return try await storageManager().listAllStoragePools(flags: flags)
    }

    public func lookupStoragePool(name: String) async throws -> StoragePoolRef {
        return try await storageManager().lookupStoragePool(name: name)
    }

    public func lookupStoragePool(uuid: UUID) async throws -> StoragePoolRef {
        return try await storageManager().lookupStoragePool(uuid: uuid)
    }

    public func lookupStoragePool(volume: StorageVolRef) async throws -> StoragePoolRef {
        return try await storageManager().lookupStoragePool(volume: volume)
    }

    public func defineStoragePool(xml: String, flags: UInt32) async throws -> StoragePoolRef {
        return try await storageManager().defineStoragePool(xml: xml, flags: flags)
    }

    public func createStoragePool(xml: String, flags: StoragePoolCreateFlags) async throws -> StoragePoolRef {
        return try await storageManager().createStoragePool(xml: xml, flags: flags)
    }

    public func buildStoragePool(_ pool: StoragePoolRef, flags: StoragePoolBuildFlags) async throws {
        try await storageManager().buildStoragePool(pool, flags: flags)
    }

    public func startStoragePool(_ pool: StoragePoolRef, flags: StoragePoolCreateFlags) async throws {
        try await storageManager().startStoragePool(pool, flags: flags)
    }

    public func destroyStoragePool(_ pool: StoragePoolRef) async throws {
        try await storageManager().destroyStoragePool(pool)
    }

    public func deleteStoragePool(_ pool: StoragePoolRef, flags: UInt32) async throws {
        try await storageManager().deleteStoragePool(pool, flags: flags)
    }

    public func undefineStoragePool(_ pool: StoragePoolRef) async throws {
        try await storageManager().undefineStoragePool(pool)
    }

    public func refreshStoragePool(_ pool: StoragePoolRef, flags: UInt32) async throws {
        try await storageManager().refreshStoragePool(pool, flags: flags)
    }

    public func storagePoolInfo(_ pool: StoragePoolRef) async throws -> StoragePoolInfo {
        return try await storageManager().storagePoolInfo(pool)
    }

    public func storagePoolXML(_ pool: StoragePoolRef, flags: StorageXMLFlags) async throws -> String {
        return try await storageManager().storagePoolXML(pool, flags: flags)
    }

    public func storagePoolAutostart(_ pool: StoragePoolRef) async throws -> Bool {
        return try await storageManager().storagePoolAutostart(pool)
    }

    public func setStoragePoolAutostart(_ pool: StoragePoolRef, _ on: Bool) async throws {
        try await storageManager().setStoragePoolAutostart(pool, on)
    }

    public func storagePoolIsActive(_ pool: StoragePoolRef) async throws -> Bool {
        return try await storageManager().storagePoolIsActive(pool)
    }

    public func storagePoolIsPersistent(_ pool: StoragePoolRef) async throws -> Bool {
        return try await storageManager().storagePoolIsPersistent(pool)
    }

    public func listAllStorageVolumes(_ pool: StoragePoolRef, flags: UInt32) async throws -> [StorageVolRef] {
        return try await storageManager().listAllStorageVolumes(pool, flags: flags)
    }

    public func lookupStorageVolume(pool: StoragePoolRef, name: String) async throws -> StorageVolRef {
        return try await storageManager().lookupStorageVolume(pool: pool, name: name)
    }

    public func lookupStorageVolume(key: String) async throws -> StorageVolRef {
        return try await storageManager().lookupStorageVolume(key: key)
    }

    public func lookupStorageVolume(path: String) async throws -> StorageVolRef {
        return try await storageManager().lookupStorageVolume(path: path)
    }

    public func createStorageVolume(_ pool: StoragePoolRef, xml: String, flags: StorageVolCreateFlags) async throws -> StorageVolRef {
        return try await storageManager().createStorageVolume(pool, xml: xml, flags: flags)
    }

    public func createStorageVolume(_ pool: StoragePoolRef, xml: String, from source: StorageVolRef,
                                    flags: StorageVolCreateFlags) async throws -> StorageVolRef {
        return try await storageManager().createStorageVolume(pool, xml: xml, from: source, flags: flags)
    }

    public func deleteStorageVolume(_ vol: StorageVolRef, flags: StorageVolDeleteFlags) async throws {
        try await storageManager().deleteStorageVolume(vol, flags: flags)
    }

    public func wipeStorageVolume(_ vol: StorageVolRef, algorithm: StorageVolWipeAlgorithm, flags: UInt32) async throws {
        try await storageManager().wipeStorageVolume(vol, algorithm: algorithm, flags: flags)
    }

    public func storageVolumeInfo(_ vol: StorageVolRef) async throws -> StorageVolInfo {
        return try await storageManager().storageVolumeInfo(vol)
    }

    public func storageVolumeXML(_ vol: StorageVolRef, flags: UInt32) async throws -> String {
        return try await storageManager().storageVolumeXML(vol, flags: flags)
    }

    public func storageVolumePath(_ vol: StorageVolRef) async throws -> String {
        return try await storageManager().storageVolumePath(vol)
    }

    public func resizeStorageVolume(_ vol: StorageVolRef, capacity: UInt64, flags: StorageVolResizeFlags) async throws {
        try await storageManager().resizeStorageVolume(vol, capacity: capacity, flags: flags)
    }

    public func uploadStorageVolume(_ vol: StorageVolRef, offset: UInt64, length: UInt64,
                                    flags: StorageVolTransferFlags) async throws -> any ByteStream {
        return try await storageManager().uploadStorageVolume(vol, offset: offset, length: length, flags: flags)
    }

    public func downloadStorageVolume(_ vol: StorageVolRef, offset: UInt64, length: UInt64,
                                      flags: StorageVolTransferFlags) async throws -> any ByteStream {
        return try await storageManager().downloadStorageVolume(vol, offset: offset, length: length, flags: flags)
    }
}
