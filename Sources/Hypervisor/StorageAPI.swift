import Foundation

// Storage pools and volumes in the hypervisor-neutral API, after libvirt's virStorageDriver.
// Numbers (states, flags) are libvirt's: they travel on the wire unchanged.

/// remote_nonnull_storage_pool.
public struct StoragePoolRef: Sendable, Hashable {
    public var name: String
    public var uuid: UUID
    public init(name: String, uuid: UUID) { self.name = name; self.uuid = uuid }
}

/// remote_nonnull_storage_vol: the pool's name, the volume's name, and its key (for file
/// volumes libvirt uses the path).
public struct StorageVolRef: Sendable, Hashable {
    public var pool: String
    public var name: String
    public var key: String
    public init(pool: String, name: String, key: String) { self.pool = pool; self.name = name; self.key = key }
}

/// virStoragePoolState.
public enum StoragePoolState: Int32, Sendable, CaseIterable {
    case inactive = 0, building, running, degraded, inaccessible

    /// virsh pool-info / pool-list wording.
    public var virshName: String {
        switch self {
        case .inactive: "inactive"
        case .building: "building"
        case .running: "running"
        case .degraded: "degraded"
        case .inaccessible: "inaccessible"
        }
    }
}

/// virStoragePoolInfo (bytes).
public struct StoragePoolInfo: Sendable, Equatable {
    public var state: StoragePoolState
    public var capacity: UInt64
    public var allocation: UInt64
    public var available: UInt64
    public init(state: StoragePoolState, capacity: UInt64, allocation: UInt64, available: UInt64) {
        self.state = state; self.capacity = capacity; self.allocation = allocation; self.available = available
    }
}

/// virStorageVolType.
public enum StorageVolType: Int32, Sendable, CaseIterable {
    case file = 0, block, dir, network, netdir, ploop

    /// virsh vol-info / vol-list --details wording.
    public var virshName: String {
        switch self {
        case .file: "file"
        case .block: "block"
        case .dir: "dir"
        case .network: "network"
        case .netdir: "netdir"
        case .ploop: "ploop"
        }
    }
}

/// virStorageVolInfo (bytes).
public struct StorageVolInfo: Sendable, Equatable {
    public var type: StorageVolType
    public var capacity: UInt64
    public var allocation: UInt64
    public init(type: StorageVolType, capacity: UInt64, allocation: UInt64) {
        self.type = type; self.capacity = capacity; self.allocation = allocation
    }
}

/// virConnectListAllStoragePoolsFlags.
public struct ListStoragePoolsFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let inactive = ListStoragePoolsFlags(rawValue: 1 << 0)
    public static let active = ListStoragePoolsFlags(rawValue: 1 << 1)
    public static let persistent = ListStoragePoolsFlags(rawValue: 1 << 2)
    public static let transient = ListStoragePoolsFlags(rawValue: 1 << 3)
    public static let autostart = ListStoragePoolsFlags(rawValue: 1 << 4)
    public static let noAutostart = ListStoragePoolsFlags(rawValue: 1 << 5)
    // Pool types.
    public static let dir = ListStoragePoolsFlags(rawValue: 1 << 6)
    public static let fs = ListStoragePoolsFlags(rawValue: 1 << 7)
    public static let netfs = ListStoragePoolsFlags(rawValue: 1 << 8)
    public static let logical = ListStoragePoolsFlags(rawValue: 1 << 9)
    public static let disk = ListStoragePoolsFlags(rawValue: 1 << 10)
    public static let iscsi = ListStoragePoolsFlags(rawValue: 1 << 11)
    public static let scsi = ListStoragePoolsFlags(rawValue: 1 << 12)
    public static let mpath = ListStoragePoolsFlags(rawValue: 1 << 13)
    public static let rbd = ListStoragePoolsFlags(rawValue: 1 << 14)
    public static let sheepdog = ListStoragePoolsFlags(rawValue: 1 << 15)
    public static let gluster = ListStoragePoolsFlags(rawValue: 1 << 16)
    public static let zfs = ListStoragePoolsFlags(rawValue: 1 << 17)
    public static let vstorage = ListStoragePoolsFlags(rawValue: 1 << 18)
    public static let iscsiDirect = ListStoragePoolsFlags(rawValue: 1 << 19)
}

/// virStoragePoolBuildFlags.
public struct StoragePoolBuildFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let repair = StoragePoolBuildFlags(rawValue: 1 << 0)
    public static let resize = StoragePoolBuildFlags(rawValue: 1 << 1)
    public static let noOverwrite = StoragePoolBuildFlags(rawValue: 1 << 2)
    public static let overwrite = StoragePoolBuildFlags(rawValue: 1 << 3)
}

