import Foundation

/// Resources an OS needs or recommends (osinfo-db's `<minimum>`, `<recommended>`, `<maximum>`,
/// `<network-install>`); nil where the database says nothing.
public struct OSResources: Sendable, Equatable, Codable {
    public var nCPUs: Int?
    public var ramBytes: UInt64?
    public var storageBytes: UInt64?

    public init(nCPUs: Int? = nil, ramBytes: UInt64? = nil, storageBytes: UInt64? = nil) {
        self.nCPUs = nCPUs; self.ramBytes = ramBytes; self.storageBytes = storageBytes
    }

    var isEmpty: Bool { nCPUs == nil && ramBytes == nil && storageBytes == nil }

    /// Fields missing here taken from `other` (an arch block falling back to "all").
    func filled(from other: OSResources?) -> OSResources {
        guard let other else { return self }
        return OSResources(nCPUs: nCPUs ?? other.nCPUs, ramBytes: ramBytes ?? other.ramBytes,
                           storageBytes: storageBytes ?? other.storageBytes)
    }
}

/// One `<resources arch="...">` block.
public struct OSResourceSet: Sendable, Equatable {
    public var minimum: OSResources?
    public var recommended: OSResources?
    public var maximum: OSResources?
    public var networkInstall: OSResources?
}

/// One `<firmware arch="..." type="..." supported="..."/>` entry.
public struct OSFirmware: Sendable, Equatable {
    public var arch: String
    public var type: String
    public var supported: Bool
}

/// An operating system of osinfo-db (libosinfo's OsinfoOs), with what it inherits from the OS it
/// derives from already folded in (resources, devices, firmware).
public struct OSVariant: Sendable, Equatable {
    /// The URI, e.g. "http://debian.org/debian/11".
    public var id: String
    /// Short ids, the canonical one first ("ubuntu22.04", "ubuntujammy", ...).
    public var shortIDs: [String]
    public var name: String
    public var vendor: String?
    public var family: String?
    public var distro: String?
    public var version: String?
    public var codename: String?
    /// "YYYY-MM-DD" as osinfo-db writes them.
    public var releaseDate: String?
    public var eolDate: String?
    /// "released" unless the database says "prerelease", "rolling" or "snapshot".
    public var releaseStatus: String
    public var derivesFrom: [String]
    public var upgrades: [String]
    public var kernelURLArgument: String?
    /// `<variant id=...>` ids (media flavours such as "netinst").
    public var variants: [String]
    /// Resource blocks by arch ("x86_64", "all", ...).
    public var resources: [String: OSResourceSet]
    /// Device URIs the OS supports, e.g. "http://pcisig.com/pci/1af4/1041".
    public var devices: Set<String>
    public var firmware: [OSFirmware]

    public var shortID: String { shortIDs.first ?? "" }

    /// The resources for `arch`, each field falling back to the "all" block (libosinfo's rule).
    public func minimum(arch: String = "x86_64") -> OSResources? { pick(arch) { $0.minimum } }
    public func recommended(arch: String = "x86_64") -> OSResources? { pick(arch) { $0.recommended } }
    public func maximum(arch: String = "x86_64") -> OSResources? { pick(arch) { $0.maximum } }
    public func networkInstall(arch: String = "x86_64") -> OSResources? { pick(arch) { $0.networkInstall } }

    private func pick(_ arch: String, _ field: (OSResourceSet) -> OSResources?) -> OSResources? {
        let specific = resources[arch].flatMap(field)
        let all = resources["all"].flatMap(field)
        guard let base = specific ?? all else { return nil }
        let r = base.filled(from: all)
        return r.isEmpty ? nil : r
    }

    public func supports(_ deviceIDs: [String]) -> Bool { deviceIDs.contains { devices.contains($0) } }

    /// virt-manager's rule: past the EOL date; without one, released over 10 years ago (rolling
    /// releases never are).
    public func isEOL(now: Date = Date()) -> Bool {
        if let eol = eolDate.flatMap(Self.parseDate) { return now > eol }
        if releaseStatus == "rolling" { return false }
        if let rel = releaseDate.flatMap(Self.parseDate) { return now > rel.addingTimeInterval(365 * 10 * 86_400) }
        return false
    }

    static func parseDate(_ s: String) -> Date? {
        let parts = s.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3 else { return nil }
        var c = DateComponents()
        c.year = parts[0]; c.month = parts[1]; c.day = parts[2]
        c.timeZone = TimeZone(identifier: "UTC")
        return Calendar(identifier: .gregorian).date(from: c)
    }

    /// virt-install's "generic": no database entry, so no virtio and no recommended resources.
    public static let generic = OSVariant(
        id: "http://libosinfo.org/generic", shortIDs: ["generic"], name: "Generic OS", vendor: nil, family: nil,
        distro: nil, version: nil, codename: nil, releaseDate: nil, eolDate: nil, releaseStatus: "released",
        derivesFrom: [], upgrades: [], kernelURLArgument: nil, variants: [], resources: [:], devices: [], firmware: [])
}
