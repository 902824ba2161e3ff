import Foundation

// libvirt's storage pool XML (libvirt.org/formatstorage.html#storage-pool-xml): model, parse with
// validation, format in libvirt's order. Unmodeled content stays in `extra` for a lossless round trip.

public struct StoragePool: Sendable, Equatable {
    /// dir | fs | netfs | logical | disk | iscsi | ... (libvirt's list; Corral runs dir, fs, logical).
    public var type: String = "dir"
    public var name: String = ""
    public var uuid: UUID?
    /// Sizes in bytes, as the live XML reports them.
    public var capacity: UInt64?
    public var allocation: UInt64?
    public var available: UInt64?
    public var source = StoragePoolSource()
    public var targetPath: String?
    public var targetPermissions: StoragePermissions?
    /// Unknown attributes/children of <pool>; childExtras["target"] for unknowns in <target>.
    public var extra = Extra()
    public init(type: String = "dir", name: String = "") { self.type = type; self.name = name }
}

public struct StoragePoolSource: Sendable, Equatable {
    public struct Host: Sendable, Equatable {
        public var name: String
        public var port: Int?
        public var extra = Extra()
        public init(name: String, port: Int? = nil) { self.name = name; self.port = port }
    }
    public struct Device: Sendable, Equatable {
        public var path: String
        public var extra = Extra()
        public init(path: String) { self.path = path }
    }
    public var hosts: [Host] = []
    public var devices: [Device] = []
    /// <dir path=''/> (netfs export, gluster directory).
    public var dir: String?
    /// <name>: the volume group of a logical pool, an RBD pool, ...
    public var name: String?
    /// <format type=''/>: filesystem of fs/netfs pools, lvm2 for logical ones.
    public var format: String?
    /// Unknown content of <source> (adapter, initiator, auth, ...); childExtras for dir, name, format.
    public var extra = Extra()
    public init() {}
    public var isEmpty: Bool {
        hosts.isEmpty && devices.isEmpty && dir == nil && name == nil && format == nil && extra.isEmpty
    }
}

extension StoragePool {
    public static let types = ["dir", "fs", "netfs", "logical", "disk", "iscsi", "iscsi-direct", "scsi", "mpath",
                               "rbd", "sheepdog", "gluster", "zfs", "vstorage"]
    /// Pool types whose storage Corral manages; the others parse but are refused at define.
    public static let supportedTypes = ["dir", "fs", "logical"]

    static let fsFormats = ["auto", "ext2", "ext3", "ext4", "ufs", "iso9660", "udf", "gfs", "gfs2", "vfat", "hfs+",
                            "xfs", "ocfs2", "vmfs"]
    static let netfsFormats = ["auto", "nfs", "glusterfs", "cifs"]
    static let logicalFormats = ["unknown", "lvm2"]

    /// Parses and validates a libvirt storage pool document.
    public init(xml: String) throws(DomainXMLError) {
        self = try StoragePoolParser.parse(try XMLReader.parse(xml))
    }

    /// libvirt's layout and order, ending with a newline. `inactive` leaves out the sizes.
    public func formatXML(inactive: Bool = false) -> String {
        XMLWriter.write(StoragePoolFormatter.pool(self, inactive: inactive))
    }

    /// What libvirt fills in on define: a uuid, and for logical pools the VG name, lvm2 format and /dev path.
    public mutating func applyDefaults() {
        if uuid == nil { uuid = UUID() }
        if type == "logical" {
            if source.name == nil { source.name = name }
            if source.format == nil { source.format = "lvm2" }
            if targetPath == nil, let vg = source.name { targetPath = "/dev/" + vg }
        }
    }
}

enum StoragePoolParser {
    static func err(_ m: String) -> DomainXMLError { DomainXMLError(m) }

