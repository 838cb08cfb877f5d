import Crypto
import DroverCore

/// The digest of a secret's value, as a spec names it: the first 16 bytes of a SHA-256 over a
/// fixed label, the service, the name and the value, in hex. It changes with the value (so a
/// rotated secret is a new release) and is all that is ever shown of it. Computed by the CLI
/// and checked by the agent against the value it receives.
///
/// Like any unsalted digest, it lets whoever reads it (a `read` token) test a guess of the
/// value: secrets are meant to be generated, high-entropy values, not passwords people chose.
public enum SecretDigest {
    /// A secret's largest value, in bytes.
    public static let maxValueBytes = 16 * 1024

    public static func of(service: ServiceName, name: String, value: [UInt8]) -> String {
        var hasher = SHA256()
        hasher.update(data: Array("drover-secret-v1".utf8) + [0] + Array(service.rawValue.utf8) + [0] + Array(name.utf8) + [0])
        hasher.update(data: value)
        let digits = Array("0123456789abcdef")
        var text = ""
        for byte in hasher.finalize().prefix(16) {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return text
    }
}
