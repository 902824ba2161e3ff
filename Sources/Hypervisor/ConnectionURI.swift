import Foundation

/// A libvirt connection URI: `driver[+transport]://[user@][host][:port]/path[?params]`,
/// e.g. `qemu:///system`, `qemu+ssh://root@host/system`, `qemu:///embed?root=/srv/vms`.
public struct ConnectionURI: Sendable, Equatable, CustomStringConvertible {
    public struct Param: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) { self.name = name; self.value = value }
    }

    /// The hypervisor driver: `qemu`, `test`, ...
    public var driver: String
    /// `unix`, `tcp`, `tls`, `ssh`, `libssh2`, `ext`...; nil when none was given.
    public var transport: String?
    public var user: String?
    public var host: String?
    public var port: Int?
    /// Always starts with "/" (empty when the URI had no path).
    public var path: String
    /// Query parameters, percent-decoded, in order.
    public var params: [Param]
    /// The URI as given.
    public var string: String

    public var description: String { string }

    /// The value of the first query parameter called `name`.
    public subscript(param name: String) -> String? { params.first { $0.name == name }?.value }

    /// A host or a transport makes it a remote connection (served by corrald).
    public var isRemote: Bool { transport != nil || (host.map { !$0.isEmpty } ?? false) }

    public init(parsing text: String) throws(VirError) {
        func bad(_ why: String) -> VirError {
            VirError(.invalidArg, "invalid argument: unable to parse URI '\(text)': \(why)")
        }
        string = text
        guard let schemeEnd = text.range(of: ":") else { throw bad("missing scheme") }
        let scheme = String(text[..<schemeEnd.lowerBound]).lowercased()
        guard !scheme.isEmpty,
              scheme.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == "." }),
              scheme.first?.isLetter == true
        else { throw bad("invalid scheme") }
        if let plus = scheme.firstIndex(of: "+") {
            driver = String(scheme[..<plus])
            let t = String(scheme[scheme.index(after: plus)...])
            guard !t.isEmpty else { throw bad("empty transport") }
            transport = t
        } else {
            driver = scheme
            transport = nil
        }

        var rest = Substring(text[schemeEnd.upperBound...])
        // Query first, so a '?' never ends up in the host or path.
        var query: Substring?
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }

        user = nil; host = nil; port = nil
        if rest.hasPrefix("//") {
            rest = rest.dropFirst(2)
            let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
            var authority = rest[..<authorityEnd]
            rest = rest[authorityEnd...]
            if let at = authority.lastIndex(of: "@") {
                user = try Self.decode(authority[..<at], in: text)
                authority = authority[authority.index(after: at)...]
            }
            // IPv6 literal: [::1]:16509
            if authority.hasPrefix("[") {
                guard let close = authority.firstIndex(of: "]") else { throw bad("unterminated IPv6 address") }
                host = String(authority[authority.index(after: authority.startIndex)..<close])
                authority = authority[authority.index(after: close)...]
                if !authority.isEmpty {
                    guard authority.hasPrefix(":") else { throw bad("garbage after IPv6 address") }
                    port = try Self.port(authority.dropFirst(), bad)
                }
            } else if let colon = authority.lastIndex(of: ":") {
                host = String(authority[..<colon])
                port = try Self.port(authority[authority.index(after: colon)...], bad)
            } else if !authority.isEmpty {
                host = String(authority)
            }
            if host?.isEmpty == true { host = nil }
        }
        path = try Self.decode(rest, in: text)
        params = []
        if let query, !query.isEmpty {
            for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = try Self.decode(parts[0], plusIsSpace: true, in: text)
                let value = parts.count > 1 ? try Self.decode(parts[1], plusIsSpace: true, in: text) : ""
                params.append(Param(name, value))
            }
        }
    }

    private static func port(_ s: Substring, _ bad: (String) -> VirError) throws(VirError) -> Int? {
        if s.isEmpty { return nil }
        guard let p = Int(s), (0...65535).contains(p) else { throw bad("invalid port '\(s)'") }
        return p
    }

    /// Percent-decoding (and '+' as space in query strings, as libvirt's URI parser does).
    static func decode(_ s: Substring, plusIsSpace: Bool = false, in text: String) throws(VirError) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count)
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%") {
                guard it.count >= 2, let hi = hexValue(it[it.startIndex]), let lo = hexValue(it[it.startIndex + 1]) else {
                    throw VirError(.invalidArg, "invalid argument: unable to parse URI '\(text)': bad percent-encoding")
                }
                bytes.append(hi << 4 | lo)
                it = it.dropFirst(2)
            } else if plusIsSpace && b == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The URI a client uses when none is given: CORRAL_DEFAULT_URI, then LIBVIRT_DEFAULT_URI,
    /// then `qemu:///session`.
    public static func defaultURI(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        for key in ["CORRAL_DEFAULT_URI", "LIBVIRT_DEFAULT_URI"] {
            if let v = environment[key], !v.isEmpty { return v }
        }
        return "qemu:///session"
    }
}
