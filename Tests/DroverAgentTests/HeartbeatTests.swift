@testable import DroverAgent
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import Testing

/// The blank heartbeat lines of a long NDJSON stream come after silence only, and a client
/// that stops taking the stream is given up on in bounded time and memory.
@Suite struct HeartbeatTests {
    final class Written: Sendable {
        /// What was written, and when.
        let lines = Mutex<[(at: ContinuousClock.Instant, text: String)]>([])
    }

    struct Writer: ResponseBodyWriter {
        let written: Written
        mutating func write(_ buffer: ByteBuffer) async throws { written.lines.withLock { $0.append((.now, String(buffer: buffer))) } }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }

    @Test func aBusyStreamCarriesNoBlankLineAndASilentOneDoes() async throws {
        let lines = AsyncStream<ByteBuffer> { continuation in
            let feeder = Task {
                // Busy for 1 s: a line every 20 ms, far inside the 500 ms heartbeat interval.
                for index in 0..<50 {
                    continuation.yield(ByteBuffer(string: "line \(index)\n"))
                    try? await Task.sleep(for: .milliseconds(20))
                }
                // Then silent for 1.8 s.
                try? await Task.sleep(for: .milliseconds(1_800))
                continuation.finish()
            }
            continuation.onTermination = { _ in feeder.cancel() }
        }
        let written = Written()
        try await ResponseBody.ndjsonStream(lines, limits: StreamLimits(heartbeat: .milliseconds(500))).write(Writer(written: written))
        let all = written.lines.withLock { $0 }
        let lastLine = try #require(all.lastIndex { $0.text.hasPrefix("line") })
        let firstLine = try #require(all.firstIndex { $0.text.hasPrefix("line") })
        // While lines flow no blank line is sent, unless the machine stalled the feeder for
        // an interval (then a blank line is right, and this part says nothing).
        let busy = all[firstLine...lastLine]
        let longestGap = zip(busy.dropFirst(), busy).map { $0.at - $1.at }.max() ?? .zero
        if longestGap < .milliseconds(400) {
            #expect(busy.filter { $0.text == "\n" }.isEmpty, "no heartbeat while lines flow: \(busy.map(\.text))")
        }
        #expect(all[lastLine...].filter { $0.text == "\n" }.count >= 2, "heartbeats in the silence after: \(all.map(\.text))")
    }

    /// A client whose every write waits (its buffers full): its writes are abandoned once
    /// `sendTimeout` has passed, and what feeds the stream ends with it.
    struct StuckWriter: ResponseBodyWriter {
        let written: Written
        mutating func write(_ buffer: ByteBuffer) async throws {
            written.lines.withLock { $0.append((.now, String(buffer: buffer))) }
            try await Task.sleep(for: .seconds(3_600))
        }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }

    @Test func aClientThatTakesNothingIsGivenUpOnAfterTheSendTimeout() async throws {
        let sourceEnded = Atomic<Bool>(false)
        let lines = AsyncStream<ByteBuffer> { continuation in
            continuation.yield(ByteBuffer(string: "first\n"))
            continuation.yield(ByteBuffer(string: "second\n"))
            continuation.onTermination = { _ in sourceEnded.store(true, ordering: .relaxed) }
        }
        let written = Written(), clock = ContinuousClock(), started = clock.now
        let limits = StreamLimits(heartbeat: .milliseconds(100), sendTimeout: .milliseconds(500))
        let error = await #expect(throws: StreamAbandoned.self) {
            try await ResponseBody.ndjsonStream(lines, limits: limits).write(StuckWriter(written: written))
        }
        let took = clock.now - started
        #expect(took >= .milliseconds(500) && took < .seconds(10), "\(took)")
        #expect(error?.description.contains("took nothing") == true, "\(String(describing: error))")
        let ended = sourceEnded.load(ordering: .relaxed)
        #expect(ended, "the source is let go")
        // One write began and waited; no heartbeat piled up behind it.
        #expect(written.lines.withLock { $0.map(\.text) } == ["first\n"])
    }

    /// A client that reads, but slower than lines come: past `maxPendingBytes` waiting, the
    /// stream ends after what was already queued, instead of queueing without bound.
    @Test func aClientFallingTooFarBehindIsCutOffAfterWhatWasQueued() async throws {
        struct SlowWriter: ResponseBodyWriter {
            let written: Written
            mutating func write(_ buffer: ByteBuffer) async throws {
                written.lines.withLock { $0.append((.now, String(buffer: buffer))) }
                try await Task.sleep(for: .milliseconds(5))
            }
            consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
        }
        let lines = AsyncStream<ByteBuffer> { continuation in
            for index in 0..<10_000 { continuation.yield(ByteBuffer(string: "line \(index)\n")) }
        }
        let written = Written()
        let limits = StreamLimits(sendTimeout: .seconds(30), maxPendingBytes: 1_000)
        let error = await #expect(throws: StreamAbandoned.self) {
            try await ResponseBody.ndjsonStream(lines, limits: limits).write(SlowWriter(written: written))
        }
        #expect(error?.description.contains("behind") == true, "\(String(describing: error))")
        let texts = written.lines.withLock { $0.map(\.text) }
        #expect(texts.count > 10 && texts.count < 200, "\(texts.count) lines written")
        #expect(texts == (0..<texts.count).map { "line \($0)\n" }, "every line queued, in order, then the end")
    }
}
