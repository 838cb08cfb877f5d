import Crypto
import DroverCore
import Foundation
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// What the agent serves HTTPS with: its certificate chain and key, read from files and read
/// again on SIGHUP. Every new connection's handshake takes the pair current at that moment
/// (NIOSSL's per-hello context callback), so a reload changes no open connection and drops none.
public final class AgentTLS: Sendable {
    public let certificatePath: String
    public let keyPath: String
    /// With it, clients must present a certificate this CA signed (mutual TLS).
    public let clientCAPath: String?
    private let current: Mutex<Identity>

    struct Identity: Sendable {
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
        var fingerprint: CertificateFingerprint
    }

    /// Loads the configured pair, or — when none is configured — this agent's own self-signed
    /// one, made on first start.
    public static func load(_ configuration: AgentConfiguration, logger: Logger) throws -> AgentTLS {
        if configuration.tlsCertificate == nil {
            _ = try SelfSignedCertificate.loadOrCreate(certificatePath: configuration.certificatePath, keyPath: configuration.keyPath,
                                                       listenHost: configuration.host, logger: logger)
        }
        return try AgentTLS(certificatePath: configuration.certificatePath, keyPath: configuration.keyPath,
                            clientCAPath: configuration.tlsClientCA)
    }

    init(certificatePath: String, keyPath: String, clientCAPath: String?) throws {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.clientCAPath = clientCAPath
        current = Mutex(try Self.read(certificatePath: certificatePath, keyPath: keyPath))
        if let clientCAPath { _ = try Self.clientCA(clientCAPath) }
    }

    /// The fingerprint of the certificate served now.
    public var fingerprint: CertificateFingerprint { current.withLock { $0.fingerprint } }

    /// Reads the pair again; on any problem keeps serving the old one and throws why.
    public func reload() throws -> CertificateFingerprint {
        let identity = try Self.read(certificatePath: certificatePath, keyPath: keyPath)
        current.withLock { $0 = identity }
        return identity.fingerprint
    }

    /// The server side's configuration: TLS 1.2 or later, the current pair for each handshake.
    func serverConfiguration() throws -> TLSConfiguration {
        let identity = current.withLock { $0 }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: identity.chain.map { .certificate($0) }, privateKey: .privateKey(identity.key))
        configuration.minimumTLSVersion = .tlsv12
        if let clientCAPath {
            configuration.trustRoots = .certificates(try Self.clientCA(clientCAPath))
            configuration.certificateVerification = .noHostnameVerification
        }
        configuration.sslContextCallback = { [self] _, promise in
            let identity = self.current.withLock { $0 }
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = identity.chain.map { .certificate($0) }
            override.privateKey = .privateKey(identity.key)
            promise.succeed(override)
        }
        return configuration
    }

    private static func read(certificatePath: String, keyPath: String) throws -> Identity {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw ConfigurationError("cannot read the TLS certificate \(certificatePath) (\(error)): it must be a PEM file, readable by the agent")
        }
        guard let leaf = chain.first else { throw ConfigurationError("\(certificatePath) holds no certificate") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw ConfigurationError("cannot read the TLS key \(keyPath) (\(error)): it must be a PEM private key, readable by the agent")
        }
        // A context made from the pair checks that the key is the certificate's.
        do {
            _ = try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key)))
        } catch {
            throw ConfigurationError("the key \(keyPath) does not go with the certificate \(certificatePath) (\(error)): install the key the certificate was made for")
        }
        let fingerprint = try CertificateFingerprint(digest: SHA256.hash(data: try leaf.toDERBytes()))
        return Identity(chain: chain, key: key, fingerprint: fingerprint)
    }

    private static func clientCA(_ path: String) throws -> [NIOSSLCertificate] {
        do {
            let certificates = try NIOSSLCertificate.fromPEMFile(path)
            guard !certificates.isEmpty else { throw ConfigurationError("no certificate in it") }
            return certificates
        } catch {
            throw ConfigurationError("cannot read tls_client_ca \(path) (\(error)): it must be the PEM certificate of the CA that signs clients' certificates")
        }
    }
}

extension AgentTLS {
    /// The fingerprint of the first certificate of a PEM file's text (`drover-agent fingerprint`).
    public static func fingerprint(ofPEM pem: String, path: String) throws -> CertificateFingerprint {
        try SelfSignedCertificate.fingerprint(ofPEM: pem, path: path)
    }
}
