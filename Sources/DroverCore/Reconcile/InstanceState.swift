/// What an instance is doing, from systemd's `ActiveState` and whether a job is queued.
/// Decisions switch over this instead of comparing state strings.
public enum InstanceState: Sendable, Equatable {
    /// `active` or `reloading`.
    case running
    /// `activating`, or `inactive` with a start job queued.
    case starting
    /// `deactivating`.
    case stopping
    /// `failed`: it crashed past its restart limit, or did not start.
    case failed
    /// `inactive` with nothing queued: stopped, or exited cleanly.
    case idle

    public init(activeState: String, hasJob: Bool) {
        switch activeState {
        case "active", "reloading": self = .running
        case "activating": self = .starting
        case "deactivating": self = .stopping
        case "failed": self = .failed
        default: self = hasJob ? .starting : .idle
        }
    }

    /// Running or on its way: it counts toward the wanted number.
    public var isUp: Bool { self == .running || self == .starting }
}
