import Logging
import ServiceLifecycle

/// Keeps systemd's watchdog fed (`WATCHDOG=1` at half of `WatchdogSec=`) for as long as the
/// service group runs, and says `STOPPING=1` when graceful shutdown begins.
///
/// Readiness is not sent here: the process is ready when *it* says so (e.g. once its API
/// listens), with `SystemdNotifier().notify(.ready)`.
public struct WatchdogService: Service {
    private let notifier: SystemdNotifier
    private let logger: Logger

    public init(notifier: SystemdNotifier = SystemdNotifier(), logger: Logger = Logger(label: "drover.watchdog")) {
        self.notifier = notifier
        self.logger = logger
    }

    public func run() async throws {
        if let timeout = notifier.watchdogTimeout {
            let interval = timeout / 2
            logger.info("feeding the systemd watchdog", metadata: ["interval": "\(interval)"])
            do {
                try await cancelWhenGracefulShutdown {
                    while true {
                        notifier.notify(.watchdog)
                        try await Task.sleep(for: interval)
                    }
                }
            } catch is CancellationError {
                // Graceful shutdown (or the group ending) stops the keep-alive.
            }
        } else {
            try? await gracefulShutdown()
        }
        notifier.notify(.stopping)
    }
}
