import Crypto
import Foundation
import SwiftASN1
import X509

/// Certificates made at test time with swift-certificates: a CA that signs a server and a
/// client certificate (mutual TLS), or a lone self-signed pair (a certificate to reload).
enum TestCertificates {
    struct Pair {
        let certificate: Certificate
        let key: P256.Signing.PrivateKey

        /// Writes `NAME.crt` and `NAME.key` (PEM, 0600) into `directory`; returns their paths.
        func write(to directory: String, name: String) throws -> (certificate: String, key: String) {
            var serializer = DER.Serializer()
            try serializer.serialize(certificate)
            let paths = (directory + "/\(name).crt", directory + "/\(name).key")
            try (PEMDocument(type: "CERTIFICATE", derBytes: serializer.serializedBytes).pemString + "\n")
                .write(toFile: paths.0, atomically: true, encoding: .utf8)
            try (key.pemRepresentation + "\n").write(toFile: paths.1, atomically: true, encoding: .utf8)
            chmod(paths.0, 0o600)
            chmod(paths.1, 0o600)
            return paths
        }

        /// The SHA-256 of the certificate's DER bytes, `sha256:…`.
        var fingerprint: String {
            var serializer = DER.Serializer()
            try! serializer.serialize(certificate)
            return "sha256:" + SHA256.hash(data: serializer.serializedBytes).map { String(format: "%02x", $0) }.joined()
        }
    }

    static func authority(name: String) throws -> Pair {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(name) }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            Critical(KeyUsage(keyCertSign: true))
        }
        return Pair(certificate: try make(key: key, subject: subject, issuer: subject, issuerKey: key, extensions: extensions), key: key)
    }

    /// A leaf for `localhost` and `addresses` (127.0.0.1 by default) signed by `authority` (or by itself when nil).
    static func leaf(name: String, signedBy authority: Pair?, server: Bool, addresses: [[UInt8]] = [[127, 0, 0, 1]]) throws -> Pair {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(name) }
        let extensions = try Certificate.Extensions {
            if authority == nil {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
            } else {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
            }
            try ExtendedKeyUsage([server ? .serverAuth : .clientAuth])
            SubjectAlternativeNames([.dnsName("localhost")] + addresses.map { .ipAddress(ASN1OctetString(contentBytes: ArraySlice($0))) })
        }
        return Pair(certificate: try make(key: key, subject: subject, issuer: authority.map { $0.certificate.subject } ?? subject,
                                          issuerKey: authority?.key ?? key, extensions: extensions), key: key)
    }

    private static func make(key: P256.Signing.PrivateKey, subject: DistinguishedName, issuer: DistinguishedName,
                             issuerKey: P256.Signing.PrivateKey, extensions: Certificate.Extensions) throws -> Certificate {
        let now = Date()
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: Certificate.PrivateKey(key).publicKey,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(86_400),
            issuer: issuer, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: Certificate.PrivateKey(issuerKey)
        )
    }
}
