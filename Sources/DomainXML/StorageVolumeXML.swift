import Foundation

// libvirt's storage volume XML (libvirt.org/formatstorage.html#storage-volume-xml): model, parse
// with validation, format in libvirt's order. Unmodeled content stays in `extra`.

public struct StorageVolume: Sendable, Equatable {
    /// file | block | dir | network | netdir | ploop; nil when the XML gives none (the pool decides).
    public var type: String?
    public var name: String = ""
    public var key: String?
    /// Bytes. capacity is the guest-visible size; allocation what the host spends on it.
    public var capacity: UInt64?
    public var allocation: UInt64?
    public var physical: UInt64?
    public var targetPath: String?
    /// <target><format type=''/>: raw, qcow2, iso, ...
    public var format: String?
    public var targetPermissions: StoragePermissions?
    public var timestamps: Timestamps?
    /// qcow2 compat level (0.10 | 1.1).
    public var compat: String?
    public var backingStore: BackingStore?
    /// Unknown content of <volume>; childExtras["target"], ["source"], ... for the sub-elements.
    public var extra = Extra()
    public init(name: String = "") { self.name = name }

    public struct Timestamps: Sendable, Equatable {
        /// "seconds.nanoseconds", as libvirt prints them.
        public var atime: String?
        public var mtime: String?
        public var ctime: String?
        public var btime: String?
        public init(atime: String? = nil, mtime: String? = nil, ctime: String? = nil, btime: String? = nil) {
            self.atime = atime; self.mtime = mtime; self.ctime = ctime; self.btime = btime
        }
    }

    public struct BackingStore: Sendable, Equatable {
        public var path: String
        public var format: String?
        public var permissions: StoragePermissions?
        public var extra = Extra()
        public init(path: String, format: String? = nil) { self.path = path; self.format = format }
    }
}

extension StorageVolume {
    public static let types = ["file", "block", "dir", "network", "netdir", "ploop"]
    /// File formats libvirt knows (virStorageFileFormat).
    public static let formats = ["none", "raw", "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vhd",
                                 "ploop", "cow", "qcow", "qcow2", "qed", "vmdk", "luks", "vhdx"]

    /// Parses and validates a libvirt storage volume document.
    public init(xml: String) throws(DomainXMLError) {
        self = try StorageVolumeParser.parse(try XMLReader.parse(xml))
    }

    /// libvirt's layout and order, ending with a newline.
    public func formatXML() -> String {
        XMLWriter.write(StorageVolumeFormatter.volume(self))
    }
}

enum StorageVolumeParser {
    static func err(_ m: String) -> DomainXMLError { DomainXMLError(m) }

    static func parse(_ root: XMLNode) throws(DomainXMLError) -> StorageVolume {
        guard let r = ElementReader(root) else { throw err("XML error: document has no root element") }
        guard r.name == "volume" else { throw err("XML error: unexpected root element <\(r.name)>, expecting <volume>") }
        var v = StorageVolume()
        if let t = r.attr("type") {
            guard StorageVolume.types.contains(t) else { throw err("XML error: unknown volume type '\(t)'") }
            v.type = t
        }
        guard let n = r.child("name") else { throw err("XML error: missing volume name element") }
        v.name = n.text.trimmingCharacters(in: .whitespacesAndNewlines)
        r.keep(n)
        try StorageXML.checkName(v.name, what: "volume")
        if let k = r.child("key") { v.key = k.text; r.keep(k) }
        if let s = r.child("source") {
            _ = s.text  // indentation only; an empty <source> says nothing
            r.keep(s)
        }
        if let e = r.child("capacity") { v.capacity = try StorageXML.size(e); r.keep(e) }
        if let e = r.child("allocation") { v.allocation = try StorageXML.size(e); r.keep(e) }
        if let e = r.child("physical") { v.physical = try StorageXML.size(e); r.keep(e) }
        if let t = r.child("target") {
            if let p = t.child("path") { v.targetPath = p.text.trimmingCharacters(in: .whitespacesAndNewlines); t.keep(p) }
            v.format = try format(t)
            if let p = t.child("permissions") { v.targetPermissions = try StorageXML.permissions(p) }
            if let ts = t.child("timestamps") {
                var stamps = StorageVolume.Timestamps()
                for key in ["atime", "mtime", "ctime", "btime"] {
                    guard let e = ts.child(key) else { continue }
                    let value = e.text.trimmingCharacters(in: .whitespaces)
                    ts.keep(e)
                    switch key {
                    case "atime": stamps.atime = value
                    case "mtime": stamps.mtime = value
                    case "ctime": stamps.ctime = value
                    default: stamps.btime = value
                    }
                }
                v.timestamps = stamps
                t.keep(ts)
            }
            if let c = t.child("compat") {
                let value = c.text.trimmingCharacters(in: .whitespaces)
                guard value.split(separator: ".").count == 2, value.split(separator: ".").allSatisfy({ UInt32($0) != nil }) else {
                    throw err("XML error: forbidden characters in 'compat' attribute: '\(value)'")
                }
                v.compat = value
                t.keep(c)
            }
            r.keep(t)
        }
        if let b = r.child("backingStore") {
            guard let p = b.child("path") else { throw err("XML error: missing volume backing store path in <backingStore>") }
            var store = StorageVolume.BackingStore(path: p.text.trimmingCharacters(in: .whitespacesAndNewlines))
            b.keep(p)
            guard !store.path.isEmpty else { throw err("XML error: missing volume backing store path in <backingStore>") }
            store.format = try format(b)
            if let perms = b.child("permissions") { store.permissions = try StorageXML.permissions(perms) }
            store.extra = b.leftover()
            v.backingStore = store
        }
        v.extra = r.leftover()
        if v.capacity == nil && v.backingStore == nil {
            // libvirt takes the size from the backing store when there is one.
            throw err("XML error: missing capacity element")
        }
        return v
    }

