// A small, strict XML reader and writer for libvirt documents.
//
// Written by hand rather than on FoundationXML so that the limits are ours: no DTDs and no
// entity expansion beyond the five predefined entities and character references (no XXE, no
// billion laughs), a depth cap, a size cap, and an iterative loop that cannot overflow the stack.

/// Limits that keep hostile input cheap to reject.
/// Escapes text for XML content or a quoted attribute value (for XML documents built by hand,
/// such as capabilities).
public func xmlEscape(_ s: String) -> String { XMLWriter.escapeAttribute(s) }

public enum XMLLimits {
    public static let maxBytes = 16 << 20
    public static let maxDepth = 256
}

enum XMLReader {
    /// Parses a whole document and returns its root element.
    static func parse(_ text: String) throws(DomainXMLError) -> XMLNode {
        var bytes = Array(text.utf8)
        guard bytes.count <= XMLLimits.maxBytes else {
            throw DomainXMLError("XML error: document is larger than \(XMLLimits.maxBytes) bytes")
        }
        bytes = try normalizeLineEnds(bytes)
        var scanner = Scanner(bytes: bytes)
        return try scanner.document()
    }

    /// Rejects control characters XML forbids and turns CR LF and lone CR into LF, as XML 1.0 asks.
    private static func normalizeLineEnds(_ bytes: [UInt8]) throws(DomainXMLError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == 0x0D {
                out.append(0x0A)
                if i + 1 < bytes.count, bytes[i + 1] == 0x0A { i += 1 }
            } else if b < 0x20 && b != 0x09 && b != 0x0A {
                let line = bytes[..<i].reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }
                throw DomainXMLError("XML error: line \(line): invalid control character 0x\(String(b, radix: 16))")
            } else {
                out.append(b)
            }
            i += 1
        }
        return out
    }

    private struct Scanner {
        let bytes: [UInt8]
        var pos = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        func fail(_ message: String) -> DomainXMLError {
            var line = 1
            for b in bytes[..<min(pos, bytes.count)] where b == 0x0A { line += 1 }
            return DomainXMLError("XML error: line \(line): \(message)")
        }

        var atEnd: Bool { pos >= bytes.count }
        func peek(_ offset: Int = 0) -> UInt8? { pos + offset < bytes.count ? bytes[pos + offset] : nil }

        func starts(with s: StaticString) -> Bool {
            let n = s.utf8CodeUnitCount
            guard pos + n <= bytes.count else { return false }
            return s.withUTF8Buffer { buf in
                for k in 0..<n where bytes[pos + k] != buf[k] { return false }
                return true
            }
        }

        mutating func skipSpace() {
            while let b = peek(), isSpace(b) { pos += 1 }
        }

        /// Index of the first occurrence of `s` at or after `pos`, if any.
        func find(_ s: StaticString) -> Int? {
            let n = s.utf8CodeUnitCount
            return s.withUTF8Buffer { buf -> Int? in
                guard n > 0, bytes.count >= n else { return nil }
                var i = pos
                while i + n <= bytes.count {
                    if bytes[i] == buf[0] {
                        var k = 1
                        while k < n && bytes[i + k] == buf[k] { k += 1 }
                        if k == n { return i }
                    }
                    i += 1
                }
                return nil
            }
        }

        func string(_ from: Int, _ to: Int) -> String {
            String(decoding: bytes[from..<to], as: UTF8.self)
        }

        mutating func document() throws(DomainXMLError) -> XMLNode {
            if starts(with: "\u{FEFF}") { pos += 3 }
            try misc(allowDoctype: true)
            guard peek() == UInt8(ascii: "<") else {
                throw fail(atEnd ? "document is empty" : "start tag expected, '<' not found")
            }
            let root = try element()
            try misc(allowDoctype: false)
            guard atEnd else { throw fail("extra content at the end of the document") }
            return root
        }

        /// Whitespace, comments and processing instructions around the root element.
        mutating func misc(allowDoctype: Bool) throws(DomainXMLError) {
            while true {
                skipSpace()
                if starts(with: "<?") {
                    try skipProcessingInstruction()
                } else if starts(with: "<!--") {
                    _ = try comment()
                } else if starts(with: "<!DOCTYPE") || starts(with: "<!doctype") {
                    throw fail("DOCTYPE is not allowed (entity declarations are disabled)")
                } else {
                    return
                }
            }
        }

        mutating func skipProcessingInstruction() throws(DomainXMLError) {
            guard let end = find("?>") else { throw fail("unterminated processing instruction") }
            pos = end + 2
        }

        mutating func comment() throws(DomainXMLError) -> String {
            pos += 4
            guard let end = find("-->") else { throw fail("unterminated comment") }
            let text = string(pos, end)
            pos = end + 3
            return text
        }

        mutating func name() throws(DomainXMLError) -> String {
            let start = pos
            guard let first = peek(), isNameStart(first) else { throw fail("expected a name") }
            pos += 1
            while let b = peek(), isNameChar(b) { pos += 1 }
            return string(start, pos)
        }

        /// One element and its subtree, iteratively so that nesting cannot exhaust the stack.
        mutating func element() throws(DomainXMLError) -> XMLNode {
            struct Open { var name: String; var attributes: [XMLAttribute]; var children: [XMLNode] }
            var stack: [Open] = []
            var result: XMLNode?

            func close(_ open: Open) -> XMLNode {
                .element(name: open.name, attributes: open.attributes, children: tidy(open.children))
            }

            // Starts at '<' of the root start tag.
            while result == nil {
                if peek() == UInt8(ascii: "<") && !starts(with: "</") && !starts(with: "<!") && !starts(with: "<?") {
                    pos += 1
                    let tag = try name()
                    let attrs = try attributes(of: tag)
                    let empty: Bool
                    if starts(with: "/>") { pos += 2; empty = true }
                    else if peek() == UInt8(ascii: ">") { pos += 1; empty = false }
                    else { throw fail("malformed start tag <\(tag)>") }
                    let open = Open(name: tag, attributes: attrs, children: [])
                    if empty {
                        let node = close(open)
                        if stack.isEmpty { result = node } else { stack[stack.count - 1].children.append(node) }
                    } else {
                        guard stack.count < XMLLimits.maxDepth else {
                            throw fail("elements nested deeper than \(XMLLimits.maxDepth) levels")
                        }
                        stack.append(open)
                    }
                    continue
                }
                guard !stack.isEmpty else { throw fail("expected an element") }
                if atEnd {
                    throw fail("premature end of data: <\(stack[stack.count - 1].name)> is not closed")
                }
                if starts(with: "</") {
                    pos += 2
                    let tag = try name()
                    skipSpace()
                    if atEnd { throw fail("premature end of data in end tag </\(tag)") }
                    guard peek() == UInt8(ascii: ">") else { throw fail("malformed end tag </\(tag)>") }
                    pos += 1
                    let open = stack.removeLast()
                    guard open.name == tag else {
                        throw fail("opening and ending tag mismatch: \(open.name) and \(tag)")
                    }
                    let node = close(open)
                    if stack.isEmpty { result = node } else { stack[stack.count - 1].children.append(node) }
                } else if starts(with: "<!--") {
                    let c = try comment()
                    stack[stack.count - 1].children.append(.comment(c))
                } else if starts(with: "<![CDATA[") {
                    pos += 9
                    guard let end = find("]]>") else { throw fail("unterminated CDATA section") }
                    appendText(string(pos, end), to: &stack[stack.count - 1].children)
                    pos = end + 3
                } else if starts(with: "<?") {
                    try skipProcessingInstruction()
                } else if starts(with: "<!") {
                    throw fail("markup declarations are not allowed in content")
                } else {
                    let t = try text()
                    appendText(t, to: &stack[stack.count - 1].children)
                }
            }
            guard let root = result else { throw fail("expected an element") }
            return root
        }

        mutating func attributes(of tag: String) throws(DomainXMLError) -> [XMLAttribute] {
            var attrs: [XMLAttribute] = []
            while true {
                let hadSpace = peek().map(isSpace) ?? false
                skipSpace()
                guard let b = peek() else { throw fail("premature end of data in tag <\(tag)>") }
                if b == UInt8(ascii: ">") || b == UInt8(ascii: "/") { return attrs }
                guard hadSpace else { throw fail("attributes of <\(tag)> must be separated by whitespace") }
                let n = try name()
                skipSpace()
                guard peek() == UInt8(ascii: "=") else { throw fail("attribute '\(n)' of <\(tag)> has no value") }
                pos += 1
                skipSpace()
                guard let q = peek(), q == UInt8(ascii: "'") || q == UInt8(ascii: "\"") else {
                    throw fail("value of attribute '\(n)' of <\(tag)> is not quoted")
                }
                pos += 1
                var value = ""
                var runStart = pos
                while true {
                    guard let c = peek() else { throw fail("unterminated value of attribute '\(n)'") }
                    if c == q { break }
                    if c == UInt8(ascii: "<") { throw fail("'<' in value of attribute '\(n)' of <\(tag)>") }
                    if c == UInt8(ascii: "&") {
                        value += string(runStart, pos)
                        value += try reference()
                        runStart = pos
                    } else if c == 0x09 || c == 0x0A {
                        // Attribute-value normalisation: literal whitespace becomes a space.
                        value += string(runStart, pos)
                        value += " "
                        pos += 1
                        runStart = pos
                    } else {
                        pos += 1
                    }
                }
                value += string(runStart, pos)
                pos += 1
                if attrs.contains(where: { $0.name == n }) {
                    throw fail("attribute '\(n)' redefined in <\(tag)>")
                }
                attrs.append(XMLAttribute(n, value))
            }
        }

        /// Character data up to the next '<'.
        mutating func text() throws(DomainXMLError) -> String {
            var value = ""
            var runStart = pos
            while let c = peek(), c != UInt8(ascii: "<") {
                if c == UInt8(ascii: "&") {
                    value += string(runStart, pos)
                    value += try reference()
                    runStart = pos
                } else {
                    pos += 1
                }
            }
            value += string(runStart, pos)
            return value
        }

        /// `&name;` or `&#N;` / `&#xH;`. Only the predefined entities exist: nothing is ever expanded.
        mutating func reference() throws(DomainXMLError) -> String {
            let start = pos
            pos += 1
            var end = pos
            while end < bytes.count, end - pos < 12, bytes[end] != UInt8(ascii: ";") { end += 1 }
            guard end < bytes.count, bytes[end] == UInt8(ascii: ";") else {
                pos = start
                throw fail("'&' must start an entity or character reference")
            }
            let body = string(pos, end)
            pos = end + 1
            switch body {
            case "lt": return "<"
            case "gt": return ">"
            case "amp": return "&"
            case "apos": return "'"
            case "quot": return "\""
            default: break
            }
            if body.hasPrefix("#") {
                let digits = body.dropFirst()
                let value: UInt32?
                if digits.hasPrefix("x") { value = UInt32(digits.dropFirst(), radix: 16) }
                else { value = UInt32(digits, radix: 10) }
                if let v = value, isXMLChar(v), let scalar = Unicode.Scalar(v) {
                    return String(Character(scalar))
                }
                pos = start
                throw fail("invalid character reference '&\(body);'")
            }
            pos = start
            throw fail("undefined entity '&\(body);' (only the predefined XML entities are supported)")
        }
    }
}

