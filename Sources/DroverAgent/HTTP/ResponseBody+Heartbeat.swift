import Hummingbird
import NIOCore
import ServiceLifecycle
import Synchronization

extension ResponseBody {
    /// A long-lived NDJSON stream: every line of `lines` as it comes, and an empty line after
    /// every `interval` of silence. The blank lines keep clients' read timeouts and proxies
    /// from cutting a quiet stream. Clients skip empty lines. The agent's graceful shutdown
    /// ends the stream too: a client following the logs must not hold the agent up.
    ///
    /// A client that goes away ends the stream (and what feeds it, such as a journal reader
    /// and its place under `max_log_followers`) at once when `request` is given: its side of
    /// the connection closing is seen as it happens. Without it, or for a client whose
    /// packets stop arriving, the first failed write (a heartbeat at the latest) ends it.
    /// Only pass `request` when its body has not been collected or replaced: Hummingbird reads
    /// the connection's next parts through it.
    ///
    /// `alongside` runs as a sibling of the stream (what keeps its source current) and is
    /// cancelled when it ends.
    static func ndjsonStream<Lines: AsyncSequence & Sendable>(_ lines: Lines, heartbeat interval: Duration = .seconds(15),
                                                             endingWhenTheClientOf request: Request? = nil,
                                                             alongside: (@Sendable () async -> Void)? = nil) -> ResponseBody
        where Lines.Element == ByteBuffer {
        ResponseBody { writer in
            guard let request else {
                try await stream(lines, heartbeat: interval, alongside: alongside, to: &writer)
                try await writer.finish(nil)
                return
            }
            do {
                try await request.body.consumeWithCancellationOnInboundClose { _ in
                    try await stream(lines, heartbeat: interval, alongside: alongside, to: &writer)
                }
            } catch is CancellationError {
                return  // the client has gone: there is no one to finish the response for
            }
            try await writer.finish(nil)
        }
    }

    private static func stream<Lines: AsyncSequence & Sendable>(_ lines: Lines, heartbeat interval: Duration,
                                                               alongside: (@Sendable () async -> Void)?,
                                                               to writer: inout any ResponseBodyWriter) async throws
        where Lines.Element == ByteBuffer {
        let (merged, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    for try await line in lines { continuation.yield(line) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            if let alongside { group.addTask { await alongside() } }
            // Only after silence: a busy stream carries no blank lines.
            let lastSent = Mutex(ContinuousClock.now)
            group.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(until: lastSent.withLock { $0 } + interval)
                    let silent = lastSent.withLock { ContinuousClock.now - $0 >= interval }
                    if silent { continuation.yield(ByteBuffer(string: "\n")) }
                }
            }
            defer { group.cancelAll() }
            try await withGracefulShutdownHandler {
                for try await line in merged {
                    try await writer.write(line)
                    lastSent.withLock { $0 = .now }
                }
            } onGracefulShutdown: {
                continuation.finish()  // the loop above ends; the response ends cleanly
            }
        }
    }
}