    /// <format type=''/> under `parent`, checked against libvirt's file formats.
    static func format(_ parent: ElementReader) throws(DomainXMLError) -> String? {
        guard let f = parent.child("format") else { return nil }
        guard let t = f.attr("type") else { throw err("XML error: missing type attribute in <\(parent.name)><format>") }
        guard StorageVolume.formats.contains(t) else { throw err("XML error: unknown volume format type \(t)") }
        parent.keep(f)
        return t
    }
}

enum StorageVolumeFormatter {
    static let volumeOrder = ["name", "key", "source", "capacity", "allocation", "physical", "target", "backingStore"]
    static let targetOrder = ["path", "format", "permissions", "timestamps", "encryption", "compat", "clusterSize",
                              "nocow", "features"]

    static func volume(_ v: StorageVolume) -> XMLNode {
        var b = Builder("volume")
        b.attr("type", v.type)
        let sub = v.extra.childExtras
        b.add(StorageXML.text("name", v.name, sub["name"]))
        b.add(v.key.map { StorageXML.text("key", $0, sub["key"]) })
        if let s = sub["source"] { b.add(Builder("source").node(s)) }
        b.add(v.capacity.map { StorageXML.size("capacity", $0, sub["capacity"]) })
        b.add(v.allocation.map { StorageXML.size("allocation", $0, sub["allocation"]) })
        b.add(v.physical.map { StorageXML.size("physical", $0, sub["physical"]) })
        let tx = sub["target"]
        if v.targetPath != nil || v.format != nil || v.targetPermissions != nil || v.timestamps != nil
            || v.compat != nil || tx != nil {
            var t = Builder("target")
            let tsub = tx?.childExtras ?? [:]
            if let p = v.targetPath { t.add(StorageXML.text("path", p, tsub["path"])) }
            t.add(format(v.format, tsub["format"]))
            if let p = v.targetPermissions { t.add(StorageXML.permissions(p)) }
            if let ts = v.timestamps {
                var e = Builder("timestamps")
                let esub = tsub["timestamps"]?.childExtras ?? [:]
                for (key, value) in [("atime", ts.atime), ("mtime", ts.mtime), ("ctime", ts.ctime), ("btime", ts.btime)] {
                    if let value { e.add(StorageXML.text(key, value, esub[key])) }
                }
                t.add(e.node(tsub["timestamps"], childOrder: ["atime", "mtime", "ctime", "btime"]))
            }
            if let c = v.compat { t.add(StorageXML.text("compat", c, tsub["compat"])) }
            b.add(t.node(tx, childOrder: targetOrder))
        }
        if let s = v.backingStore {
            var e = Builder("backingStore")
            let ssub = s.extra.childExtras
            e.add(StorageXML.text("path", s.path, ssub["path"]))
            e.add(format(s.format, ssub["format"]))
            if let p = s.permissions { e.add(StorageXML.permissions(p)) }
            b.add(e.node(s.extra, childOrder: ["path", "format", "permissions", "timestamps"]))
        }
        var extra = v.extra
        extra.childExtras = [:]
        return b.node(extra, attributeOrder: ["type"], childOrder: volumeOrder)
    }

    static func format(_ type: String?, _ extra: Extra?) -> XMLNode? {
        guard let type else { return nil }
        var f = Builder("format")
        f.attr("type", type)
        return f.node(extra)
    }
}
