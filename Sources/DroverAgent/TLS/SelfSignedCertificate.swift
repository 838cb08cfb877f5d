import Crypto
import DroverCore
import Foundation
import Logging
import SwiftASN1
import X509

/// The agent's own certificate, made on first start so that TLS needs no CA: a P-256 key and a
/// self-signed certificate naming the listen address and the host name. Operators pin its
/// fingerprint in the inventory (`drover hosts trust`), as SSH pins host keys.
enum SelfSignedCertificate {
    /// Reads the pair at `certificatePath` and `keyPath`, or makes one (both 0600) when neither
    /// exists. One without the other is an error: replacing a key silently would break every pin.
    static func loadOrCreate(certificatePath: String, keyPath: String, listenHost: String, logger: Logger) throws -> (created: Bool, fingerprint: CertificateFingerprint) {
        let fm = FileManager.default
        switch (fm.fileExists(atPath: certificatePath), fm.fileExists(atPath: keyPath)) {
        case (true, true):
            let pem = try String(contentsOfFile: certificatePath, encoding: .utf8)
            return (false, try fingerprint(ofPEM: pem, path: certificatePath))
        case (true, false), (false, true):
            throw ConfigurationError("\(fm.fileExists(atPath: certificatePath) ? keyPath : certificatePath) is missing but its pair is there: "
                + "restore it, or delete both \(certificatePath) and \(keyPath) to have a new certificate made (every inventory pinning this host must then trust it again)")
        case (false, false):
            break
        }
        let key = P256.Signing.PrivateKey()
        let certificate = try make(key: key, listenHost: listenHost)
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        let der = serializer.serializedBytes
        let certificatePEM = PEMDocument(type: "CERTIFICATE", derBytes: der).pemString + "\n"
        let directory = (certificatePath as NSString).deletingLastPathComponent
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try fm.createDirectory(atPath: (keyPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try AtomicFile.write(Data((key.pemRepresentation + "\n").utf8), to: keyPath, mode: 0o600)
        try AtomicFile.write(Data(certificatePEM.utf8), to: certificatePath, mode: 0o600)
        let fingerprint = try CertificateFingerprint(digest: SHA256.hash(data: der))
        logger.notice("made this agent's TLS certificate", metadata: ["certificate": "\(certificatePath)", "fingerprint": "\(fingerprint)"])
        return (true, fingerprint)
    }

    /// The fingerprint of the first certificate of a PEM file.
    static func fingerprint(ofPEM pem: String, path: String) throws -> CertificateFingerprint {
        do {
            let document = try PEMDocument(pemString: pem)
            return try CertificateFingerprint(digest: SHA256.hash(data: document.derBytes))
        } catch {
            throw ConfigurationError("\(path) is not a PEM certificate (\(error)): replace it, or delete it and its key to have a new pair made")
        }
    }

    private static func make(key: P256.Signing.PrivateKey, listenHost: String) throws -> Certificate {
        let hostName = ProcessInfo.processInfo.hostName
        var names: [GeneralName] = [.dnsName("localhost")]
        if !hostName.isEmpty, hostName != "localhost" { names.append(.dnsName(hostName)) }
        for host in Set([listenHost, "127.0.0.1", "::1"]) {
            if let bytes = ipAddressBytes(host), !bytes.allSatisfy({ $0 == 0 }) {
                names.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))))
            } else if ipAddressBytes(host) == nil, host != hostName, host != "localhost" {
                names.append(.dnsName(host))
            }
        }
        let subject = try DistinguishedName {
            OrganizationName("drover")
            CommonName(hostName.isEmpty ? "drover-agent" : "drover-agent \(hostName)")
        }
        let privateKey = Certificate.PrivateKey(key)
        let now = Date()
        // A self-signed certificate is its own trust anchor, which clients load as the one root
        // they trust for this host: it says it may sign (itself), and nothing beneath it.
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
            try ExtendedKeyUsage([.serverAuth])
            SubjectAlternativeNames(names)
        }
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: privateKey.publicKey,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(20 * 365 * 86_400),
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: privateKey
        )
    }

    /// The 4 or 16 bytes of an IP address, or nil for a name.
    static func ipAddressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
