/// Reads a unit file the way systemd does, for the settings Drover writes: joins lines that end
/// in an unescaped backslash, skips comments, splits `Key=value`, and splits `ExecStart=` and
/// `Environment=` into words with systemd's unquoting and C unescaping, then expands the
/// specifiers `%%` and `%i`. Anything Drover should never produce (another escape, another
/// specifier, an unterminated quote, an unquoted `;`) is an error, so a test sees it.
///
/// A model of systemd's parser (src/shared/conf-parser.c, src/basic/extract-word.c), written
/// for tests and the fuzzer; `UnitRoundTripTests` in DroverAgentTests checks the same values against a real
/// systemd.
public struct SystemdUnitReader: Sendable {
    public struct Failure: Error, CustomStringConvertible { public let description: String }

    /// Every `Key=value` of the file, in order, with values as systemd reads them (stripped).
    public let settings: [(key: String, value: String)]

    public init(_ text: String) throws {
        var logical: [String] = []
        var continuation: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            let stripped = line.drop { $0 == " " || $0 == "\t" }
            if continuation != nil, stripped.first == "#" || stripped.first == ";" { continue }
            var joined = (continuation ?? "") + line
            var escaped = false
            for scalar in joined.unicodeScalars { escaped = escaped ? false : scalar == "\\" }
            if escaped {
                joined = String(joined.unicodeScalars.dropLast()) + " "
                continuation = joined
                continue
            }
            continuation = nil
            logical.append(joined)
        }
        var settings: [(String, String)] = []
        for line in logical {
            let trimmed = Self.strip(line)
            guard let first = trimmed.unicodeScalars.first, first != "#", first != ";", first != "[" else { continue }
            guard let equals = trimmed.unicodeScalars.firstIndex(of: "=") else { throw Failure(description: "no '=' in \(trimmed)") }
            let key = Self.strip(String(trimmed.unicodeScalars[..<equals]))
            let value = Self.strip(String(trimmed.unicodeScalars[trimmed.unicodeScalars.index(after: equals)...]))
            settings.append((key, value))
        }
        self.settings = settings
    }

    public func values(_ key: String) -> [String] { settings.filter { $0.key == key }.map(\.value) }

    /// The words of a setting such as `ExecStart=`, unquoted, unescaped and with specifiers expanded.
    public static func words(_ value: String, instance: String) throws -> [String] {
        var words: [String] = []
        var scalars = Array(value.unicodeScalars)[...]
        while true {
            while let first = scalars.first, first == " " || first == "\t" { scalars = scalars.dropFirst() }
            guard !scalars.isEmpty else { return words }
            if scalars.first == ";", scalars.count == 1 || scalars.dropFirst().first == " " {
                throw Failure(description: "an unquoted ';' would start a second command line")
            }
            var word = String.UnicodeScalarView()
            var quote: Unicode.Scalar?
            while let scalar = scalars.first {
                scalars = scalars.dropFirst()
                if scalar == "\\" {
                    guard let next = scalars.first else { throw Failure(description: "a trailing backslash") }
                    scalars = scalars.dropFirst()
                    guard next == "\\" || next == "\"" else { throw Failure(description: "an escape \\\(next) Drover never writes") }
                    word.append(next)
                } else if let open = quote {
                    if scalar == open { quote = nil } else { word.append(scalar) }
                } else if scalar == "\"" || scalar == "'" {
                    quote = scalar
                } else if scalar == " " || scalar == "\t" {
                    break
                } else {
                    word.append(scalar)
                }
            }
            guard quote == nil else { throw Failure(description: "an unterminated quote in \(value)") }
            words.append(try expandSpecifiers(String(word), instance: instance))
        }
    }

    /// `%%` → `%`, `%i` → the instance; any other specifier is a failure (Drover never means one).
    public static func expandSpecifiers(_ text: String, instance: String) throws -> String {
        var out = String.UnicodeScalarView()
        var scalars = text.unicodeScalars[...]
        while let scalar = scalars.popFirst() {
            guard scalar == "%" else { out.append(scalar); continue }
            switch scalars.popFirst() {
            case "%": out.append("%")
            case "i": out.append(contentsOf: instance.unicodeScalars)
            case let other: throw Failure(description: "the specifier %\(other.map(String.init) ?? "") would be expanded in \(text)")
            }
        }
        return String(out)
    }

    /// systemd strips spaces, tabs and newlines (its WHITESPACE) from both ends.
    public static func strip(_ text: String) -> String {
        let isSpace = { (s: Unicode.Scalar) in s == " " || s == "\t" || s == "\n" || s == "\r" }
        var scalars = text.unicodeScalars[...]
        while let first = scalars.first, isSpace(first) { scalars = scalars.dropFirst() }
        while let last = scalars.last, isSpace(last) { scalars = scalars.dropLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}
