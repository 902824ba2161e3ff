import Foundation

// XDR (RFC 4506) as libvirt's rpcgen output uses it: big-endian 4-byte units, lengths
// validated against both the declared maximum and the bytes actually left, so a hostile
// length can neither crash the reader nor make it allocate more than the packet holds.

/// Why an XDR payload could not be decoded.
public enum XDRError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The data ended before a value did.
    case truncated(needed: Int, remaining: Int)
    /// A string, opaque or array length above the protocol's maximum.
    case lengthTooLarge(length: UInt32, max: Int)
    /// A bool other than 0 or 1.
    case invalidBool(UInt32)
    /// An optional (`*x`) marker other than 0 or 1.
    case invalidOptional(UInt32)
    /// A union discriminant with no arm.
    case invalidDiscriminant(Int32)
    /// A string that is not UTF-8.
    case invalidUTF8
    /// Bytes left over after the value.
    case trailingBytes(Int)

    public var description: String {
        switch self {
        case let .truncated(needed, remaining): "XDR data truncated: need \(needed) bytes, \(remaining) left"
        case let .lengthTooLarge(length, max): "XDR length \(length) exceeds maximum \(max)"
        case let .invalidBool(v): "XDR bool has invalid value \(v)"
        case let .invalidOptional(v): "XDR optional marker has invalid value \(v)"
        case let .invalidDiscriminant(v): "XDR union discriminant \(v) is not valid"
        case .invalidUTF8: "XDR string is not valid UTF-8"
        case let .trailingBytes(n): "\(n) unexpected bytes after XDR data"
        }
    }
}

/// A value with an XDR encoding.
public protocol XDRCodable: Sendable {
    init(xdr: inout XDRReader) throws(XDRError)
    func encode(xdr: inout XDRWriter)
}

extension XDRCodable {
    /// Decodes exactly one value from `bytes`; trailing bytes are an error.
    public init(xdrBytes bytes: [UInt8]) throws(XDRError) {
        var r = XDRReader(bytes)
        self = try Self(xdr: &r)
        try r.finish()
    }

    public var xdrBytes: [UInt8] {
        var w = XDRWriter()
        encode(xdr: &w)
        return w.bytes
    }
}

/// Reads XDR from a byte array.
public struct XDRReader: Sendable {
    public let bytes: [UInt8]
    public private(set) var position: Int

    public init(_ bytes: [UInt8]) { self.bytes = bytes; self.position = 0 }

    public var remaining: Int { bytes.count - position }

    /// Fails if anything is left unread.
    public func finish() throws(XDRError) {
        if remaining != 0 { throw .trailingBytes(remaining) }
    }

    private mutating func take(_ n: Int) throws(XDRError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else { throw .truncated(needed: n, remaining: remaining) }
        defer { position += n }
        return bytes[position..<position + n]
    }

    public mutating func readUInt32() throws(XDRError) -> UInt32 {
        let s = try take(4)
        var v: UInt32 = 0
        for b in s { v = v << 8 | UInt32(b) }
        return v
    }

    public mutating func readInt32() throws(XDRError) -> Int32 { Int32(bitPattern: try readUInt32()) }

    public mutating func readUInt64() throws(XDRError) -> UInt64 {
        let hi = UInt64(try readUInt32()), lo = UInt64(try readUInt32())
        return hi << 32 | lo
    }

    public mutating func readInt64() throws(XDRError) -> Int64 { Int64(bitPattern: try readUInt64()) }

    public mutating func readDouble() throws(XDRError) -> Double { Double(bitPattern: try readUInt64()) }

    public mutating func readBool() throws(XDRError) -> Bool {
        switch try readUInt32() {
        case 0: return false
        case 1: return true
        case let v: throw .invalidBool(v)
        }
    }

    /// A length word, checked against `max` and against the bytes left (each item taking
    /// at least `minItemSize` bytes), before anything is allocated for it.
    public mutating func readLength(max: Int, minItemSize: Int = 1) throws(XDRError) -> Int {
        let n = try readUInt32()
        guard Int(n) <= max else { throw .lengthTooLarge(length: n, max: max) }
        let needed = Int(n) * minItemSize
        guard needed <= remaining else { throw .truncated(needed: needed, remaining: remaining) }
        return Int(n)
    }

