import CSystemd

/// Tells the service manager about this process's state (`sd_notify`): ready, status text,
/// watchdog keep-alive, stopping. A no-op when not started by systemd (no `NOTIFY_SOCKET`),
/// so the same binary runs by hand too.
public struct SystemdNotifier: Sendable {
    /// One assignment of the notify protocol.
    public enum State: Sendable, Equatable {
        /// Start-up is finished; for `Type=notify` this makes the unit `active`.
        case ready
        /// Shutting down; the unit becomes `deactivating`.
        case stopping
        /// The watchdog keep-alive.
        case watchdog
        /// A one-line status shown by `systemctl status` (newlines are replaced by spaces).
        case status(String)

        var assignment: String {
            switch self {
            case .ready: "READY=1"
            case .stopping: "STOPPING=1"
            case .watchdog: "WATCHDOG=1"
            case .status(let text): "STATUS=" + text.map { $0.isNewline ? " " : String($0) }.joined()
            }
        }
    }

    public init() {}

    /// Sends `states` in one datagram. Returns false when there is no manager to tell.
    @discardableResult
    public func notify(_ states: State...) -> Bool {
        notify(states)
    }

    @discardableResult
    public func notify(_ states: [State]) -> Bool {
        let message = states.map(\.assignment).joined(separator: "\n")
        return message.withCString { sd_notify(0, $0) } > 0
    }

    /// The watchdog interval systemd expects (`WatchdogSec=`) if it applies to this process.
    public var watchdogTimeout: Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(clamping: microseconds))
    }
}
