// Installed applications, as libguestfs's inspect_list_applications2: dpkg's status file, the rpm
// database (SQLite, as RHEL 9 and Fedora 33+ write it) and apk's installed file, sorted by name.
// Not read: rpm's older BerkeleyDB "Packages" and ndb "Packages.db" databases (an error says so),
// pacman, and Windows.

/// One installed package (virt-inspector's <application>); empty strings are absent fields.
public struct InspectedApplication: Sendable, Equatable {
    public var name: String
    public var displayName = ""
    public var epoch: Int32 = 0
    public var version = ""
    public var release = ""
    public var arch = ""
    public var installPath = ""
    public var publisher = ""
    public var url = ""
    public var sourcePackage = ""
    public var summary = ""
    public var description = ""

    public init(name: String) { self.name = name }
}

extension GuestInspector {
    /// libguestfs's cap on a package database copied out of the guest.
    static let maxPackageDatabase: UInt64 = 300 << 20

    /// The OS's installed packages, by name (stable for equal names), from its mounted filesystems.
    public func applications(_ os: InspectedOS) throws(GuestFSError) -> [InspectedApplication] {
        guard os.type == "linux" else { return [] }
        let vfs = try mount(os)
        let apps: [InspectedApplication]
        switch os.packageFormat {
        case "deb": apps = try Self.dpkgApplications(vfs.readFile("/var/lib/dpkg/status", limit: Self.maxPackageDatabase))
        case "rpm": apps = try Self.rpmApplications(vfs)
        case "apk": apps = try Self.apkApplications(vfs.readFile("/lib/apk/db/installed", limit: Self.maxPackageDatabase))
        default: apps = []
        }
        return Self.sortedByName(apps)
    }

    static func sortedByName(_ apps: [InspectedApplication]) -> [InspectedApplication] {
        apps.enumerated().sorted { a, b in
            a.element.name == b.element.name ? a.offset < b.offset
                : a.element.name.utf8.lexicographicallyPrecedes(b.element.name.utf8)
        }.map(\.element)
    }

    // MARK: dpkg

    /// Parses /var/lib/dpkg/status with libguestfs's rules: a stanza counts when its Status
    /// mentions "installed" and it has Package and Version; "[epoch:]version[-release]" splits at
    /// the first ":" and then the first "-"; Description's first line is the summary and its
    /// continuation lines (leading space removed) the description; a stanza ends at an empty line.
    public static func dpkgApplications(_ data: [UInt8]) -> [InspectedApplication] {
        var apps: [InspectedApplication] = []
        var current = InspectedApplication(name: "")
        var hasName = false, hasVersion = false, installed = false
        var epochOK = true
        var inDescription = false
        var descriptionLines: [Substring] = []
        for raw in textLines(data) {
            let line = Substring(String(decoding: raw, as: UTF8.self))
            if line.first == " " && inDescription {
                descriptionLines.append(line.dropFirst())
                continue
            }
            inDescription = false
            if line.hasPrefix("Package: ") {
                current.name = String(line.dropFirst(9)); hasName = true
            } else if line.hasPrefix("Status: ") {
                installed = line.dropFirst(8).contains("installed")
            } else if line.hasPrefix("Version: ") {
                var v = line.dropFirst(9)
                epochOK = true
                current.epoch = 0
                if let colon = v.firstIndex(of: ":") {
                    if let e = parseUnsignedInt(v[..<colon]) { current.epoch = e } else { epochOK = false }
                    v = v[v.index(after: colon)...]
                }
                if let dash = v.firstIndex(of: "-") {
                    current.version = String(v[..<dash]); current.release = String(v[v.index(after: dash)...])
                } else {
                    current.version = String(v); current.release = ""
                }
                hasVersion = true
            } else if line.hasPrefix("Architecture: ") {
                current.arch = String(line.dropFirst(14))
            } else if line.hasPrefix("Homepage: ") {
                current.url = String(line.dropFirst(10))
            } else if line.hasPrefix("Source: ") {
                current.sourcePackage = String(line.dropFirst(8).prefix { $0 != " " })
            } else if line.hasPrefix("Description: ") {
                current.summary = String(line.dropFirst(13))
                descriptionLines = []
                inDescription = true
            } else if line.isEmpty {
                if installed && hasName && hasVersion && epochOK && !current.name.isEmpty {
                    current.description = descriptionLines.joined(separator: "\n")
                    apps.append(current)
                }
                current = InspectedApplication(name: "")
                hasName = false; hasVersion = false; installed = false
                descriptionLines = []
            }
        }
        return apps
    }

