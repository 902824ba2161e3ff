/// LVM2's text metadata format (the one in metadata areas and /etc/lvm/backup): sections in braces,
/// `key = value` with strings, integers and arrays, `#` comments.
indirect enum LVMValue: Sendable, Equatable {
    case string(String)
    case number(Int64)
    case array([LVMValue])
    case section(LVMSection)

    var string: String? { if case .string(let s) = self { s } else { nil } }
    var number: Int64? { if case .number(let n) = self { n } else { nil } }
    var array: [LVMValue]? { if case .array(let a) = self { a } else { nil } }
    var section: LVMSection? { if case .section(let s) = self { s } else { nil } }
}

struct LVMSection: Sendable, Equatable {
    var entries: [(key: String, value: LVMValue)] = []

    subscript(key: String) -> LVMValue? { entries.first { $0.key == key }?.value }

    static func == (a: LVMSection, b: LVMSection) -> Bool {
        a.entries.count == b.entries.count && zip(a.entries, b.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    /// Parses metadata text; malformed text throws naming the line.
    static func parse(_ text: String) throws(GuestFSError) -> LVMSection {
        var parser = LVMParser(bytes: Array(text.utf8))
        let top = try parser.section(depth: 0)
        guard parser.atEnd else { throw parser.failure("unexpected '}'") }
        return top
    }
}

private struct LVMParser {
    let bytes: [UInt8]
    var pos = 0
    // Real metadata nests four deep (vg / logical_volumes / lv / segment); this bounds recursion.
    static let maxDepth = 16

    var atEnd: Bool { pos >= bytes.count }

    func failure(_ what: String) -> GuestFSError {
        let line = bytes[..<min(pos, bytes.count)].reduce(1) { $1 == 10 ? $0 + 1 : $0 }
        return GuestFSError("LVM: metadata line \(line): \(what)")
    }

    mutating func skipSpace() {
        while pos < bytes.count {
            switch bytes[pos] {
            case 32, 9, 10, 13: pos += 1
            case UInt8(ascii: "#"): while pos < bytes.count && bytes[pos] != 10 { pos += 1 }
            default: return
            }
        }
    }

    static func isNameByte(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
            || c == UInt8(ascii: "_") || c == UInt8(ascii: ".") || c == UInt8(ascii: "-") || c == UInt8(ascii: "+")
    }

    /// Entries until '}' or the end of text (the '}' is left for the caller).
    mutating func section(depth: Int) throws(GuestFSError) -> LVMSection {
        guard depth < LVMParser.maxDepth else { throw failure("sections nested too deep") }
        var result = LVMSection()
        while true {
            skipSpace()
            if atEnd || bytes[pos] == UInt8(ascii: "}") { return result }
            let start = pos
            while pos < bytes.count && LVMParser.isNameByte(bytes[pos]) { pos += 1 }
            guard pos > start else { throw failure("expected a name") }
            let key = String(decoding: bytes[start..<pos], as: UTF8.self)
            skipSpace()
            guard !atEnd else { throw failure("unexpected end after \"\(key)\"") }
            if bytes[pos] == UInt8(ascii: "{") {
                pos += 1
                let inner = try section(depth: depth + 1)
                guard !atEnd else { throw failure("section \"\(key)\" is not closed") }
                pos += 1
                result.entries.append((key, .section(inner)))
            } else if bytes[pos] == UInt8(ascii: "=") {
                pos += 1
                result.entries.append((key, try value(inArray: false)))
            } else {
                throw failure("expected '=' or '{' after \"\(key)\"")
            }
        }
    }

    mutating func value(inArray: Bool) throws(GuestFSError) -> LVMValue {
        skipSpace()
        guard !atEnd else { throw failure("missing value") }
        let c = bytes[pos]
        if c == UInt8(ascii: "[") {
            guard !inArray else { throw failure("nested arrays") }
            pos += 1
            var items: [LVMValue] = []
            while true {
                skipSpace()
                guard !atEnd else { throw failure("array is not closed") }
                if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                if !items.isEmpty {
                    guard bytes[pos] == UInt8(ascii: ",") else { throw failure("expected ',' in array") }
                    pos += 1
                }
                items.append(try value(inArray: true))
            }
        }
        if c == UInt8(ascii: "\"") {
            pos += 1
            var out: [UInt8] = []
            while pos < bytes.count && bytes[pos] != UInt8(ascii: "\"") {
                if bytes[pos] == UInt8(ascii: "\\") && pos + 1 < bytes.count { pos += 1 }
                out.append(bytes[pos]); pos += 1
            }
            guard !atEnd else { throw failure("string is not closed") }
            pos += 1
            return .string(String(decoding: out, as: UTF8.self))
        }
        let start = pos
        if c == UInt8(ascii: "-") { pos += 1 }
        while pos < bytes.count && (bytes[pos] >= 48 && bytes[pos] <= 57 || bytes[pos] == UInt8(ascii: ".")) { pos += 1 }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        guard !text.isEmpty, text != "-" else { throw failure("unexpected character") }
        // Floats only occur in settings we never read; keep them as text.
        return Int64(text).map(LVMValue.number) ?? .string(text)
    }
}