    /// Fixed-length opaque data (`opaque x[n]`), padded to 4 bytes.
    public mutating func readFixedOpaque(_ n: Int) throws(XDRError) -> [UInt8] {
        let padded = (n + 3) & ~3
        guard padded <= remaining else { throw .truncated(needed: padded, remaining: remaining) }
        let data = Array(try take(n))
        _ = try take(padded - n)
        return data
    }

    /// Variable-length opaque data (`opaque x<max>`).
    public mutating func readOpaque(max: Int) throws(XDRError) -> [UInt8] {
        let n = try readLength(max: max)
        return try readFixedOpaque(n)
    }

    /// `string x<max>`, UTF-8.
    public mutating func readString(max: Int = XDRLimits.stringMax) throws(XDRError) -> String {
        let data = try readOpaque(max: max)
        guard let s = String(bytes: data, encoding: .utf8) else { throw .invalidUTF8 }
        return s
    }

    /// Variable-length array (`T x<max>`); every XDR item takes at least 4 bytes.
    public mutating func readArray<T>(max: Int, _ item: (inout XDRReader) throws(XDRError) -> T) throws(XDRError) -> [T] {
        let n = try readLength(max: max, minItemSize: 4)
        var out: [T] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try item(&self)) }
        return out
    }

    public mutating func readArray<T: XDRCodable>(max: Int, of: T.Type = T.self) throws(XDRError) -> [T] {
        try readArray(max: max) { (r: inout XDRReader) throws(XDRError) -> T in try T(xdr: &r) }
    }

    /// Optional data (`T *x`): a bool marker, then the value if present.
    public mutating func readOptional<T>(_ item: (inout XDRReader) throws(XDRError) -> T) throws(XDRError) -> T? {
        switch try readUInt32() {
        case 0: return nil
        case 1: return try item(&self)
        case let v: throw .invalidOptional(v)
        }
    }

    public mutating func readOptional<T: XDRCodable>(_: T.Type = T.self) throws(XDRError) -> T? {
        try readOptional { (r: inout XDRReader) throws(XDRError) -> T in try T(xdr: &r) }
    }

    /// `remote_string`: an optional string.
    public mutating func readOptionalString(max: Int = XDRLimits.stringMax) throws(XDRError) -> String? {
        try readOptional { (r: inout XDRReader) throws(XDRError) -> String in try r.readString(max: max) }
    }

    /// rpcgen's `char x[n]` / `char x<max>`: each char in its own 4-byte unit, as a C string
    /// (up to the first NUL).
    public mutating func readCharArray(fixed n: Int) throws(XDRError) -> String {
        guard n * 4 <= remaining else { throw .truncated(needed: n * 4, remaining: remaining) }
        var chars: [UInt8] = []
        for _ in 0..<n { chars.append(UInt8(truncatingIfNeeded: try readUInt32())) }
        return Self.cString(chars)
    }

    public mutating func readCharArray(max: Int) throws(XDRError) -> String {
        let n = try readLength(max: max, minItemSize: 4)
        return try readCharArray(fixed: n)
    }

    private static func cString(_ chars: [UInt8]) -> String {
        String(decoding: chars.prefix { $0 != 0 }, as: UTF8.self)
    }
}

