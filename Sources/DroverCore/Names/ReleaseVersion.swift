/// The version of a release: `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`.
///
/// Versions name template units (`drover-web_1.2.0@.service`) and release directories,
/// so they exclude `@`, `/`, `%`, `\` and white space by construction.
public struct ReleaseVersion: ValidatedName {
    public let rawValue: String

    static let rule = "must start with a letter or digit, then up to 63 letters, digits, '.', '_' or '-'"
    private static let pattern = NamePattern(
        first: { NamePattern.isLower($0) || NamePattern.isUpper($0) || NamePattern.isDigit($0) },
        rest: {
            NamePattern.isLower($0) || NamePattern.isUpper($0) || NamePattern.isDigit($0)
                || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        },
        maxLength: 64
    )

    public init(_ rawValue: String) throws(NameError) {
        // "." and ".." alone would be path components with a meaning of their own.
        guard Self.pattern.matches(rawValue), rawValue != ".", rawValue != ".." else {
            throw NameError(kind: "version", value: rawValue, rule: Self.rule)
        }
        self.rawValue = rawValue
    }
}
