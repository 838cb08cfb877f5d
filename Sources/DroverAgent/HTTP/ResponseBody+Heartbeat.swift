import Hummingbird
import NIOCore
import ServiceLifecycle
import Synchronization

extension ResponseBody {
    /// A long-lived NDJSON stream: every line of `lines` as it comes, and an empty line after
    /// every `interval` of silence. The blank lines keep clients' read timeouts and proxies
    /// from cutting a quiet stream, and a write to a client that went away fails, which ends
    /// the stream (and what feeds it) at once. Clients skip empty lines. The agent's graceful
    /// shutdown ends the stream too: a client following the logs must not hold the agent up.
    ///
    /// `alongside` runs as a sibling of the stream (what keeps its source current) and is
    /// cancelled when it ends.
    static func ndjsonStream<Lines: AsyncSequence & Sendable>(_ lines: Lines, heartbeat interval: Duration = .seconds(15),
                                                             alongside: (@Sendable () async -> Void)? = nil) -> ResponseBody
        where Lines.Element == ByteBuffer {
        ResponseBody { writer in
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
            try await writer.finish(nil)
        }
    }
}
