/// The SHA-256 of a certificate's DER bytes, written `sha256:` and 64 lowercase hex digits.
/// It is what an inventory pins for a host (as SSH's known_hosts pins a host key): the agent
/// makes its own certificate, and the operator trusts that one certificate, not a CA.
public struct CertificateFingerprint: Sendable, Hashable, CustomStringConvertible {
    /// The 32 bytes of the digest.
    public let bytes: [UInt8]

    public init(digest: some Sequence<UInt8>) throws(FingerprintError) {
        let bytes = Array(digest)
        guard bytes.count == 32 else { throw FingerprintError("a SHA-256 fingerprint has 32 bytes, not \(bytes.count)") }
        self.bytes = bytes
    }

    /// Reads `sha256:` and 64 hex digits; also OpenSSL's `AB:CD:…` form (with or without the
    /// prefix, any case), so a fingerprint can be pasted from `openssl x509 -fingerprint -sha256`.
    public init(parsing text: String) throws(FingerprintError) {
        var body = String.UnicodeScalarView(text.unicodeScalars.drop { $0.properties.isWhitespace })
        while let last = body.last, last.properties.isWhitespace { body.removeLast() }
        for prefix in ["sha256:", "SHA256:", "sha256 Fingerprint=", "SHA256 Fingerprint="] where String(body).hasPrefix(prefix) {
            body = String.UnicodeScalarView(body.dropFirst(prefix.unicodeScalars.count))
            break
        }
        let digits = body.filter { $0 != ":" }
        var bytes: [UInt8] = []
        var high: UInt8?
        for scalar in digits {
            guard let nibble = Self.nibble(scalar) else {
                throw FingerprintError("fingerprint \"\(text)\" must be sha256: and 64 hex digits (as `drover-agent fingerprint` prints it)")
            }
            if let h = high { bytes.append(h << 4 | nibble); high = nil } else { high = nibble }
        }
        guard high == nil, bytes.count == 32 else {
            throw FingerprintError("fingerprint \"\(text)\" must be sha256: and 64 hex digits (as `drover-agent fingerprint` prints it)")
        }
        self.bytes = bytes
    }

    public var description: String {
        let digits: [Character] = Array("0123456789abcdef")
        var text = "sha256:"
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return text
    }

    private static func nibble(_ scalar: Unicode.Scalar) -> UInt8? {
        switch scalar.value {
        case 0x30...0x39: UInt8(scalar.value - 0x30)
        case 0x41...0x46: UInt8(scalar.value - 0x41 + 10)
        case 0x61...0x66: UInt8(scalar.value - 0x61 + 10)
        default: nil
        }
    }
}

/// A fingerprint that cannot be read, said with the form it must have.
public struct FingerprintError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
