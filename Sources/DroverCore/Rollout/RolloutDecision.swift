/// One thing the executor is to do, and why (the reason is logged and recorded).
public struct RolloutAction: Sendable, Equatable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable { case start, stop }
    public var kind: Kind
    public var slot: Int
    public var version: ReleaseVersion
    public var reason: String

    public init(_ kind: Kind, slot: Int, version: ReleaseVersion, reason: String) {
        self.kind = kind
        self.slot = slot
        self.version = version
        self.reason = reason
    }

    public var description: String { "\(kind) \(version)@\(slot): \(reason)" }
}

/// What the planner decides for the current state.
public enum RolloutDecision: Sendable, Equatable {
    /// Take these actions (stops first, then starts), then ask again.
    case act([RolloutAction])
    /// Nothing to do until instances change; the text says what is awaited.
    case wait(String)
    /// The target is reached.
    case complete
    /// The target cannot be reached: a new instance failed or missed its deadline.
    case failed(String)
}
