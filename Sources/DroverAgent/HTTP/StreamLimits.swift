/// How a long-lived streamed answer (a log follow, a deployment's events, a run's output)
/// treats its client: when it sends heartbeats, and when it gives up on a client that has
/// stopped taking what it is sent, so that such a client holds a bounded amount of the agent.
struct StreamLimits: Sendable {
    /// An empty line after this much silence.
    var heartbeat: Duration = .seconds(15)
    /// A client that takes nothing for this long while there is more to send is given up on.
    var sendTimeout: Duration = .seconds(30)
    /// Bytes that may wait for a slow client; past it, it is given up on rather than the
    /// queue growing without bound (a log follow resumes after its last cursor).
    var maxPendingBytes = 8 << 20
}

/// Why a stream gave up on its client.
struct StreamAbandoned: Error, CustomStringConvertible {
    let description: String
}
