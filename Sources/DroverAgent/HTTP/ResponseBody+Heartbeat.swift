import Hummingbird
import NIOCore
import ServiceLifecycle
import Synchronization

/// How a long-lived stream is sent: heartbeats, when its client is given up on, and how much
/// may wait for it.
struct StreamLimits: Sendable {
    /// An empty line after this much silence.
    var heartbeat: Duration = .seconds(15)
    /// A client that takes nothing for this long while there is more to send is given up on.
    var sendTimeout: Duration = .seconds(30)
    /// Bytes that may wait for a slow client; past it the stream ends (the client resumes
    /// after the last line it has, e.g. with a log cursor) rather than growing without bound.
    var maxPendingBytes = 8 << 20
}

/// Why a stream ended before its source did.
struct StreamAbandoned: Error, CustomStringConvertible {
    let description: String
}

extension ResponseBody {
    /// A long-lived NDJSON stream: every line of `lines` as it comes, and an empty line after
    /// every `limits.heartbeat` of silence. The blank lines keep clients' read timeouts and
    /// proxies from cutting a quiet stream. Clients skip empty lines. The agent's graceful
    /// shutdown ends the stream too: a client following the logs must not hold the agent up.
    ///
    /// A client that goes away ends the stream (and what feeds it, such as a journal reader
    /// and its place under `max_log_followers`) at once when `request` is given: its side of
    /// the connection closing is seen as it happens. A client that stays connected but stops
    /// reading is given up on after `limits.sendTimeout`, and one that falls further behind
    /// than `limits.maxPendingBytes` is cut off there: the agent holds a bounded amount for
    /// each. Only pass `request` when its body has not been collected or replaced: Hummingbird
    /// reads the connection's next parts through it.
    ///
    /// `alongside` runs as a sibling of the stream (what keeps its source current) and is
    /// cancelled when it ends.
    static func ndjsonStream<Lines: AsyncSequence & Sendable>(_ lines: Lines, limits: StreamLimits,
                                                             endingWhenTheClientOf request: Request? = nil,
                                                             alongside: (@Sendable () async -> Void)? = nil) -> ResponseBody
        where Lines.Element == ByteBuffer {
        ResponseBody { writer in
            do {
                if let request {
                    try await request.body.consumeWithCancellationOnInboundClose { _ in
                        try await stream(lines, limits: limits, alongside: alongside, to: &writer)
                    }
                } else {
                    try await stream(lines, limits: limits, alongside: alongside, to: &writer)
                }
            } catch is CancellationError {
                return  // the client has gone: there is no one to finish the response for
            }
            try await writer.finish(nil)
        }
    }

    private static func stream<Lines: AsyncSequence & Sendable>(_ lines: Lines, limits: StreamLimits,
                                                               alongside: (@Sendable () async -> Void)?,
                                                               to writer: inout any ResponseBodyWriter) async throws
        where Lines.Element == ByteBuffer {
        let (merged, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        let shared = StreamProgress()
        let heartbeat = ByteBuffer(string: "\n")
        // The response's writes run as a task of the group below, so that a feeder that gives
        // up on the client (by throwing) can cancel a write that waits for it. `writer` is
        // borrowed for that task's life only: the group ends before this function returns.
        try await withoutActuallyEscaping({ () async throws -> Void in
            try await withGracefulShutdownHandler {
                for try await line in merged {
                    shared.progress.withLock { state in
                        state.writingSince = .now
                        if line.readableBytes == 1, line == heartbeat { state.heartbeatQueued = false }
                    }
                    try await writer.write(line)
                    shared.progress.withLock { state in
                        state.writingSince = nil
                        state.lastWritten = .now
                    }
                    shared.pending.subtract(line.readableBytes, ordering: .relaxed)
                }
            } onGracefulShutdown: {
                continuation.finish()  // the loop above ends; the response ends cleanly
            }
        }) { writes in
            let writes = UncheckedTransfer(writes)
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    try await writes.value()
                    return true
                }
                group.addTask {
                    do {
                        for try await line in lines {
                            let waiting = shared.pending.add(line.readableBytes, ordering: .relaxed).newValue
                            guard waiting <= limits.maxPendingBytes else {
                                throw StreamAbandoned(description: "the client fell \(limits.maxPendingBytes >> 20) MiB behind")
                            }
                            continuation.yield(line)
                        }
                        continuation.finish()
                    } catch {
                        continuation.finish(throwing: error)
                    }
                    return false
                }
                if let alongside {
                    group.addTask {
                        await alongside()
                        return false
                    }
                }
                // The timer: a heartbeat after silence (a busy stream carries none), and the end
                // of a write that has waited `sendTimeout` for the client. It wakes when one of
                // them may be due, at most once a second while a heartbeat waits to be written.
                group.addTask {
                    while true {
                        let wake: ContinuousClock.Instant = try shared.progress.withLock { state in
                            let now = ContinuousClock.now
                            if let since = state.writingSince {
                                guard now - since < limits.sendTimeout else {
                                    throw StreamAbandoned(description: "the client took nothing for \(limits.sendTimeout)")
                                }
                                return since + limits.sendTimeout
                            }
                            if state.heartbeatQueued { return now + .seconds(1) }
                            if now - state.lastWritten >= limits.heartbeat {
                                state.heartbeatQueued = true
                                continuation.yield(heartbeat)
                                return now + limits.heartbeat
                            }
                            return state.lastWritten + limits.heartbeat
                        }
                        try await Task.sleep(until: wake)
                    }
                }
                defer { group.cancelAll() }
                // Until the writes end (the source ended, or shutdown) or a task throws.
                while let writesEnded = try await group.next() {
                    if writesEnded { return }
                }
            }
        }
    }
}

/// What a stream's tasks share: bytes waiting for the client, and what its timer watches.
private final class StreamProgress: Sendable {
    struct State {
        var lastWritten = ContinuousClock.now
        /// A write under way since then (the client's buffers are full while it lasts).
        var writingSince: ContinuousClock.Instant?
        var heartbeatQueued = false
    }

    let pending = Atomic<Int>(0)
    let progress = Mutex(State())
}

/// A value handed to a child task that ends before the scope it came from (see
/// `withWritesAlongside`).
private struct UncheckedTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
