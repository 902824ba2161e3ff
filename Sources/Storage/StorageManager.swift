import Foundation
import DomainXML
import Hypervisor

// Module Storage: libvirt's storage driver for one state root. Pool configs live in
// ROOT/etc/storage (NAME.xml, autostart/NAME.xml), runtime state in ROOT/run/storage (NAME.xml
// while a pool is active). Nothing is cached between calls: every `corral -c qemu:///embed?root=DIR`
// command is a new process, so the files are the truth and a flock on ROOT/run/storage/.lock
// serialises changes across processes. The QEMU driver owns one StorageManager and forwards the
// StorageDriver calls to it.

/// A disk of a running domain, for refusing to delete or shrink what a guest uses.
public struct VolumeUse: Sendable, Equatable {
    public var domain: String
    /// The disk's file or device, for file and block disks.
    public var path: String?
    /// For `<disk type='volume'>`.
    public var pool: String?
    public var volume: String?
    public init(domain: String, path: String? = nil, pool: String? = nil, volume: String? = nil) {
        self.domain = domain; self.path = path; self.pool = pool; self.volume = volume
    }
}

/// The pools and volumes of one state root.
public actor StorageManager {
    public let root: String
    let configDir: String
    let autostartDir: String
    let runDir: String
    /// Which disks running domains use (the QEMU driver answers from the live XMLs).
    var usageProvider: (@Sendable () async -> [VolumeUse])?
    var parsedPools: [String: (stamp: FileStamp, pool: StoragePool)] = [:]

    /// Prefix of a volume being created: hidden, and locked by its creator while it lives.
    static let tempPrefix = ".corral-new-"

    public init(root: String) {
        self.root = root
        configDir = root + "/etc/storage"
        autostartDir = root + "/etc/storage/autostart"
        runDir = root + "/run/storage"
    }

    public func setUsageProvider(_ provider: @escaping @Sendable () async -> [VolumeUse]) {
        usageProvider = provider
    }

    // MARK: Records on disk

    struct PoolRecord {
        var name: String
        var uuid: UUID
        /// The persistent config, if any.
        var config: StoragePool?
        /// The definition the pool was started with, while active.
        var live: StoragePool?
        var autostart: Bool
        var active: Bool { live != nil }
        var persistent: Bool { config != nil }
        /// What the pool runs as (live) or would start as (config).
        var def: StoragePool { live ?? config ?? StoragePool() }
        var ref: StoragePoolRef { StoragePoolRef(name: name, uuid: uuid) }
    }

    func configPath(_ name: String) -> String { configDir + "/" + name + ".xml" }
    func livePath(_ name: String) -> String { runDir + "/" + name + ".xml" }
    func autostartPath(_ name: String) -> String { autostartDir + "/" + name + ".xml" }
    var lockPath: String { runDir + "/.lock" }

    func ensureDirs() throws {
        try StorageFiles.mkdirs(autostartDir)
        try StorageFiles.mkdirs(runDir, mode: 0o700)
    }

    func withLock<T>(_ body: () async throws -> T) async throws -> T {
        try ensureDirs()
        let lock = try await StorageLock.acquire(lockPath)
        defer { lock.release() }
        return try await body()
    }

    static func parse(_ path: String) -> StoragePool? {
        guard let text = StorageFiles.read(path) else { return nil }
        return try? StoragePool(xml: text)
    }

    func xmlFiles(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { $0.hasSuffix(".xml") && !$0.hasPrefix(".") }.map { String($0.dropLast(4)) }
    }

    /// A pool XML file's identity and times: a rewrite (temp + rename) changes the inode, an edit in
    /// place the times.
    struct FileStamp: Equatable {
        var dev: UInt64, ino: UInt64, size: Int64, mtime: timespec, ctime: timespec
        static func == (a: FileStamp, b: FileStamp) -> Bool {
            a.dev == b.dev && a.ino == b.ino && a.size == b.size && a.mtime.tv_sec == b.mtime.tv_sec
                && a.mtime.tv_nsec == b.mtime.tv_nsec && a.ctime.tv_sec == b.ctime.tv_sec && a.ctime.tv_nsec == b.ctime.tv_nsec
        }
    }

    /// `parse(path)`, reused while the file is unchanged: every call looks its pool up, and
    /// re-parsing every pool's XML each time made calls slower with each pool defined.
    func parseCached(_ path: String) -> StoragePool? {
        var st = stat()
        guard stat(path, &st) == 0 else { parsedPools[path] = nil; return nil }
        let stamp = FileStamp(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino), size: Int64(st.st_size), mtime: st.st_mtim, ctime: st.st_ctim)
        if let hit = parsedPools[path], hit.stamp == stamp { return hit.pool }
        guard let pool = Self.parse(path) else { parsedPools[path] = nil; return nil }
        parsedPools[path] = (stamp, pool)
        return pool
    }

    func loadPools() -> [String: PoolRecord] {
        var out: [String: PoolRecord] = [:]
        let configs = xmlFiles(configDir), lives = xmlFiles(runDir)
        // Forget files that are gone (undefined pools, stopped ones).
        let present = Set(configs.map(configPath) + lives.map(livePath))
        parsedPools = parsedPools.filter { present.contains($0.key) }
        for name in configs {
            guard let def = parseCached(configPath(name)), def.name == name, let uuid = def.uuid else { continue }
            out[name] = PoolRecord(name: name, uuid: uuid, config: def, live: nil,
                                   autostart: StorageFiles.exists(autostartPath(name)))
        }
        for name in lives {
            guard let def = parseCached(livePath(name)), def.name == name, let uuid = def.uuid else { continue }
            // A mount that vanished (reboot, umount by hand) means the pool is no longer running.
            if def.type == "fs", let target = def.targetPath, !Mounts.isMountPoint(target) { continue }
            if out[name] != nil { out[name]?.live = def } else {
                out[name] = PoolRecord(name: name, uuid: uuid, config: nil, live: def, autostart: false)
            }
        }
        return out
    }

    func record(_ ref: StoragePoolRef) throws -> PoolRecord {
        let pools = loadPools()
        if let r = pools[ref.name], r.uuid == ref.uuid { return r }
        if let r = pools.values.first(where: { $0.uuid == ref.uuid }) { return r }
        throw VirError.noStoragePool(name: ref.name)
    }

    func record(named name: String) throws -> PoolRecord {
        guard let r = loadPools()[name] else { throw VirError.noStoragePool(name: name) }
        return r
    }

    static func notActive(_ name: String) -> VirError {
        VirError(.operationInvalid, "Requested operation is not valid: storage pool '\(name)' is not active", domain: .storage)
    }
    static func alreadyActive(_ name: String) -> VirError {
        VirError(.operationInvalid, "Requested operation is not valid: storage pool '\(name)' is already active", domain: .storage)
    }

    func activeRecord(_ ref: StoragePoolRef) throws -> PoolRecord {
        let r = try record(ref)
        guard r.active else { throw Self.notActive(r.name) }
        return r
    }

    // MARK: Pools

    public func listAllStoragePools(flags: ListStoragePoolsFlags) throws -> [StoragePoolRef] {
        let typeFlags: [(ListStoragePoolsFlags, String)] = [
            (.dir, "dir"), (.fs, "fs"), (.netfs, "netfs"), (.logical, "logical"), (.disk, "disk"), (.iscsi, "iscsi"),
            (.scsi, "scsi"), (.mpath, "mpath"), (.rbd, "rbd"), (.sheepdog, "sheepdog"), (.gluster, "gluster"),
            (.zfs, "zfs"), (.vstorage, "vstorage"), (.iscsiDirect, "iscsi-direct"),
        ]
        let wantedTypes = typeFlags.filter { flags.contains($0.0) }.map(\.1)
        return loadPools().values.filter { r in
            if flags.contains(.active) != flags.contains(.inactive) && flags.contains(.active) != r.active { return false }
            if flags.contains(.persistent) != flags.contains(.transient) && flags.contains(.persistent) != r.persistent { return false }
            if flags.contains(.autostart) != flags.contains(.noAutostart) && flags.contains(.autostart) != r.autostart { return false }
            return wantedTypes.isEmpty || wantedTypes.contains(r.def.type)
        }.sorted { $0.name < $1.name }.map(\.ref)
    }

    public func lookupStoragePool(name: String) throws -> StoragePoolRef { try record(named: name).ref }

    public func lookupStoragePool(uuid: UUID) throws -> StoragePoolRef {
        guard let r = loadPools().values.first(where: { $0.uuid == uuid }) else {
            throw VirError.noStoragePool(uuid: uuid.uuidString.lowercased())
        }
        return r.ref
    }

    public func lookupStoragePool(volume: StorageVolRef) throws -> StoragePoolRef {
        guard let r = loadPools()[volume.pool] else {
            throw VirError(.noStoragePool, "Storage pool not found: no storage pool with matching name '\(volume.pool)'", domain: .storage)
        }
        return r.ref
    }

    /// Parses pool XML for define/create: libvirt's checks plus "not supported yet" for types Corral cannot run.
    func parseNewPool(_ xml: String) throws -> StoragePool {
        var def: StoragePool
        do { def = try StoragePool(xml: xml) } catch { throw Self.xmlError(error) }
        guard StoragePool.supportedTypes.contains(def.type) else {
            throw VirError(.noSupport, "this function is not supported by the connection driver: storage pool type '\(def.type)' is not supported yet (Corral runs dir, fs and logical pools)", domain: .storage)
        }
        if let path = def.targetPath, def.type != "logical", path == "/" {
            throw VirError(.invalidArg, "invalid argument: pool target path '/' is not allowed", domain: .storage)
        }
        def.applyDefaults()
        return def
    }

    static func xmlError(_ e: DomainXMLError) -> VirError {
        let m = e.message
        if m.hasPrefix("unsupported configuration") { return VirError(.configUnsupported, m, domain: .storage) }
        return VirError(.xmlError, m.hasPrefix("XML error") ? m : "XML error: \(m)", domain: .storage)
    }

    /// libvirt's duplicate rules: a name belongs to one uuid and a uuid to one name.
    func checkDuplicate(_ def: StoragePool, pools: [String: PoolRecord], forCreate: Bool) throws {
        guard let uuid = def.uuid else { return }
        if let same = pools[def.name] {
            if same.uuid != uuid {
                throw VirError(.operationFailed, "operation failed: pool '\(def.name)' already exists with uuid \(same.uuid.uuidString.lowercased())", domain: .storage)
            }
            if forCreate && same.active {
                throw VirError(.operationInvalid, "Requested operation is not valid: pool is already active as '\(same.name)'", domain: .storage)
            }
        } else if let other = pools.values.first(where: { $0.uuid == uuid }) {
            throw VirError(.operationFailed, "operation failed: pool '\(other.name)' is already defined with uuid \(uuid.uuidString.lowercased())", domain: .storage)
        }
        // Two pools on one directory or volume group would each think they own its volumes.
        for other in pools.values where other.name != def.name {
            let o = other.def
            if o.type == def.type, def.type != "logical", let a = o.targetPath, a == def.targetPath {
                throw VirError(.operationFailed, "operation failed: Storage source conflict with pool: '\(other.name)'", domain: .storage)
            }
            if o.type == "logical", def.type == "logical", o.source.name == def.source.name {
                throw VirError(.operationFailed, "operation failed: Storage source conflict with pool: '\(other.name)'", domain: .storage)
            }
        }
    }

    public func defineStoragePool(xml: String, flags: UInt32) async throws -> StoragePoolRef {
        let def = try parseNewPool(xml)
        return try await withLock {
            let pools = loadPools()
            let d = def
            // Like libvirt, a redefinition must carry the pool's uuid (a new random one clashes).
            try checkDuplicate(d, pools: pools, forCreate: false)
            try StorageFiles.writeAtomically(d.formatXML(inactive: true), to: configPath(d.name))
            guard let uuid = d.uuid else { throw VirError(.internalError, "internal error: pool has no uuid", domain: .storage) }
            return StoragePoolRef(name: d.name, uuid: uuid)
        }
    }

    public func createStoragePool(xml: String, flags: StoragePoolCreateFlags) async throws -> StoragePoolRef {
        let def = try parseNewPool(xml)
        return try await withLock {
            let pools = loadPools()
            try checkDuplicate(def, pools: pools, forCreate: true)
            if pools[def.name] != nil {
                throw VirError(.operationFailed, "operation failed: pool '\(def.name)' already exists", domain: .storage)
            }
            if flags.contains(.build) || flags.contains(.buildOverwrite) || flags.contains(.buildNoOverwrite) {
                try await PoolBackend.build(def, flags: Self.buildFlags(flags))
            }
            try await PoolBackend.start(def)
            try StorageFiles.writeAtomically(def.formatXML(inactive: true), to: livePath(def.name))
            return StoragePoolRef(name: def.name, uuid: def.uuid ?? UUID())
        }
    }

    static func buildFlags(_ flags: StoragePoolCreateFlags) -> StoragePoolBuildFlags {
        var b: StoragePoolBuildFlags = []
        if flags.contains(.buildOverwrite) { b.insert(.overwrite) }
        if flags.contains(.buildNoOverwrite) { b.insert(.noOverwrite) }
        return b
    }

    public func buildStoragePool(_ pool: StoragePoolRef, flags: StoragePoolBuildFlags) async throws {
        guard !(flags.contains(.overwrite) && flags.contains(.noOverwrite)) else {
            throw VirError(.invalidArg, "invalid argument: flags 'overwrite' and 'no-overwrite' are mutually exclusive", domain: .storage)
        }
        try await withLock {
            let r = try record(pool)
            guard !r.active else {
                throw VirError(.operationInvalid, "Requested operation is not valid: storage pool '\(r.name)' is already active", domain: .storage)
            }
            try await PoolBackend.build(r.def, flags: flags)
        }
    }

    public func startStoragePool(_ pool: StoragePoolRef, flags: StoragePoolCreateFlags) async throws {
        try await withLock {
            let r = try record(pool)
            guard !r.active, let def = r.config else { throw Self.alreadyActive(r.name) }
            if flags.contains(.build) || flags.contains(.buildOverwrite) || flags.contains(.buildNoOverwrite) {
                try await PoolBackend.build(def, flags: Self.buildFlags(flags))
            }
            try await PoolBackend.start(def)
            try StorageFiles.writeAtomically(def.formatXML(inactive: true), to: livePath(r.name))
            try removeStaleTemps(def)
        }
    }

    public func destroyStoragePool(_ pool: StoragePoolRef) async throws {
        try await withLock {
            let r = try activeRecord(pool)
            if let uses = await usageProvider?(), let user = try uses.first(where: { try usesPool($0, r) }) {
                throw VirError(.operationInvalid, "Requested operation is not valid: storage pool '\(r.name)' has a volume in use by running domain '\(user.domain)'", domain: .storage)
            }
            try await PoolBackend.stop(r.def)
            StorageFiles.remove(livePath(r.name))
        }
    }

    private func usesPool(_ use: VolumeUse, _ r: PoolRecord) throws -> Bool {
        if use.pool == r.name { return true }
        guard let path = use.path else { return false }
        if r.def.type == "logical", let vg = r.def.source.name { return path.hasPrefix("/dev/\(vg)/") || path.hasPrefix("/dev/mapper/\(vg)-") }
        guard let target = r.def.targetPath else { return false }
        return path.hasPrefix(target + "/")
    }

    public func deleteStoragePool(_ pool: StoragePoolRef, flags: UInt32) async throws {
        try await withLock {
            let r = try record(pool)
            guard !r.active else {
                throw VirError(.operationInvalid, "Requested operation is not valid: storage pool '\(r.name)' is still active", domain: .storage)
            }
            try await PoolBackend.delete(r.def)
        }
    }

    public func undefineStoragePool(_ pool: StoragePoolRef) async throws {
        try await withLock {
            let r = try record(pool)
            guard r.persistent else {
                throw VirError(.operationInvalid, "Requested operation is not valid: storage pool '\(r.name)' is transient", domain: .storage)
            }
            guard !r.active else {
                throw VirError(.operationInvalid, "Requested operation is not valid: storage pool '\(r.name)' is still active", domain: .storage)
            }
            StorageFiles.remove(autostartPath(r.name))
            StorageFiles.remove(configPath(r.name))
        }
    }

    public func refreshStoragePool(_ pool: StoragePoolRef, flags: UInt32) async throws {
        try await withLock {
            let r = try activeRecord(pool)
            try await PoolBackend.check(r.def)
            try removeStaleTemps(r.def)
        }
    }

    public func storagePoolInfo(_ pool: StoragePoolRef) async throws -> StoragePoolInfo {
        let r = try record(pool)
        guard r.active else { return StoragePoolInfo(state: .inactive, capacity: 0, allocation: 0, available: 0) }
        let s = try await PoolBackend.sizes(r.def)
        return StoragePoolInfo(state: .running, capacity: s.capacity, allocation: s.allocation, available: s.available)
    }

    public func storagePoolXML(_ pool: StoragePoolRef, flags: StorageXMLFlags) async throws -> String {
        let r = try record(pool)
        if flags.contains(.inactive), let config = r.config { return config.formatXML(inactive: true) }
        var def = r.def
        if r.active, let s = try? await PoolBackend.sizes(def) {
            def.capacity = s.capacity; def.allocation = s.allocation; def.available = s.available
        }
        // The live XML shows the target directory's actual owner and mode, as libvirt's refresh does.
        if r.active, def.type != "logical", let path = def.targetPath, let perms = VolumeFiles.permissions(path) {
            var p = def.targetPermissions ?? StoragePermissions()
            p.mode = perms.mode; p.owner = perms.owner; p.group = perms.group
            def.targetPermissions = p
        }
        return def.formatXML(inactive: !r.active)
    }

    public func storagePoolAutostart(_ pool: StoragePoolRef) throws -> Bool { try record(pool).autostart }

    public func setStoragePoolAutostart(_ pool: StoragePoolRef, _ on: Bool) async throws {
        try await withLock {
            let r = try record(pool)
            guard r.persistent else {
                throw VirError(.internalError, "internal error: cannot set autostart for transient pool", domain: .storage)
            }
            let link = autostartPath(r.name)
            if on {
                guard !StorageFiles.exists(link) else { return }
                // A relative symlink to the config, as libvirt keeps it; created beside and renamed into place.
                let tmp = autostartDir + "/.tmp-" + UUID().uuidString
                guard symlink("../" + r.name + ".xml", tmp) == 0 else {
                    throw StorageFiles.systemError("Failed to create symlink '\(link)' to '\(configPath(r.name))'")
                }
                guard rename(tmp, link) == 0 else {
                    let e = errno
                    unlink(tmp)
                    throw StorageFiles.systemError("Failed to create symlink '\(link)'", e)
                }
            } else {
                StorageFiles.remove(link)
            }
        }
    }

    public func storagePoolIsActive(_ pool: StoragePoolRef) throws -> Bool { try record(pool).active }
    public func storagePoolIsPersistent(_ pool: StoragePoolRef) throws -> Bool { try record(pool).persistent }

    /// For the daemon's first start: defines the `default` dir pool at ROOT/lib/images and marks it
    /// autostart, unless a pool by that name exists or one was defined before (an undefined default
    /// pool stays undefined). Returns whether it defined the pool.
    @discardableResult
    public func defineDefaultPool() async throws -> Bool {
        try ensureDirs()
        let marker = configDir + "/.default-pool-defined"
        guard !StorageFiles.exists(marker), loadPools()["default"] == nil else { return false }
        let xml = """
        <pool type='dir'>
          <name>default</name>
          <target>
            <path>\(xmlEscape(root + "/lib/images"))</path>
          </target>
        </pool>
        """
        let ref = try await defineStoragePool(xml: xml, flags: 0)
        try await setStoragePoolAutostart(ref, true)
        try StorageFiles.writeAtomically("", to: marker)
        return true
    }

    /// Starts the inactive autostart pools (building a dir pool's missing directory first);
    /// returns the failures by pool name, which the daemon logs.
    public func autostartPools() async -> [String: String] {
        var failures: [String: String] = [:]
        for r in loadPools().values where r.autostart && !r.active {
            do {
                if r.def.type == "dir", let path = r.def.targetPath, !StorageFiles.exists(path) {
                    try await buildStoragePool(r.ref, flags: [])
                }
                try await startStoragePool(r.ref, flags: [])
            } catch {
                failures[r.name] = "\(error)"
            }
        }
        return failures
    }
}
