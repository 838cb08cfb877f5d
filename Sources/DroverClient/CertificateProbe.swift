import Crypto
import DroverCore
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization

/// Learns which certificate an agent serves by a TLS handshake of its own, and checks it
/// against a pin inside that handshake: a certificate that is not the pinned one fails it,
/// before a single byte of a request (or its token) is sent. AsyncHTTPClient then trusts that
/// one certificate as its only root for the host, so every connection it makes verifies the pin too.
public enum CertificateProbe {
    /// What an address presented.
    public struct Presented: Sendable {
        public let certificate: NIOSSLCertificate
        public let fingerprint: CertificateFingerprint
    }

    /// The handshake succeeded, and the certificate is not the pinned one.
    public struct Mismatch: Error, Sendable {
        public let presented: CertificateFingerprint
        public let pinned: CertificateFingerprint
    }

    /// The address accepted the connection, and the TLS handshake failed before any
    /// certificate was seen: it does not speak TLS (an agent with `tls = false`?) or refused ours.
    public struct NoTLS: Error, Sendable {
        public let underlying: String
    }

    /// Connects to `host:port`, completes a handshake, and returns the certificate; with
    /// `pinned`, one with another fingerprint fails the handshake and throws `Mismatch`.
    public static func fetch(host: String, port: Int, pinned: CertificateFingerprint?, timeout: Duration) async throws -> Presented {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        // The custom callback below replaces chain verification; with .none it would not run.
        configuration.certificateVerification = .noHostnameVerification
        let context = try NIOSSLContext(configuration: configuration)
        let seen = Mutex<Presented?>(nil)
        let group = MultiThreadedEventLoopGroup.singleton
        let handshake = group.next().makePromise(of: Void.self)
        let serverName = isIPAddress(host) ? nil : host
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(TimeAmount(timeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try NIOSSLClientHandler(context: context, serverHostname: serverName) { certificates, verdict in
                        guard let leaf = certificates.first, let der = try? leaf.toDERBytes(),
                              let fingerprint = try? CertificateFingerprint(digest: SHA256.hash(data: der)) else {
                            verdict.succeed(.failed)
                            return
                        }
                        seen.withLock { $0 = Presented(certificate: leaf, fingerprint: fingerprint) }
                        verdict.succeed(pinned == nil || pinned == fingerprint ? .certificateVerified : .failed)
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                    try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(done: handshake))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            handshake.fail(error)  // a promise must not be dropped unfulfilled
            throw error
        }
        let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) { handshake.fail(ChannelError.connectTimeout(TimeAmount(timeout))) }
        defer {
            deadline.cancel()
            channel.close(promise: nil)
        }
        do {
            try await handshake.futureResult.get()
        } catch {
            if let presented = seen.withLock({ $0 }), let pinned, presented.fingerprint != pinned {
                throw Mismatch(presented: presented.fingerprint, pinned: pinned)
            }
            if error is NIOSSLError || error is BoringSSLError { throw NoTLS(underlying: "\(error)") }
            throw error
        }
        guard let presented = seen.withLock({ $0 }) else { throw NoTLS(underlying: "no certificate was presented") }
        return presented
    }

    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}

/// Completes a promise when the TLS handshake ends, one way or the other (a promise completed
/// twice keeps its first result).
private final class HandshakeWatcher: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let done: EventLoopPromise<Void>

    init(done: EventLoopPromise<Void>) { self.done = done }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event { done.succeed() }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(ChannelError.eof)
        context.fireChannelInactive()
    }
}