    static func parse(_ root: XMLNode) throws(DomainXMLError) -> StoragePool {
        guard let r = ElementReader(root) else { throw err("XML error: document has no root element") }
        guard r.name == "pool" else { throw err("XML error: unexpected root element <\(r.name)>, expecting <pool>") }
        guard let type = r.attr("type") else { throw err("XML error: storage pool missing type attribute") }
        guard StoragePool.types.contains(type) else { throw err("XML error: unknown storage pool type \(type)") }
        var p = StoragePool(type: type)
        guard let n = r.child("name") else { throw err("XML error: missing pool source name element") }
        p.name = n.text.trimmingCharacters(in: .whitespacesAndNewlines)
        r.keep(n)
        try StorageXML.checkName(p.name, what: "pool")
        if let u = r.child("uuid") {
            let s = u.text
            guard let uuid = parseUUID(s) else { throw err("XML error: malformed uuid element '\(s)' in <pool>") }
            p.uuid = uuid
            r.keep(u)
        }
        if let e = r.child("capacity") { p.capacity = try StorageXML.size(e); r.keep(e) }
        if let e = r.child("allocation") { p.allocation = try StorageXML.size(e); r.keep(e) }
        if let e = r.child("available") { p.available = try StorageXML.size(e); r.keep(e) }
        if let s = r.child("source") { p.source = try source(s) }
        if let t = r.child("target") {
            if let path = t.child("path") {
                let v = path.text.trimmingCharacters(in: .whitespacesAndNewlines)
                t.keep(path)
                guard v.hasPrefix("/") else {
                    throw err("XML error: storage pool target path '\(v)' must be absolute")
                }
                p.targetPath = cleanPath(v)
            }
            if let perms = t.child("permissions") { p.targetPermissions = try StorageXML.permissions(perms) }
            r.keep(t)
        }
        p.extra = r.leftover()
        try validate(p)
        return p
    }

    static func source(_ s: ElementReader) throws(DomainXMLError) -> StoragePoolSource {
        var out = StoragePoolSource()
        for h in s.children("host") {
            guard let name = h.attr("name"), !name.isEmpty else { throw err("XML error: missing storage pool host name in <source>") }
            var host = StoragePoolSource.Host(name: name, port: try h.int("port"))
            if let port = host.port, !(1...65535).contains(port) {
                throw err("XML error: invalid port \(port) for storage pool host '\(name)'")
            }
            host.extra = h.leftover()
            out.hosts.append(host)
        }
        for d in s.children("device") {
            guard let path = d.attr("path"), !path.isEmpty else { throw err("XML error: missing storage pool source device path") }
            var dev = StoragePoolSource.Device(path: path)
            dev.extra = d.leftover()
            out.devices.append(dev)
        }
        if let d = s.child("dir") {
            guard let path = d.attr("path"), !path.isEmpty else { throw err("XML error: missing storage pool source dir path") }
            out.dir = path
            s.keep(d)
        }
        if let n = s.child("name") {
            out.name = n.text.trimmingCharacters(in: .whitespacesAndNewlines)
            s.keep(n)
        }
        if let f = s.child("format") {
            guard let t = f.attr("type") else { throw err("XML error: missing type attribute in storage pool source <format>") }
            out.format = t
            s.keep(f)
        }
        _ = s.text  // the indentation of an empty <source>, which the formatter writes back itself
        out.extra = s.leftover()
        return out
    }

    /// Per-type rules, as libvirt's virStoragePoolDefParseXML checks them.
    static func validate(_ p: StoragePool) throws(DomainXMLError) {
        let formats: [String]?
        switch p.type {
        case "fs": formats = StoragePool.fsFormats
        case "netfs": formats = StoragePool.netfsFormats
        case "logical": formats = StoragePool.logicalFormats
        default: formats = nil
        }
        if let f = p.source.format, let formats, !formats.contains(f) {
            throw err("XML error: unknown pool format type '\(f)' for a \(p.type) pool")
        }
        switch p.type {
        case "dir":
            guard p.targetPath != nil else { throw err("XML error: missing storage pool target path") }
        case "fs":
            guard p.source.devices.count == 1 else {
                throw err(p.source.devices.isEmpty ? "XML error: missing storage pool source device path"
                                                   : "XML error: an fs pool takes exactly one source device")
            }
            guard p.targetPath != nil else { throw err("XML error: missing storage pool target path") }
        case "netfs":
            guard !p.source.hosts.isEmpty else { throw err("XML error: missing storage pool source host name") }
            guard p.source.dir != nil else { throw err("XML error: missing storage pool source path") }
            guard p.targetPath != nil else { throw err("XML error: missing storage pool target path") }
        case "logical":
            if let vg = p.source.name {
                guard !vg.isEmpty, !vg.contains("/") else { throw err("XML error: invalid volume group name '\(vg)'") }
            }
        case "iscsi":
            guard !p.source.hosts.isEmpty else { throw err("XML error: missing storage pool source host name") }
            guard !p.source.devices.isEmpty else { throw err("XML error: missing storage pool source device path") }
        default:
            break
        }
    }