    /// Lines as fgets reads them: the newline ends a line, so none follows a final newline.
    static func textLines(_ data: [UInt8]) -> [ArraySlice<UInt8>] {
        var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
        if data.last == 0x0A || data.isEmpty { lines.removeLast() }
        return lines
    }

    /// A non-negative 32-bit decimal, as guestfs_int_parse_unsigned_int accepts it.
    static func parseUnsignedInt(_ s: Substring) -> Int32? {
        guard !s.isEmpty, s.allSatisfy({ $0 >= "0" && $0 <= "9" }), let v = Int32(s) else { return nil }
        return v
    }

    // MARK: apk

    /// /lib/apk/db/installed: "X:value" lines, stanzas separated by empty lines; P name, V
    /// "[epoch:]version[-rRELEASE]", A arch, U url, T description.
    public static func apkApplications(_ data: [UInt8]) -> [InspectedApplication] {
        var apps: [InspectedApplication] = []
        var current = InspectedApplication(name: "")
        var hasVersion = false, epochOK = true
        for raw in textLines(data) {
            let line = Substring(String(decoding: raw, as: UTF8.self))
            if line.count > 1 && line.dropFirst().first != ":" { continue }
            let value = String(line.dropFirst(2))
            switch line.first {
            case nil:
                if !current.name.isEmpty && hasVersion && epochOK { apps.append(current) }
                current = InspectedApplication(name: ""); hasVersion = false
            case "A": current.arch = value
            case "P": current.name = value
            case "T": current.description = value
            case "U": current.url = value
            case "V":
                var v = Substring(value)
                epochOK = true; current.epoch = 0
                if let colon = v.firstIndex(of: ":") {
                    if let e = parseUnsignedInt(v[..<colon]) { current.epoch = e } else { epochOK = false }
                    v = v[v.index(after: colon)...]
                }
                if let dash = v.firstIndex(of: "-") {
                    var r = v[v.index(after: dash)...]
                    if r.first == "r" { r = r.dropFirst() }
                    current.version = String(v[..<dash]); current.release = String(r)
                } else {
                    current.version = String(v); current.release = ""
                }
                hasVersion = true
            default: break
            }
        }
        return apps
    }

    // MARK: rpm

    static let rpmDirectories = ["/var/lib/rpm", "/usr/lib/sysimage/rpm"]

    static func rpmApplications(_ vfs: VFS) throws(GuestFSError) -> [InspectedApplication] {
        for dir in rpmDirectories {
            let path = dir + "/rpmdb.sqlite"
            guard vfs.isFile(path, follow: true) else { continue }
            // A guest copied while running may still have committed transactions in the log.
            let wal = vfs.isFile(path + "-wal", follow: true) ? try vfs.readFile(path + "-wal", limit: maxPackageDatabase) : nil
            let db = try SQLiteDatabase(bytes: vfs.readFile(path, limit: maxPackageDatabase), wal: wal)
            return try rpmApplications(db)
        }
        for dir in rpmDirectories where vfs.isFile(dir + "/Packages", follow: true) || vfs.isFile(dir + "/Packages.db", follow: true) {
            throw GuestFSError("\(dir): BerkeleyDB and ndb rpm databases are not supported (only rpmdb.sqlite)")
        }
        throw GuestFSError("no rpm database found in /var/lib/rpm or /usr/lib/sysimage/rpm")
    }

