import Foundation

// Pieces shared by the pool and volume XML (libvirt.org/formatstorage.html): sizes with units,
// <permissions>, and the error type.

/// Owner, group and mode of a pool's target directory or a volume's file (<permissions>).
public struct StoragePermissions: Sendable, Equatable {
    public var mode: UInt32?
    public var owner: Int?
    public var group: Int?
    public var label: String?
    public var extra = Extra()
    public init(mode: UInt32? = nil, owner: Int? = nil, group: Int? = nil) {
        self.mode = mode; self.owner = owner; self.group = group
    }
}

enum StorageXML {
    static func err(_ message: String) -> DomainXMLError { DomainXMLError(message) }

    /// A size element (<capacity unit='G'>10</capacity>) in bytes; libvirt's default unit here is bytes.
    static func size(_ e: ElementReader) throws(DomainXMLError) -> UInt64 {
        let unit = e.attr("unit") ?? "bytes"
        let text = e.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let value = UInt64(text) else {
            throw err("XML error: invalid value '\(text)' for <\(e.name)>: expected a non-negative integer")
        }
        guard let scale = DomainParser.memoryScale(unit) else {
            throw err("unsupported configuration: unknown unit '\(unit)' in <\(e.name)>")
        }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: scale)
        // Files and devices are addressed with off_t: anything past Int64.max cannot exist.
        guard !overflow, bytes <= UInt64(Int64.max) else { throw err("XML error: value of <\(e.name)> is too large") }
        return bytes
    }

    static func permissions(_ p: ElementReader) throws(DomainXMLError) -> StoragePermissions {
        var out = StoragePermissions()
        if let m = p.child("mode") {
            let t = m.text.trimmingCharacters(in: .whitespaces)
            guard let v = UInt32(t, radix: 8), v <= 0o7777 else {
                throw err("XML error: malformed octal mode '\(t)' in <permissions>")
            }
            out.mode = v
            p.keep(m)
        }
        for key in ["owner", "group"] {
            guard let e = p.child(key) else { continue }
            let t = e.text.trimmingCharacters(in: .whitespaces)
            // libvirt accepts -1 for "leave as is".
            guard let v = Int(t), v >= -1, v <= Int(UInt32.max) else {
                throw err("XML error: malformed \(key) element '\(t)' in <permissions>: expected a number")
            }
            if key == "owner" { out.owner = v == -1 ? nil : v } else { out.group = v == -1 ? nil : v }
            p.keep(e)
        }
        if let l = p.child("label") { out.label = l.text; p.keep(l) }
        out.extra = p.leftover()
        return out
    }

    static func permissions(_ p: StoragePermissions) -> XMLNode {
        var b = Builder("permissions")
        let sub = p.extra.childExtras
        if let m = p.mode { b.add(text("mode", "0" + String(m, radix: 8), sub["mode"])) }
        if let o = p.owner { b.add(text("owner", String(o), sub["owner"])) }
        if let g = p.group { b.add(text("group", String(g), sub["group"])) }
        if let l = p.label { b.add(text("label", l, sub["label"])) }
        return b.node(p.extra, childOrder: ["mode", "owner", "group", "label"])
    }

    static func text(_ name: String, _ value: String, _ extra: Extra? = nil) -> XMLNode {
        var e = Builder(name)
        e.text(value)
        return e.node(extra)
    }

    static func size(_ name: String, _ bytes: UInt64, _ extra: Extra? = nil) -> XMLNode {
        var e = Builder(name)
        e.attr("unit", "bytes")
        e.text(String(bytes))
        return e.node(extra)
    }

    /// Names become file names (volumes) and config file names (pools): libvirt refuses '/'.
    static func checkName(_ name: String, what: String) throws(DomainXMLError) {
        guard !name.isEmpty else { throw err("XML error: missing \(what) name element") }
        guard !name.contains("/") else { throw err("XML error: name '\(name)' cannot contain '/'") }
        // They would name the directory itself or its parent.
        guard name != "." && name != ".." else { throw err("XML error: \(what) name '\(name)' is not allowed") }
        guard name.utf8.count <= 255 else { throw err("XML error: \(what) name '\(name.prefix(32))...' is longer than 255 bytes") }
    }
}
