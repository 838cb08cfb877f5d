/// Why a name was refused. Its description is a sentence an operator can act on.
public struct NameError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What kind of name it was: "service name", "version", "slot".
    public let kind: String
    /// The refused value, exactly as given.
    public let value: String
    /// What the value must look like.
    public let rule: String

    public var description: String {
        "invalid \(kind) \(quoted(value)): \(rule)"
    }

    /// Quotes a value for an error message without letting control characters through.
    private func quoted(_ value: String) -> String {
        let escaped = value.unicodeScalars.map { scalar -> String in
            switch scalar {
            case "\"": return "\\\""
            case "\\": return "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                return "\\u{\(String(scalar.value, radix: 16))}"
            default: return String(scalar)
            }
        }
        return "\"" + escaped.joined() + "\""
    }
}
