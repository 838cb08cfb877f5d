import Hummingbird
import NIOCore
import ServiceLifecycle

extension ResponseBody {
    /// A long-lived NDJSON stream: every line of `lines` as it comes, and an empty line after
    /// every `limits.heartbeat` of silence. The blank lines keep clients' read timeouts and
    /// proxies from cutting a quiet stream, and a write to a client that went away fails, which
    /// ends the stream (and what feeds it) at once. Clients skip empty lines. The agent's
    /// graceful shutdown ends the stream too: a client following the logs must not hold the
    /// agent up.
    ///
    /// A client that stays connected but takes nothing for `limits.sendTimeout`, or falls more
    /// than `limits.maxPendingBytes` behind, is given up on: `abandon` is called, which closes
    /// its connection (`AgentRequestContext.abandonConnection`); the write waiting for it then
    /// fails and the stream ends like one whose client went away. A write cannot be called
    /// off by itself, and closing is what a client that reads nothing has asked for.
    ///
    /// `alongside` runs as a sibling of the stream (what keeps its source current) and is
    /// cancelled when it ends.
    static func ndjsonStream<Lines: AsyncSequence & Sendable>(_ lines: Lines, limits: StreamLimits,
                                                             abandon: @escaping @Sendable (StreamAbandoned) -> Void,
                                                             alongside: (@Sendable () async -> Void)? = nil) -> ResponseBody
        where Lines.Element == ByteBuffer {
        ResponseBody { writer in
            let (merged, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
            let pacing = StreamPacing(limits: limits, now: .now)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    do {
                        for try await line in lines {
                            if let reason = pacing.queued(line.readableBytes, at: .now) {
                                abandon(reason)
                                throw reason
                            }
                            continuation.yield(line)
                        }
                        continuation.finish()
                    } catch {
                        continuation.finish(throwing: error)
                    }
                }
                if let alongside { group.addTask { await alongside() } }
                group.addTask {
                    while true {
                        switch pacing.tick(at: .now) {
                        case .sleep(let until):
                            try await Task.sleep(until: until)
                        case .heartbeat:
                            _ = pacing.queued(1, at: .now)
                            continuation.yield(ByteBuffer(string: "\n"))
                        case .abandon(let reason):
                            // The write waiting for the client fails as its connection closes.
                            abandon(StreamAbandoned(description: reason))
                            return
                        }
                    }
                }
                defer { group.cancelAll() }
                try await withGracefulShutdownHandler {
                    for try await line in merged {
                        pacing.writing(at: .now)
                        try await writer.write(line)
                        pacing.wrote(line.readableBytes, at: .now)
                    }
                } onGracefulShutdown: {
                    continuation.finish()  // the loop above ends; the response ends cleanly
                }
            }
            try await writer.finish(nil)
        }
    }
}
