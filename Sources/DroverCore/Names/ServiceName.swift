/// The name of a service managed by Drover: `^[a-z][a-z0-9-]{0,47}$`.
///
/// It becomes part of unit names, slice names, paths and URLs, so it is validated once,
/// here, and a `ServiceName` value is safe to use in all of them without escaping.
public struct ServiceName: ValidatedName {
    public let rawValue: String

    static let rule = "must start with a lower-case letter, then up to 47 lower-case letters, digits or '-'"
    private static let pattern = NamePattern(
        first: NamePattern.isLower,
        rest: { NamePattern.isLower($0) || NamePattern.isDigit($0) || $0 == UInt8(ascii: "-") },
        maxLength: 48
    )

    public init(_ rawValue: String) throws(NameError) {
        guard Self.pattern.matches(rawValue) else {
            throw NameError(kind: "service name", value: rawValue, rule: Self.rule)
        }
        self.rawValue = rawValue
    }
}
