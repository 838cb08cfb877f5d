/// How spec values are written into unit files, decided on Unicode scalars (and so on the bytes
/// systemd reads), never on Swift `Character`s: a grapheme cluster can fuse a `"`, `\` or `%`
/// with a combining mark after it (U+0301) or a prepended mark before it (U+0600), and a
/// `Character` comparison then misses the byte systemd will see.
public enum UnitFileText {
    /// One word for `ExecStart=` or `Environment=`: double-quoted, with `\` and `"` escaped and
    /// every `%` doubled, so systemd's word splitting, unquoting and specifier expansion give
    /// back exactly `word`. `$` is kept: `${PORT}` in an argument is expanded by systemd, as
    /// documented for `arguments`.
    public static func quoted(_ word: String) -> String {
        var out = String.UnicodeScalarView()
        out.append("\"")
        for scalar in word.unicodeScalars {
            switch scalar {
            case "\\": out.append(contentsOf: #"\\"#.unicodeScalars)
            case "\"": out.append(contentsOf: #"\""#.unicodeScalars)
            case "%": out.append(contentsOf: "%%".unicodeScalars)
            default: out.append(scalar)
            }
        }
        out.append("\"")
        return String(out)
    }

    /// `value` with every `%` doubled, for a setting written without quotes.
    public static func escapingSpecifiers(_ value: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in value.unicodeScalars {
            if scalar == "%" { out.append("%") }
            out.append(scalar)
        }
        return String(out)
    }

    /// Why `value` cannot be written into a unit file however it is escaped, or nil if it can:
    /// a control character (a newline would start a new directive; systemd refuses the rest in
    /// environment values), or a Unicode noncharacter, which systemd does not count as valid
    /// UTF-8 and so drops the whole setting.
    public static func problem(in value: String) -> String? {
        for scalar in value.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                return scalar == "\n" ? "contains a newline" : "contains the control character \(name(of: scalar))"
            }
            if isNoncharacter(scalar) {
                return "contains the Unicode noncharacter \(name(of: scalar)), which systemd refuses as invalid UTF-8"
            }
        }
        return nil
    }

    /// U+FDD0…U+FDEF and the last two code points of every plane (systemd's `unichar_is_valid`).
    static func isNoncharacter(_ scalar: Unicode.Scalar) -> Bool {
        (0xFDD0...0xFDEF).contains(scalar.value) || scalar.value & 0xFFFE == 0xFFFE
    }

    static func name(of scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}
