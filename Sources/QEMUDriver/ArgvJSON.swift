// An ordered JSON object for QEMU's JSON `-device`/`-blockdev`/`-object` syntax.
// Key order is kept as written so argv is stable (golden tests compare text), as libvirt's is.

struct ArgvJSON: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    enum Value: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
        case string(String)
        case int(Int)
        case uint(UInt64)
        case bool(Bool)
        case object(ArgvJSON)
        case array([Value])
        case null
        init(stringLiteral value: String) { self = .string(value) }
        init(integerLiteral value: Int) { self = .int(value) }
        init(booleanLiteral value: Bool) { self = .bool(value) }
    }

    private(set) var pairs: [(key: String, value: Value)] = []

    init(dictionaryLiteral elements: (String, Value)...) {
        pairs = elements.map { (key: $0.0, value: $0.1) }
    }

    static func == (a: ArgvJSON, b: ArgvJSON) -> Bool {
        a.pairs.count == b.pairs.count && zip(a.pairs, b.pairs).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    subscript(key: String) -> Value? {
        pairs.first { $0.key == key }?.value
    }

    /// Appends `key`; nil values are skipped so optional properties read naturally at call sites.
    mutating func add(_ key: String, _ value: Value?) {
        guard let value else { return }
        pairs.append((key: key, value: value))
    }
    mutating func add(_ key: String, _ value: String?) { add(key, value.map(Value.string)) }
    mutating func add(_ key: String, _ value: Int?) { add(key, value.map(Value.int)) }
    mutating func add(_ key: String, _ value: Bool?) { add(key, value.map(Value.bool)) }
    mutating func add(contentsOf other: [(key: String, value: Value)]) { pairs += other }

    var text: String {
        var out = "{"
        for (i, pair) in pairs.enumerated() {
            if i > 0 { out += "," }
            out += Self.quote(pair.key) + ":" + Self.render(pair.value)
        }
        return out + "}"
    }

    private static func render(_ value: Value) -> String {
        switch value {
        case .string(let s): return quote(s)
        case .int(let n): return String(n)
        case .uint(let n): return String(n)
        case .bool(let b): return b ? "true" : "false"
        case .object(let o): return o.text
        case .array(let items): return "[" + items.map(render).joined(separator: ",") + "]"
        case .null: return "null"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