    /// Collapses '//' and drops a trailing '/', as libvirt's virFileSanitizePath.
    static func cleanPath(_ s: String) -> String {
        var out = ""
        for c in s where !(c == "/" && out.hasSuffix("/")) { out.append(c) }
        if out.count > 1 && out.hasSuffix("/") { out.removeLast() }
        return out
    }
}

enum StoragePoolFormatter {
    static let poolOrder = ["name", "uuid", "capacity", "allocation", "available", "features", "source", "target", "refresh"]
    static let sourceOrder = ["host", "device", "dir", "adapter", "name", "initiator", "format", "auth", "protocol",
                              "vendor", "product"]

    static func pool(_ p: StoragePool, inactive: Bool) -> XMLNode {
        var b = Builder("pool")
        b.attr("type", p.type)
        let sub = p.extra.childExtras
        b.add(StorageXML.text("name", p.name, sub["name"]))
        b.add(p.uuid.map { StorageXML.text("uuid", $0.uuidString.lowercased(), sub["uuid"]) })
        // libvirt always prints the sizes; an inactive pool reports what it last saw (0 here).
        b.add(StorageXML.size("capacity", inactive ? 0 : p.capacity ?? 0, sub["capacity"]))
        b.add(StorageXML.size("allocation", inactive ? 0 : p.allocation ?? 0, sub["allocation"]))
        b.add(StorageXML.size("available", inactive ? 0 : p.available ?? 0, sub["available"]))
        b.add(source(p.source))
        if p.targetPath != nil || p.targetPermissions != nil || sub["target"] != nil {
            var t = Builder("target")
            let tsub = sub["target"]?.childExtras ?? [:]
            if let path = p.targetPath { t.add(StorageXML.text("path", path, tsub["path"])) }
            if let perms = p.targetPermissions { t.add(StorageXML.permissions(perms)) }
            b.add(t.node(sub["target"], childOrder: ["path", "permissions", "timestamps", "encryption"]))
        }
        var extra = p.extra
        extra.childExtras = [:]
        return b.node(extra, attributeOrder: ["type"], childOrder: poolOrder)
    }

    static func source(_ s: StoragePoolSource) -> XMLNode {
        var e = Builder("source")
        let sub = s.extra.childExtras
        for h in s.hosts {
            var hb = Builder("host")
            hb.attr("name", h.name)
            hb.attr("port", h.port)
            e.add(hb.node(h.extra, attributeOrder: ["name", "port"]))
        }
        for d in s.devices {
            var db = Builder("device")
            db.attr("path", d.path)
            e.add(db.node(d.extra, attributeOrder: ["path", "part_separator"]))
        }
        if let dir = s.dir {
            var db = Builder("dir")
            db.attr("path", dir)
            e.add(db.node(sub["dir"]))
        }
        if let n = s.name { e.add(StorageXML.text("name", n, sub["name"])) }
        if let f = s.format {
            var fb = Builder("format")
            fb.attr("type", f)
            e.add(fb.node(sub["format"]))
        }
        var extra = s.extra
        extra.childExtras = [:]
        return emptySourceLikeLibvirt(e.node(extra, childOrder: sourceOrder))
    }
}

/// libvirt prints an empty <source> as an open and a close tag on two lines; a whitespace text
/// child makes the writer do the same.
func emptySourceLikeLibvirt(_ node: XMLNode) -> XMLNode {
    guard case .element(let name, let attributes, let children) = node, children.isEmpty else { return node }
    return .element(name: name, attributes: attributes, children: [.text("\n  ")])
}
