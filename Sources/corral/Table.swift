import Foundation

/// virsh's vshTable: a header row and data rows, columns as wide as their widest cell,
/// each cell preceded by one space and followed by two (the last one by nothing), and a
/// dashed line of width+3 per column under the header. Quiet mode drops the header.
struct Table {
    var header: [String]
    var rows: [[String]] = []

    init(_ header: String...) { self.header = header }
    init(header: [String]) { self.header = header }

    mutating func append(_ cells: String...) { rows.append(cells) }
    mutating func append(row: [String]) { rows.append(row) }

    func render(header showHeader: Bool = true) -> String {
        let all = (showHeader ? [header] : []) + rows
        var widths = [Int](repeating: 0, count: header.count)
        for row in all {
            for (i, cell) in row.enumerated() where i < widths.count {
                widths[i] = max(widths[i], Self.displayWidth(Self.safeEncode(cell)))
            }
        }
        var out = ""
        func line(_ row: [String]) {
            for (i, raw) in row.enumerated() {
                let cell = Self.safeEncode(raw)
                out += " " + cell
                if i < row.count - 1 {
                    out += String(repeating: " ", count: max(0, widths[i] - Self.displayWidth(cell)) + 2)
                }
            }
            out += "\n"
        }
        if showHeader {
            line(header)
            out += String(repeating: "-", count: widths.reduce(0) { $0 + $1 + 3 }) + "\n"
        }
        rows.forEach(line)
        return out
    }

    /// Control characters (and a literal "\x") are shown as \xNN so that they cannot break the layout.
    static func safeEncode(_ s: String) -> String {
        var out = ""
        let scalars = Array(s.unicodeScalars)
        for (i, u) in scalars.enumerated() {
            let isEscapeLookalike = u == "\\" && i + 1 < scalars.count && scalars[i + 1] == "x"
            if u.value < 0x20 || u.value == 0x7f || isEscapeLookalike {
                out += String(format: "\\x%02x", u.value)
            } else {
                out.unicodeScalars.append(u)
            }
        }
        return out
    }

    /// Terminal columns: East Asian wide characters take two, combining marks none.
    static func displayWidth(_ s: String) -> Int {
        s.unicodeScalars.reduce(0) { width, u in
            let v = u.value
            if u.properties.generalCategory == .nonspacingMark || u.properties.generalCategory == .enclosingMark { return width }
            let wide = (0x1100...0x115F).contains(v) || (0x2E80...0xA4CF).contains(v) || (0xAC00...0xD7A3).contains(v)
                || (0xF900...0xFAFF).contains(v) || (0xFE30...0xFE4F).contains(v) || (0xFF00...0xFF60).contains(v)
                || (0xFFE0...0xFFE6).contains(v) || (0x1F300...0x1F64F).contains(v) || (0x1F900...0x1F9FF).contains(v)
                || (0x20000...0x3FFFD).contains(v)
            return width + (wide ? 2 : 1)
        }
    }
}