    /// Every header blob in the Packages table (rows whose blob does not parse are skipped).
    public static func rpmApplications(_ db: SQLiteDatabase) throws(GuestFSError) -> [InspectedApplication] {
        try db.rows(ofTable: "Packages").compactMap { row in
            for case .blob(let blob) in row.values {
                return try? RPMHeader(blob).application()
            }
            return nil
        }
    }
}

/// An rpm header blob as the database stores it: index count, data length, 16-byte index entries
/// (tag, type, offset, count, big-endian), then the data store.
public struct RPMHeader: Sendable {
    public struct Entry: Sendable { var tag: UInt32, type: UInt32, offset: Int, count: UInt32 }

    let entries: [Entry]
    let store: ArraySlice<UInt8>

    static let maxEntries = 65536
    static let maxStore = 256 << 20

    public init(_ blob: [UInt8]) throws(GuestFSError) {
        let b = ImageBytes(blob)
        guard blob.count >= 8 else { throw GuestFSError("rpm header: \(blob.count) bytes is too short") }
        let il = Int(b.be32(0)), dl = Int(b.be32(4))
        guard il >= 1, il <= Self.maxEntries, dl <= Self.maxStore else {
            throw GuestFSError("rpm header: \(il) entries / \(dl) data bytes out of range")
        }
        let storeStart = 8 + 16 * il
        guard storeStart <= blob.count, dl <= blob.count - storeStart else {
            throw GuestFSError("rpm header: \(il) entries and \(dl) data bytes exceed the \(blob.count)-byte blob")
        }
        store = blob[storeStart..<(storeStart + dl)]
        var entries: [Entry] = []
        entries.reserveCapacity(il)
        for i in 0..<il {
            let o = 8 + 16 * i
            entries.append(Entry(tag: b.be32(o), type: b.be32(o + 4), offset: Int(b.be32(o + 8)), count: b.be32(o + 12)))
        }
        self.entries = entries
    }

    static let name: UInt32 = 1000, version: UInt32 = 1001, release: UInt32 = 1002, epoch: UInt32 = 1003
    static let summary: UInt32 = 1004, description: UInt32 = 1005, url: UInt32 = 1020, arch: UInt32 = 1022

    /// A string tag (STRING, or the first of a STRING_ARRAY / I18NSTRING), nil when absent or bad.
    public func string(_ tag: UInt32) -> String? {
        guard let e = entries.first(where: { $0.tag == tag }), [6, 8, 9].contains(e.type),
              e.offset >= 0, e.offset < store.count else { return nil }
        let start = store.startIndex + e.offset
        guard let end = store[start...].firstIndex(of: 0) else { return nil }
        return String(decoding: store[start..<end], as: UTF8.self)
    }

    /// An INT32 tag's first value.
    public func int32(_ tag: UInt32) -> Int32? {
        guard let e = entries.first(where: { $0.tag == tag }), e.type == 4, e.count >= 1,
              e.offset >= 0, e.offset <= store.count - 4 else { return nil }
        let s = store.startIndex + e.offset
        return Int32(bitPattern: UInt32(store[s]) << 24 | UInt32(store[s + 1]) << 16 | UInt32(store[s + 2]) << 8 | UInt32(store[s + 3]))
    }

    /// What libguestfs reads through librpm's headerFormat: a missing tag prints "(none)".
    public func application() throws(GuestFSError) -> InspectedApplication {
        guard let name = string(Self.name), !name.isEmpty else { throw GuestFSError("rpm header: no NAME tag") }
        var app = InspectedApplication(name: name)
        app.epoch = int32(Self.epoch) ?? 0
        app.version = string(Self.version) ?? "(none)"
        app.release = string(Self.release) ?? "(none)"
        app.arch = string(Self.arch) ?? "(none)"
        app.url = string(Self.url) ?? "(none)"
        app.summary = string(Self.summary) ?? "(none)"
        app.description = string(Self.description) ?? "(none)"
        return app
    }
}
