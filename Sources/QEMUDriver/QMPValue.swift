import Foundation

/// A JSON value as QMP sends it. Decoded with `JSONDecoder`, which rejects malformed
/// input with an error (never a crash) and keeps booleans distinct from numbers.
public enum QMPValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([QMPValue])
    case object([String: QMPValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        // Counters above Int64.max are out of QEMU's range in practice; keep them approximately.
        else if let u = try? c.decode(UInt64.self) { self = .double(Double(u)) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([QMPValue].self) { self = .array(a) }
        else if let o = try? c.decode([String: QMPValue].self) { self = .object(o) }
        else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a JSON value") }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Parses one JSON document; nil for anything that is not valid JSON.
    public static func parse(_ bytes: some Collection<UInt8>) -> QMPValue? {
        try? JSONDecoder().decode(QMPValue.self, from: Data(bytes))
    }

    /// Compact JSON text (QMP input must not contain raw newlines; JSONEncoder escapes them).
    public func jsonData() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(self)
    }

    public subscript(key: String) -> QMPValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var array: [QMPValue]? { if case .array(let a) = self { return a }; return nil }
    public var object: [String: QMPValue]? { if case .object(let o) = self { return o }; return nil }
    public var int64: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.isFinite && d >= -9.2e18 && d <= 9.2e18: return Int64(d)
        default: return nil
        }
    }
    /// Non-negative integer values (counters, sizes); nil when negative or not a number.
    public var uint64: UInt64? {
        switch self {
        case .int(let i) where i >= 0: return UInt64(i)
        case .double(let d) where d.isFinite && d >= 0 && d < 1.8e19: return UInt64(d)
        default: return nil
        }
    }
}

extension QMPValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(dictionaryLiteral elements: (String, QMPValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(arrayLiteral elements: QMPValue...) { self = .array(elements) }
}