/// virStoragePoolCreateFlags (pool-start / pool-create).
public struct StoragePoolCreateFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let build = StoragePoolCreateFlags(rawValue: 1 << 0)
    public static let buildOverwrite = StoragePoolCreateFlags(rawValue: 1 << 1)
    public static let buildNoOverwrite = StoragePoolCreateFlags(rawValue: 1 << 2)
}

/// virStorageVolCreateFlags.
public struct StorageVolCreateFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let preallocMetadata = StorageVolCreateFlags(rawValue: 1 << 0)
    public static let reflink = StorageVolCreateFlags(rawValue: 1 << 1)
    public static let validate = StorageVolCreateFlags(rawValue: 1 << 2)
}

/// virStorageVolResizeFlags.
public struct StorageVolResizeFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let allocate = StorageVolResizeFlags(rawValue: 1 << 0)
    public static let delta = StorageVolResizeFlags(rawValue: 1 << 1)
    public static let shrink = StorageVolResizeFlags(rawValue: 1 << 2)
}

/// virStorageVolDeleteFlags.
public struct StorageVolDeleteFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let zeroed = StorageVolDeleteFlags(rawValue: 1 << 0)
    public static let withSnapshots = StorageVolDeleteFlags(rawValue: 1 << 1)
}

/// virStorageVolUploadFlags / virStorageVolDownloadFlags (one bit each, same meaning).
public struct StorageVolTransferFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let sparseStream = StorageVolTransferFlags(rawValue: 1 << 0)
}

/// virStorageVolWipeAlgorithm (libvirt's numbers; Corral implements zero).
public enum StorageVolWipeAlgorithm: UInt32, Sendable, CaseIterable {
    case zero = 0, nnsa, dod, bsi, gutmann, schneier, pfitzner7, pfitzner33, random, trim

    public var virshName: String {
        switch self {
        case .zero: "zero"
        case .nnsa: "nnsa"
        case .dod: "dod"
        case .bsi: "bsi"
        case .gutmann: "gutmann"
        case .schneier: "schneier"
        case .pfitzner7: "pfitzner7"
        case .pfitzner33: "pfitzner33"
        case .random: "random"
        case .trim: "trim"
        }
    }
}

/// virStorageVolInfoFlags (virStorageVolGetInfoFlags).
public struct StorageVolInfoFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Report the host's physical size (a file's length) in `allocation` instead of the blocks used.
    public static let physical = StorageVolInfoFlags(rawValue: 1 << 0)
}

/// virStorageXMLFlags.
public struct StorageXMLFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let inactive = StorageXMLFlags(rawValue: 1 << 0)
}

/// Storage entry points of a driver (libvirt's virStorageDriver). Every method has a default
/// that answers "not supported", so a driver without storage (the remote client before it
/// learns the procedures, the test driver) still compiles and says so clearly.
public protocol StorageDriver: Sendable {
    // Pools
    func listAllStoragePools(flags: ListStoragePoolsFlags) async throws -> [StoragePoolRef]
    func lookupStoragePool(name: String) async throws -> StoragePoolRef
    func lookupStoragePool(uuid: UUID) async throws -> StoragePoolRef
    /// The pool holding a volume (virStoragePoolLookupByVolume).
    func lookupStoragePool(volume: StorageVolRef) async throws -> StoragePoolRef
    func defineStoragePool(xml: String, flags: UInt32) async throws -> StoragePoolRef
    /// A transient pool, started (virStoragePoolCreateXML).
    func createStoragePool(xml: String, flags: StoragePoolCreateFlags) async throws -> StoragePoolRef
    func buildStoragePool(_ pool: StoragePoolRef, flags: StoragePoolBuildFlags) async throws
    /// virStoragePoolCreate (virsh pool-start).
    func startStoragePool(_ pool: StoragePoolRef, flags: StoragePoolCreateFlags) async throws
    func destroyStoragePool(_ pool: StoragePoolRef) async throws
    /// virStoragePoolDelete: removes the pool's underlying storage (the directory, the VG).
    func deleteStoragePool(_ pool: StoragePoolRef, flags: UInt32) async throws
    func undefineStoragePool(_ pool: StoragePoolRef) async throws
    func refreshStoragePool(_ pool: StoragePoolRef, flags: UInt32) async throws
    func storagePoolInfo(_ pool: StoragePoolRef) async throws -> StoragePoolInfo
    func storagePoolXML(_ pool: StoragePoolRef, flags: StorageXMLFlags) async throws -> String
    func storagePoolAutostart(_ pool: StoragePoolRef) async throws -> Bool
    func setStoragePoolAutostart(_ pool: StoragePoolRef, _ on: Bool) async throws
    func storagePoolIsActive(_ pool: StoragePoolRef) async throws -> Bool
    func storagePoolIsPersistent(_ pool: StoragePoolRef) async throws -> Bool
    func listAllStorageVolumes(_ pool: StoragePoolRef, flags: UInt32) async throws -> [StorageVolRef]

