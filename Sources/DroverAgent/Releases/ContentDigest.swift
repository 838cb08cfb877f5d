import Foundation

/// The `Content-Digest` request header (RFC 9530): `sha-256=:<base64>:`, possibly among
/// other algorithms. Only SHA-256 is accepted.
enum ContentDigest {
    /// The 32 SHA-256 bytes the header announces.
    static func sha256(fromHeader header: String?) throws(ReleaseError) -> [UInt8] {
        guard let header, !header.isEmpty else {
            throw ReleaseError(.missingDigest, "the upload needs a Content-Digest: sha-256=:<base64 of the SHA-256>: header, so the agent can verify what it received")
        }
        for member in header.split(separator: ",") {
            let parts = member.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "sha-256" else { continue }
            let value = parts[1]
            guard value.hasPrefix(":"), value.hasSuffix(":"), value.count > 2,
                  let bytes = Data(base64Encoded: String(value.dropFirst().dropLast())), bytes.count == 32
            else {
                throw ReleaseError(.invalidDigest, "Content-Digest sha-256 must be 32 bytes in base64 between colons, like sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:")
            }
            return Array(bytes)
        }
        throw ReleaseError(.invalidDigest, "Content-Digest has no sha-256 member (got \"\(header.prefix(100))\"); only sha-256 is accepted")
    }
}

extension Sequence<UInt8> {
    var hex: String { map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
}
