import Logging
import ServiceLifecycle
import UnixSignals

/// Reads the TLS certificate and key again on SIGHUP (`systemctl reload drover-agent`), so a
/// renewed certificate is served without a restart: open connections and log follows go on.
/// A bad pair is logged and the old one kept. Without TLS, SIGHUP is trapped and ignored (its
/// default would end the agent).
public struct CertificateReloader: Service {
    let tls: AgentTLS?
    let logger: Logger

    public init(tls: AgentTLS?, logger: Logger) {
        self.tls = tls
        self.logger = logger
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            guard let tls else {
                logger.notice("SIGHUP: nothing to reload (the API is plain HTTP)")
                continue
            }
            do {
                // Files are read on the I/O pool, not the cooperative one.
                let fingerprint = try await blockingIO { try tls.reload() }
                logger.notice("SIGHUP: reloaded the TLS certificate", metadata: ["certificate": "\(tls.certificatePath)", "fingerprint": "\(fingerprint)"])
            } catch {
                logger.error("SIGHUP: kept the certificate served until now", metadata: ["error": "\(error)"])
            }
        }
    }
}