    // Volumes
    func lookupStorageVolume(pool: StoragePoolRef, name: String) async throws -> StorageVolRef
    func lookupStorageVolume(key: String) async throws -> StorageVolRef
    func lookupStorageVolume(path: String) async throws -> StorageVolRef
    func createStorageVolume(_ pool: StoragePoolRef, xml: String, flags: StorageVolCreateFlags) async throws -> StorageVolRef
    /// virStorageVolCreateXMLFrom (vol-clone, vol-create-from): copies `source`'s content,
    /// converting formats as the new volume's XML asks.
    func createStorageVolume(_ pool: StoragePoolRef, xml: String, from source: StorageVolRef,
                             flags: StorageVolCreateFlags) async throws -> StorageVolRef
    func deleteStorageVolume(_ vol: StorageVolRef, flags: StorageVolDeleteFlags) async throws
    func wipeStorageVolume(_ vol: StorageVolRef, algorithm: StorageVolWipeAlgorithm, flags: UInt32) async throws
    func storageVolumeInfo(_ vol: StorageVolRef) async throws -> StorageVolInfo
    /// virStorageVolGetInfoFlags (vol-info --physical).
    func storageVolumeInfo(_ vol: StorageVolRef, flags: StorageVolInfoFlags) async throws -> StorageVolInfo
    func storageVolumeXML(_ vol: StorageVolRef, flags: UInt32) async throws -> String
    func storageVolumePath(_ vol: StorageVolRef) async throws -> String
    func resizeStorageVolume(_ vol: StorageVolRef, capacity: UInt64, flags: StorageVolResizeFlags) async throws
    /// The returned stream takes the bytes written to it (write) and stores them from `offset`,
    /// at most `length` bytes (0 = to the end); `finish()` commits, `close()` alone aborts.
    func uploadStorageVolume(_ vol: StorageVolRef, offset: UInt64, length: UInt64,
                             flags: StorageVolTransferFlags) async throws -> any ByteStream
    /// The returned stream yields the volume's bytes from `offset` (read), `length` bytes at
    /// most (0 = to the end), then nil.
    func downloadStorageVolume(_ vol: StorageVolRef, offset: UInt64, length: UInt64,
                               flags: StorageVolTransferFlags) async throws -> any ByteStream
}

extension VirError {
    /// What a driver without an optional API (storage, networks, device changes) answers.
    public static func notSupported(_ api: String) -> VirError {
        VirError(.noSupport, "this function is not supported by the connection driver: \(api)")
    }
    public static func noStoragePool(name: String) -> VirError {
        VirError(.noStoragePool, "Storage pool not found: no storage pool with matching name '\(name)'", domain: .storage)
    }
    public static func noStoragePool(uuid: String) -> VirError {
        VirError(.noStoragePool, "Storage pool not found: no storage pool with matching uuid '\(uuid)'", domain: .storage)
    }
    public static func noStorageVol(name: String) -> VirError {
        VirError(.noStorageVol, "Storage volume not found: no storage vol with matching name '\(name)'", domain: .storage)
    }
    public static func noStorageVol(key: String) -> VirError {
        VirError(.noStorageVol, "Storage volume not found: no storage vol with matching key \(key)", domain: .storage)
    }
    public static func noStorageVol(path: String) -> VirError {
        VirError(.noStorageVol, "Storage volume not found: no storage vol with matching path '\(path)'", domain: .storage)
    }
}

