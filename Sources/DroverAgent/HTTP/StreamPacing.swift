import Synchronization

/// The clock work of one streamed answer, shared by the task that writes it, the task that
/// feeds it and its timer: what waits for the client, whether a write is stuck, and when a
/// heartbeat is due. Pure bookkeeping (the times are given), so its rules are tested alone.
final class StreamPacing: Sendable {
    /// What the timer does next.
    enum Tick: Equatable {
        /// Nothing is due before then.
        case sleep(until: ContinuousClock.Instant)
        /// Queue an empty line, then ask again.
        case heartbeat
        /// The client is given up on.
        case abandon(String)
    }

    private struct State {
        var lastWritten: ContinuousClock.Instant
        /// A line was handed over for the client (it is as good as a heartbeat).
        var lastQueued: ContinuousClock.Instant
        var lastHeartbeat: ContinuousClock.Instant
        /// A write under way since then: while it lasts, the client's buffers are full.
        var writingSince: ContinuousClock.Instant?
        var pendingBytes = 0
    }

    private let limits: StreamLimits
    private let state: Mutex<State>

    init(limits: StreamLimits, now: ContinuousClock.Instant) {
        self.limits = limits
        state = Mutex(State(lastWritten: now, lastQueued: now, lastHeartbeat: now))
    }

    /// `bytes` are queued for the client; the reason to give up on it when that makes it too
    /// far behind.
    func queued(_ bytes: Int, at now: ContinuousClock.Instant) -> StreamAbandoned? {
        let pending = state.withLock { state in
            state.lastQueued = max(state.lastQueued, now)
            state.pendingBytes = bytes > Int.max - state.pendingBytes ? Int.max : state.pendingBytes + max(0, bytes)
            return state.pendingBytes
        }
        guard pending > limits.maxPendingBytes else { return nil }
        return StreamAbandoned(description: "the client fell more than \(Self.size(limits.maxPendingBytes)) behind")
    }

    private static func size(_ bytes: Int) -> String {
        if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }

    func writing(at now: ContinuousClock.Instant) {
        state.withLock { $0.writingSince = now }
    }

    func wrote(_ bytes: Int, at now: ContinuousClock.Instant) {
        state.withLock { state in
            state.writingSince = nil
            state.lastWritten = now
            state.pendingBytes = max(0, state.pendingBytes - bytes)
        }
    }

    /// A stuck write is given up on after the send timeout; otherwise a heartbeat follows
    /// silence, once per interval at most: never while a write waits (the timer does not spin
    /// queueing empty lines behind a client that reads nothing).
    func tick(at now: ContinuousClock.Instant) -> Tick {
        state.withLock { state in
            if let since = state.writingSince {
                let giveUp = since + limits.sendTimeout
                guard now < giveUp else {
                    return .abandon("the client took nothing for \(limits.sendTimeout.components.seconds) s")
                }
                return .sleep(until: giveUp)
            }
            let due = max(state.lastWritten, state.lastQueued, state.lastHeartbeat) + limits.heartbeat
            guard now >= due else { return .sleep(until: due) }
            state.lastHeartbeat = now
            return .heartbeat
        }
    }
}
