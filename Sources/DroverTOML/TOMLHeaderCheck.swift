/// Table headers toml++ cannot be given. Its parser assumes that the first character of a
/// table header's name is a bare-key character or a quote (an assertion in a debug build,
/// undefined behaviour in a release build), so `[.environment]` or `[é]` would crash the CLI
/// instead of being refused; the fuzzer found it. This finds the first such header, reading
/// the text as TOML does: by Unicode scalars, past strings, comments and multi-line values.
enum TOMLHeaderCheck {
    /// The line (1-based) of the first table header that does not start with a bare key or a
    /// quoted one, or nil.
    static func badHeaderLine(in text: String) -> Int? {
        let scalars = Array(text.unicodeScalars)
        var index = 0, line = 1, depth = 0, atLineStart = true
        func isBareKey(_ scalar: Unicode.Scalar) -> Bool {
            ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "_" || scalar == "-"
        }
        func skipBlanks() { while index < scalars.count, scalars[index] == " " || scalars[index] == "\t" { index += 1 } }
        /// Skips the string starting at `index` (its opening quote), counting its lines.
        func skipString() {
            let quote = scalars[index]
            let triple = index + 2 < scalars.count && scalars[index + 1] == quote && scalars[index + 2] == quote
            index += triple ? 3 : 1
            while index < scalars.count {
                let scalar = scalars[index]
                if scalar == "\n" {
                    if !triple { return }  // an unterminated string: toml++ reports it (the newline is counted by the caller)
                    line += 1
                }
                if scalar == "\\" && quote == "\"" {
                    // An escape, or a line-ending backslash: its newline still counts.
                    if index + 1 < scalars.count, scalars[index + 1] == "\n" { line += 1 }
                    index += 2
                    continue
                }
                if scalar == quote {
                    if !triple { index += 1; return }
                    if index + 2 < scalars.count, scalars[index + 1] == quote, scalars[index + 2] == quote {
                        index += 3
                        while index < scalars.count, scalars[index] == quote { index += 1 }  // up to two quotes end the content
                        return
                    }
                }
                index += 1
            }
        }
        while index < scalars.count {
            if atLineStart {
                atLineStart = false
                skipBlanks()
                if depth == 0, index < scalars.count, scalars[index] == "[" {
                    index += 1
                    if index < scalars.count, scalars[index] == "[" { index += 1 }
                    skipBlanks()
                    guard index < scalars.count else { return line }
                    let first = scalars[index]
                    if !(isBareKey(first) || first == "\"" || first == "'" || first == "]") { return line }
                    // The rest of the header line is toml++'s to judge; skip to its end.
                    while index < scalars.count, scalars[index] != "\n" {
                        if scalars[index] == "\"" || scalars[index] == "'" { skipString(); continue }
                        index += 1
                    }
                    continue
                }
            }
            guard index < scalars.count else { break }
            switch scalars[index] {
            case "\n":
                line += 1
                atLineStart = true
                index += 1
            case "#":
                while index < scalars.count, scalars[index] != "\n" { index += 1 }
            case "\"", "'":
                skipString()
            case "[", "{":
                depth += 1
                index += 1
            case "]", "}":
                depth = max(0, depth - 1)
                index += 1
            default:
                index += 1
            }
        }
        return nil
    }
}
