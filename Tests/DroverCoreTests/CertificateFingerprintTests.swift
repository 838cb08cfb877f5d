import DroverCore
import Testing

@Suite struct CertificateFingerprintTests {
    static let hex = "3f5c00112233445566778899aabbccddeeff00112233445566778899aabbccdd"

    @Test func readsTheFormsOperatorsPaste() throws {
        let canonical = try CertificateFingerprint(parsing: "sha256:" + Self.hex)
        #expect(canonical.description == "sha256:" + Self.hex)
        let colons = stride(from: 0, to: 64, by: 2).map { i in
            String(Self.hex[Self.hex.index(Self.hex.startIndex, offsetBy: i)...].prefix(2)).uppercased()
        }.joined(separator: ":")
        for form in ["  sha256:\(Self.hex)\n", Self.hex.uppercased(), colons, "SHA256 Fingerprint=" + colons] {
            #expect(try CertificateFingerprint(parsing: form) == canonical, "\(form)")
        }
    }

    @Test(arguments: ["", "sha256:", "sha256:abcd", "sha1:" + hex, "sha256:" + hex + "00", "sha256:" + String(hex.dropLast()) + "g",
                      "sha256:" + String(hex.dropLast()) + "\u{0301}", "md5:" + hex])
    func refusesAnythingElse(_ text: String) {
        let error = #expect(throws: FingerprintError.self) { try CertificateFingerprint(parsing: text) }
        #expect(error?.description.contains("64 hex digits") == true)
    }
}

@Suite struct LoopbackAddressTests {
    @Test(arguments: ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"])
    func loopback(_ address: String) { #expect(LoopbackAddress.contains(address)) }

    @Test(arguments: ["127.attacker.example", "127.0.0.1.evil", "10.0.0.1", "0.0.0.0", "::", "1270.0.0.1", "127.0.0.256", "::ffff:10.0.0.1", "", "127..0.1"])
    func notLoopback(_ address: String) { #expect(!LoopbackAddress.contains(address)) }
}