/// Writes XDR. Values over a declared maximum are written anyway (the peer would reject
/// them) and recorded in `overflow`, so a sender can refuse to send instead.
public struct XDRWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    /// The first length that exceeded its maximum, if any.
    public private(set) var overflow: XDRError?

    public init() {}

    public mutating func writeUInt32(_ v: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: v >> 24))
        bytes.append(UInt8(truncatingIfNeeded: v >> 16))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    public mutating func writeInt32(_ v: Int32) { writeUInt32(UInt32(bitPattern: v)) }
    public mutating func writeUInt64(_ v: UInt64) { writeUInt32(UInt32(truncatingIfNeeded: v >> 32)); writeUInt32(UInt32(truncatingIfNeeded: v)) }
    public mutating func writeInt64(_ v: Int64) { writeUInt64(UInt64(bitPattern: v)) }
    public mutating func writeDouble(_ v: Double) { writeUInt64(v.bitPattern) }
    public mutating func writeBool(_ v: Bool) { writeUInt32(v ? 1 : 0) }

    public mutating func writeLength(_ n: Int, max: Int) {
        if n > max, overflow == nil { overflow = .lengthTooLarge(length: UInt32(clamping: n), max: max) }
        writeUInt32(UInt32(clamping: n))
    }

    public mutating func writeFixedOpaque(_ data: some Collection<UInt8>) {
        bytes.append(contentsOf: data)
        let pad = (4 - data.count % 4) % 4
        bytes.append(contentsOf: repeatElement(0, count: pad))
    }

    public mutating func writeOpaque(_ data: some Collection<UInt8>, max: Int) {
        writeLength(data.count, max: max)
        writeFixedOpaque(data)
    }

    public mutating func writeString(_ s: String, max: Int = XDRLimits.stringMax) {
        writeOpaque(Array(s.utf8), max: max)
    }

    public mutating func writeArray<T>(_ items: [T], max: Int, _ item: (inout XDRWriter, T) -> Void) {
        writeLength(items.count, max: max)
        for x in items { item(&self, x) }
    }

    public mutating func writeArray<T: XDRCodable>(_ items: [T], max: Int) {
        writeArray(items, max: max) { w, x in x.encode(xdr: &w) }
    }

    public mutating func writeOptional<T>(_ v: T?, _ item: (inout XDRWriter, T) -> Void) {
        if let v { writeUInt32(1); item(&self, v) } else { writeUInt32(0) }
    }

    public mutating func writeOptional<T: XDRCodable>(_ v: T?) {
        writeOptional(v) { w, x in x.encode(xdr: &w) }
    }

    public mutating func writeOptionalString(_ s: String?, max: Int = XDRLimits.stringMax) {
        writeOptional(s) { w, x in w.writeString(x, max: max) }
    }

    /// rpcgen's `char x[n]`: the string's bytes, NUL-filled to n, one 4-byte unit each
    /// (truncated so the last char stays NUL, as C's fixed buffers are).
    public mutating func writeCharArray(_ s: String, fixed n: Int) {
        let chars = Array(s.utf8.prefix(max(0, n - 1)))
        for i in 0..<n { writeInt32(i < chars.count ? Int32(Int8(bitPattern: chars[i])) : 0) }
    }

    /// rpcgen's `char x<max>` holding a C string: length includes the terminating NUL,
    /// as libvirtd sends security labels and models.
    public mutating func writeCharArray(_ s: String, max: Int) {
        let chars = Array(s.utf8)
        writeLength(chars.count + 1, max: max)
        for c in chars { writeInt32(Int32(Int8(bitPattern: c))) }
        writeInt32(0)
    }
}

/// Limits from remote_protocol.x and virnetprotocol.x.
public enum XDRLimits {
    public static let stringMax = 4_194_304            // REMOTE_STRING_MAX
    public static let domainListMax = 16_384           // REMOTE_DOMAIN_LIST_MAX
    public static let authTypeListMax = 20             // REMOTE_AUTH_TYPE_LIST_MAX
    public static let vcpuInfoMax = 16_384             // REMOTE_VCPUINFO_MAX
    public static let cpumapsMax = 8_388_608           // REMOTE_CPUMAPS_MAX
    public static let cpumapMax = 2048                 // REMOTE_CPUMAP_MAX
    public static let securityLabelListMax = 64        // REMOTE_SECURITY_LABEL_LIST_MAX
    public static let securityModelMax = 257           // VIR_SECURITY_MODEL_BUFLEN
    public static let securityLabelMax = 4097          // VIR_SECURITY_LABEL_BUFLEN
    public static let securityDOIMax = 257             // VIR_SECURITY_DOI_BUFLEN
    public static let allDomainStatsMax = 4096         // REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX
    public static let memoryStatsMax = 1024            // REMOTE_DOMAIN_MEMORY_STATS_MAX
    public static let nodeModelLength = 32             // char model[32] in remote_node_get_info_ret
}
