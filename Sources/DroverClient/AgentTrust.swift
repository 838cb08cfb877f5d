import DroverCore
import NIOSSL
import Synchronization

/// The TLS configuration each request to an agent carries, made from its transport. A pinned
/// host is probed once per process (`CertificateProbe`), then its certificate is the only root
/// trusted for it. A CA-verified host checks the chain and the host name.
enum AgentTrust {
    private static let pinnedCertificates = Mutex<[String: NIOSSLCertificate]>([:])

    /// nil for plain HTTP; throws `CertificateProbe.Mismatch` or `.NoTLS` for a host that
    /// fails its pin, and an I/O error for one that cannot be reached.
    static func configuration(for transport: AgentTransport, host: String, port: Int, timeout: Duration) async throws -> TLSConfiguration? {
        switch transport {
        case .plaintext:
            return nil
        case .pinned(let fingerprint):
            let key = "\(host)|\(port)|\(fingerprint)"
            let certificate: NIOSSLCertificate
            if let known = pinnedCertificates.withLock({ $0[key] }) {
                certificate = known
            } else {
                certificate = try await CertificateProbe.fetch(host: host, port: port, pinned: fingerprint, timeout: timeout).certificate
                pinnedCertificates.withLock { $0[key] = certificate }
            }
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.minimumTLSVersion = .tlsv12
            configuration.trustRoots = .certificates([certificate])
            // The pin names the certificate; the address it is reached at may be any of the host's.
            configuration.certificateVerification = .noHostnameVerification
            return configuration
        case .authority(let caFile, let clientCertificate, let clientKey):
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.minimumTLSVersion = .tlsv12
            configuration.trustRoots = .file(caFile)
            if let clientCertificate, let clientKey {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(clientCertificate).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: clientKey, format: .pem))
            }
            return configuration
        }
    }
}
