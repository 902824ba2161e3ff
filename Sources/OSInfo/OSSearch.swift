import Foundation

extension OSDatabase {
    /// Case-insensitive search over short ids, names and versions. An exact short id comes first,
    /// then supported releases before end-of-life ones, newer releases first.
    public func search(_ query: String, limit: Int = 50, now: Date = Date()) -> [OSVariant] {
        let q = query.trimmingCharacters(in: .whitespaces).lowercased()
        guard !q.isEmpty else { return featured(now: now) }
        struct Hit { var v: OSVariant; var exact: Bool; var prefix: Bool; var eol: Bool }
        var hits: [Hit] = []
        for v in variants.values {
            let ids = v.shortIDs.map { $0.lowercased() }
            let exact = ids.contains(q)
            let prefix = ids.contains { $0.hasPrefix(q) }
            guard exact || prefix || ids.contains(where: { $0.contains(q) }) || v.name.lowercased().contains(q)
                    || (v.version?.lowercased().contains(q) ?? false) else { continue }
            hits.append(Hit(v: v, exact: exact, prefix: prefix, eol: v.isEOL(now: now)))
        }
        hits.sort { a, b in
            if a.exact != b.exact { return a.exact }
            if a.eol != b.eol { return !a.eol }
            if a.prefix != b.prefix { return a.prefix }
            return Self.newer(a.v, b.v)
        }
        return hits.prefix(max(limit, 0)).map(\.v)
    }

    /// Newer release first: release date, then the version number, then the short id.
    static func newer(_ a: OSVariant, _ b: OSVariant) -> Bool {
        let ra = a.releaseDate ?? "", rb = b.releaseDate ?? ""
        if ra != rb { return ra > rb }
        let va = versionKey(a.version), vb = versionKey(b.version)
        if va != vb { return va.lexicographicallyPrecedes(vb) == false }
        return a.shortID < b.shortID
    }

    static func versionKey(_ v: String?) -> [Int] {
        (v ?? "").split(separator: ".").map { Int($0) ?? -1 }
    }

    /// What the wizard shows before anything is typed: the newest supported release of common
    /// distributions, then the generic entries (virt-install's "linux2022" and "generic").
    public func featured(now: Date = Date()) -> [OSVariant] {
        let distros = ["debian", "ubuntu", "fedora", "rhel", "centos-stream", "almalinux", "rocky", "opensuse",
                       "sles", "archlinux", "alpinelinux", "freebsd", "openbsd"]
        var out: [OSVariant] = []
        for d in distros {
            let released = variants.values.filter { $0.distro == d && $0.releaseStatus == "released" && !$0.isEOL(now: now) }
            if let best = released.min(by: Self.newer) { out.append(best) }
        }
        for id in ["win11", "win10", "win2k22", "linux2022", "generic"] {
            if let v = lookup(id), !out.contains(v) { out.append(v) }
        }
        return out
    }
}
