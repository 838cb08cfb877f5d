/// Where each key of a TOML document is written, by dotted path (`rollout.max_surge`,
/// `environment.GREETING`, `hosts.web-1.address`), so an error can name its line. TOMLKit
/// parses the values but keeps no positions; this scanner reads only the structure: table
/// headers, `key =` lines, and enough of strings and arrays to skip what spans lines.
struct TOMLLineIndex {
    private(set) var lines: [String: Int] = [:]

    init(_ text: String) {
        var table: [String] = []
        var openArrays = 0
        var openString: String?  // the closing delimiter of a multi-line string being skipped
        for (offset, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            var line = Substring(raw)
            if let close = openString {
                guard let end = line.range(of: close) else { continue }
                openString = nil
                line = line[end.upperBound...]
                openArrays += Self.bracketBalance(line, openString: &openString)
                continue
            }
            if openArrays > 0 {
                openArrays += Self.bracketBalance(line, openString: &openString)
                continue
            }
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            guard let first = trimmed.first, first != "#" else { continue }
            if first == "[" {
                let isArray = trimmed.hasPrefix("[[")
                let inside = trimmed.dropFirst(isArray ? 2 : 1).prefix { $0 != "]" }
                table = Self.keyPath(inside)
                record(table, number)
                continue
            }
            guard let equals = Self.firstUnquoted("=", in: trimmed) else { continue }
            let key = table + Self.keyPath(trimmed[..<equals])
            record(key, number)
            let value = trimmed[trimmed.index(after: equals)...]
            // An inline table's keys: on the same line.
            if let brace = value.drop(while: { $0 == " " }).first, brace == "{" {
                let inside = value.drop(while: { $0 != "{" }).dropFirst().prefix(while: { $0 != "}" })
                for part in inside.split(separator: ",") {
                    if let innerEquals = Self.firstUnquoted("=", in: part) { record(key + Self.keyPath(part[..<innerEquals]), number) }
                }
            }
            openArrays += Self.bracketBalance(value, openString: &openString)
        }
    }

    /// The line of `path`, or of its nearest enclosing key or table written in the file.
    func line(of path: [String]) -> Int? {
        var path = path
        while !path.isEmpty {
            if let line = lines[path.joined(separator: ".")] { return line }
            path.removeLast()
        }
        return nil
    }

    private mutating func record(_ path: [String], _ line: Int) {
        let key = path.joined(separator: ".")
        if lines[key] == nil { lines[key] = line }
    }

    /// `a.b`, `"a b".c`, `'x'` → components, unquoted.
    static func keyPath(_ text: Substring) -> [String] {
        var parts: [String] = [], current = "", quote: Character?
        for character in text {
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "." {
                parts.append(current)
                current = ""
            } else if character != " " && character != "\t" {
                current.append(character)
            }
        }
        parts.append(current)
        return parts
    }

    static func firstUnquoted(_ target: Character, in text: Substring) -> Substring.Index? {
        var quote: Character?
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if let open = quote {
                if character == "\\" && open == "\"" { index = text.index(after: index) } else if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == target {
                return index
            } else if character == "#" {
                return nil
            }
            if index < text.endIndex { index = text.index(after: index) }
        }
        return nil
    }

    /// `[` minus `]` outside strings and comments; notes a multi-line string left open.
    static func bracketBalance(_ text: Substring, openString: inout String?) -> Int {
        var balance = 0, quote: Character?
        var index = text.startIndex
        while index < text.endIndex {
            let rest = text[index...]
            if quote == nil, rest.hasPrefix("\"\"\"") || rest.hasPrefix("'''") {
                let delimiter = String(rest.prefix(3))
                let after = text.index(index, offsetBy: 3)
                guard let end = text[after...].range(of: delimiter) else { openString = delimiter; return balance }
                index = end.upperBound
                continue
            }
            let character = text[index]
            if let open = quote {
                if character == "\\" && open == "\"" { index = text.index(after: index) } else if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "#" {
                return balance
            } else if character == "[" {
                balance += 1
            } else if character == "]" {
                balance -= 1
            }
            if index < text.endIndex { index = text.index(after: index) }
        }
        return balance
    }
}
