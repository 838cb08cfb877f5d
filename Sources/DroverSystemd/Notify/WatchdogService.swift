import Logging
import ServiceLifecycle

/// Keeps systemd's watchdog fed (`WATCHDOG=1` at half of `WatchdogSec=`) for as long as the
/// service group runs, and says `STOPPING=1` when graceful shutdown begins.
///
/// With a `check`, each keep-alive is sent only after the check succeeds within the interval
/// (the agent's: a round trip to systemd over its bus connection), so a process whose work
/// is wedged stops feeding the watchdog and systemd restarts it, instead of a timer keeping
/// a stuck process looking healthy.
///
/// Readiness is not sent here: the process is ready when *it* says so (e.g. once its API
/// listens), with `SystemdNotifier().notify(.ready)`.
public struct WatchdogService: Service {
    private let notifier: SystemdNotifier
    private let logger: Logger
    private let check: (@Sendable () async throws -> Void)?

    public init(notifier: SystemdNotifier = SystemdNotifier(), logger: Logger = Logger(label: "drover.watchdog"),
                check: (@Sendable () async throws -> Void)? = nil) {
        self.notifier = notifier
        self.logger = logger
        self.check = check
    }

    public func run() async throws {
        if let timeout = notifier.watchdogTimeout {
            let interval = timeout / 2
            logger.info("feeding the systemd watchdog", metadata: ["interval": "\(interval)"])
            do {
                try await cancelWhenGracefulShutdown {
                    while true {
                        if await healthy(within: interval) { notifier.notify(.watchdog) }
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

    /// Whether the check (if any) passed within `limit`.
    private func healthy(within limit: Duration) async -> Bool {
        guard let check else { return true }
        let passed = await withTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await check()) != nil }
            group.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            defer { group.cancelAll() }
            return await group.next() ?? false
        }
        if !passed { logger.warning("not feeding the systemd watchdog: the health check did not pass in time") }
        return passed
    }
}