private func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

private func isNameStart(_ b: UInt8) -> Bool {
    (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == UInt8(ascii: "_") || b == UInt8(ascii: ":") || b >= 0x80
}

private func isNameChar(_ b: UInt8) -> Bool {
    isNameStart(b) || (b >= 0x30 && b <= 0x39) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
}

private func isXMLChar(_ v: UInt32) -> Bool {
    v == 0x9 || v == 0xA || v == 0xD || (0x20...0xD7FF).contains(v) || (0xE000...0xFFFD).contains(v)
        || (0x10000...0x10FFFF).contains(v)
}

private func appendText(_ s: String, to children: inout [XMLNode]) {
    guard !s.isEmpty else { return }
    if case .text(let prev)? = children.last {
        children[children.count - 1] = .text(prev + s)
    } else {
        children.append(.text(s))
    }
}

/// Drops indentation: whitespace-only text between elements carries no meaning in libvirt XML.
/// Mixed content (non-blank text next to elements) and text-only content are kept exactly.
private func tidy(_ children: [XMLNode]) -> [XMLNode] {
    var hasMarkup = false
    for child in children {
        switch child {
        case .element, .comment: hasMarkup = true
        case .text(let t): if !isBlank(t) { return children }
        }
    }
    return hasMarkup ? children.filter { if case .text = $0 { return false } else { return true } } : children
}

func isBlank(_ s: String) -> Bool { s.utf8.allSatisfy(isSpace) }

// MARK: - Writing

enum XMLWriter {
    /// Serialises with libvirt's layout: 2-space indentation, single-quoted attributes.
    static func write(_ node: XMLNode) -> String {
        var out = ""
        write(node, indent: 0, into: &out)
        return out
    }

    private static func write(_ node: XMLNode, indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        switch node {
        case .text(let t):
            out += pad + escapeText(t) + "\n"
        case .comment(let c):
            out += pad + "<!--" + c + "-->\n"
        case .element(let name, let attributes, let children):
            out += pad
            startTag(name, attributes, into: &out)
            if children.isEmpty {
                out += "/>\n"
                return
            }
            out += ">"
            let textOnly = children.allSatisfy { if case .text = $0 { return true } else { return false } }
            let mixed = children.contains { if case .text(let t) = $0 { return !isBlank(t) } else { return false } }
            if textOnly || mixed {
                // Text is significant here: write it inline, untouched by indentation.
                for child in children { inline(child, into: &out) }
                out += "</" + name + ">\n"
            } else {
                out += "\n"
                for child in children { write(child, indent: indent + 2, into: &out) }
                out += pad + "</" + name + ">\n"
            }
        }
    }

    private static func inline(_ node: XMLNode, into out: inout String) {
        switch node {
        case .text(let t): out += escapeText(t)
        case .comment(let c): out += "<!--" + c + "-->"
        case .element(let name, let attributes, let children):
            startTag(name, attributes, into: &out)
            if children.isEmpty { out += "/>"; return }
            out += ">"
            for child in children { inline(child, into: &out) }
            out += "</" + name + ">"
        }
    }

    private static func startTag(_ name: String, _ attributes: [XMLAttribute], into out: inout String) {
        out += "<" + name
        for a in attributes { out += " " + a.name + "='" + escapeAttribute(a.value) + "'" }
    }

    static func escapeText(_ s: String) -> String { escape(s, attribute: false) }
    static func escapeAttribute(_ s: String) -> String { escape(s, attribute: true) }

    /// Attribute values also escape newlines and tabs, which parsers would otherwise normalise to spaces.
    private static func escape(_ s: String, attribute: Bool) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(s.unicodeScalars.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "'": out += "&apos;"
            case "\"": out += "&quot;"
            case "\r": out += "&#13;"
            case "\n" where attribute: out += "&#10;"
            case "\t" where attribute: out += "&#9;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