extension StorageDriver {
    public func listAllStoragePools(flags: ListStoragePoolsFlags) async throws -> [StoragePoolRef] { throw VirError.notSupported("virConnectListAllStoragePools") }
    public func lookupStoragePool(name: String) async throws -> StoragePoolRef { throw VirError.notSupported("virStoragePoolLookupByName") }
    public func lookupStoragePool(uuid: UUID) async throws -> StoragePoolRef { throw VirError.notSupported("virStoragePoolLookupByUUID") }
    public func lookupStoragePool(volume: StorageVolRef) async throws -> StoragePoolRef { throw VirError.notSupported("virStoragePoolLookupByVolume") }
    public func defineStoragePool(xml: String, flags: UInt32) async throws -> StoragePoolRef { throw VirError.notSupported("virStoragePoolDefineXML") }
    public func createStoragePool(xml: String, flags: StoragePoolCreateFlags) async throws -> StoragePoolRef { throw VirError.notSupported("virStoragePoolCreateXML") }
    public func buildStoragePool(_ pool: StoragePoolRef, flags: StoragePoolBuildFlags) async throws { throw VirError.notSupported("virStoragePoolBuild") }
    public func startStoragePool(_ pool: StoragePoolRef, flags: StoragePoolCreateFlags) async throws { throw VirError.notSupported("virStoragePoolCreate") }
    public func destroyStoragePool(_ pool: StoragePoolRef) async throws { throw VirError.notSupported("virStoragePoolDestroy") }
    public func deleteStoragePool(_ pool: StoragePoolRef, flags: UInt32) async throws { throw VirError.notSupported("virStoragePoolDelete") }
    public func undefineStoragePool(_ pool: StoragePoolRef) async throws { throw VirError.notSupported("virStoragePoolUndefine") }
    public func refreshStoragePool(_ pool: StoragePoolRef, flags: UInt32) async throws { throw VirError.notSupported("virStoragePoolRefresh") }
    public func storagePoolInfo(_ pool: StoragePoolRef) async throws -> StoragePoolInfo { throw VirError.notSupported("virStoragePoolGetInfo") }
    public func storagePoolXML(_ pool: StoragePoolRef, flags: StorageXMLFlags) async throws -> String { throw VirError.notSupported("virStoragePoolGetXMLDesc") }
    public func storagePoolAutostart(_ pool: StoragePoolRef) async throws -> Bool { throw VirError.notSupported("virStoragePoolGetAutostart") }
    public func setStoragePoolAutostart(_ pool: StoragePoolRef, _ on: Bool) async throws { throw VirError.notSupported("virStoragePoolSetAutostart") }
    public func storagePoolIsActive(_ pool: StoragePoolRef) async throws -> Bool { throw VirError.notSupported("virStoragePoolIsActive") }
    public func storagePoolIsPersistent(_ pool: StoragePoolRef) async throws -> Bool { throw VirError.notSupported("virStoragePoolIsPersistent") }
    public func listAllStorageVolumes(_ pool: StoragePoolRef, flags: UInt32) async throws -> [StorageVolRef] { throw VirError.notSupported("virStoragePoolListAllVolumes") }
    public func lookupStorageVolume(pool: StoragePoolRef, name: String) async throws -> StorageVolRef { throw VirError.notSupported("virStorageVolLookupByName") }
    public func lookupStorageVolume(key: String) async throws -> StorageVolRef { throw VirError.notSupported("virStorageVolLookupByKey") }
    public func lookupStorageVolume(path: String) async throws -> StorageVolRef { throw VirError.notSupported("virStorageVolLookupByPath") }
    public func createStorageVolume(_ pool: StoragePoolRef, xml: String, flags: StorageVolCreateFlags) async throws -> StorageVolRef { throw VirError.notSupported("virStorageVolCreateXML") }
    public func createStorageVolume(_ pool: StoragePoolRef, xml: String, from source: StorageVolRef, flags: StorageVolCreateFlags) async throws -> StorageVolRef { throw VirError.notSupported("virStorageVolCreateXMLFrom") }
    public func deleteStorageVolume(_ vol: StorageVolRef, flags: StorageVolDeleteFlags) async throws { throw VirError.notSupported("virStorageVolDelete") }
    public func wipeStorageVolume(_ vol: StorageVolRef, algorithm: StorageVolWipeAlgorithm, flags: UInt32) async throws { throw VirError.notSupported("virStorageVolWipePattern") }
    public func storageVolumeInfo(_ vol: StorageVolRef) async throws -> StorageVolInfo { throw VirError.notSupported("virStorageVolGetInfo") }
    /// Without flags this is plain virStorageVolGetInfo, so drivers only override it for --physical.
    public func storageVolumeInfo(_ vol: StorageVolRef, flags: StorageVolInfoFlags) async throws -> StorageVolInfo {
        if flags.isEmpty { return try await storageVolumeInfo(vol) }
        throw VirError.notSupported("virStorageVolGetInfoFlags")
    }
    public func storageVolumeXML(_ vol: StorageVolRef, flags: UInt32) async throws -> String { throw VirError.notSupported("virStorageVolGetXMLDesc") }
    public func storageVolumePath(_ vol: StorageVolRef) async throws -> String { throw VirError.notSupported("virStorageVolGetPath") }
    public func resizeStorageVolume(_ vol: StorageVolRef, capacity: UInt64, flags: StorageVolResizeFlags) async throws { throw VirError.notSupported("virStorageVolResize") }
    public func uploadStorageVolume(_ vol: StorageVolRef, offset: UInt64, length: UInt64, flags: StorageVolTransferFlags) async throws -> any ByteStream { throw VirError.notSupported("virStorageVolUpload") }
    public func downloadStorageVolume(_ vol: StorageVolRef, offset: UInt64, length: UInt64, flags: StorageVolTransferFlags) async throws -> any ByteStream { throw VirError.notSupported("virStorageVolDownload") }
}
