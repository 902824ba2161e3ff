/// virsh's command-string syntax: words separated by blanks, commands by ';' or newlines,
/// single quotes literal, double quotes with backslash escapes, '#' starting a comment
/// when it begins a word, backslash-newline joining lines.
enum Tokenizer {
    struct SyntaxError: Error, CustomStringConvertible {
        var description: String
    }

    static func split(_ text: String) throws -> [[String]] {
        var commands: [[String]] = []
        var words: [String] = []
        let chars = Array(text)
        var i = 0
        func endCommand() {
            if !words.isEmpty { commands.append(words) }
            words = []
        }
        while i < chars.count {
            let c = chars[i]
            if c == " " || c == "\t" { i += 1; continue }
            if c == "\\" && i + 1 < chars.count && chars[i + 1] == "\n" { i += 2; continue }
            if c == ";" || c == "\n" { endCommand(); i += 1; continue }
            if c == "#" {
                while i < chars.count && chars[i] != "\n" { i += 1 }
                endCommand()
                continue
            }
            var word = ""
            var single = false, double = false
            while i < chars.count {
                let c = chars[i]
                if !single && !double && (c == " " || c == "\t" || c == ";" || c == "\n") { break }
                if !double && c == "'" { single.toggle(); i += 1; continue }
                if !single && c == "\"" { double.toggle(); i += 1; continue }
                if !single && c == "\\" {
                    i += 1
                    guard i < chars.count else { throw SyntaxError(description: "dangling \\") }
                    if chars[i] == "\n" { i += 1; continue }
                }
                word.append(chars[i])
                i += 1
            }
            if double { throw SyntaxError(description: "missing \"") }
            if single { throw SyntaxError(description: "missing '") }
            words.append(word)
        }
        endCommand()
        return commands
    }

    /// Command-line words: a lone ";" word separates commands.
    static func splitWords(_ words: [String]) -> [[String]] {
        var commands: [[String]] = [[]]
        for w in words {
            if w == ";" { commands.append([]) } else { commands[commands.count - 1].append(w) }
        }
        return commands.filter { !$0.isEmpty }
    }
}
