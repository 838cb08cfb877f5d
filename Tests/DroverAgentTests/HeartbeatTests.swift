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
        try await ResponseBody.ndjsonStream(lines, limits: StreamLimits(heartbeat: .milliseconds(500)), abandon: { _ in })
            .write(Writer(written: written))
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

    /// A connection as the stream sees it: closing it fails the write that waits on it, as
    /// closing a NIO channel fails its pending writes.
    final class Connection: Sendable {
        let closed: AsyncStream<Void>
        private let closing: AsyncStream<Void>.Continuation
        let reasons = Mutex<[String]>([])

        init() { (closed, closing) = AsyncStream<Void>.makeStream() }

        func abandon(_ reason: StreamAbandoned) {
            reasons.withLock { $0.append(reason.description) }
            closing.finish()
        }
    }

    /// A client whose buffers are full: every write waits until the connection closes.
    struct StuckWriter: ResponseBodyWriter {
        let written: Written
        let connection: Connection
        mutating func write(_ buffer: ByteBuffer) async throws {
            written.lines.withLock { $0.append((.now, String(buffer: buffer))) }
            for await _ in connection.closed {}
            throw ChannelError.ioOnClosedChannel
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
        let written = Written(), connection = Connection(), clock = ContinuousClock(), started = clock.now
        let limits = StreamLimits(heartbeat: .milliseconds(100), sendTimeout: .seconds(1))
        await #expect(throws: ChannelError.self) {
            try await ResponseBody.ndjsonStream(lines, limits: limits, abandon: connection.abandon)
                .write(StuckWriter(written: written, connection: connection))
        }
        let took = clock.now - started
        #expect(took >= .seconds(1) && took < .seconds(20), "\(took)")
        #expect(connection.reasons.withLock { $0 } == ["the client took nothing for 1 s"])
        let ended = sourceEnded.load(ordering: .relaxed)
        #expect(ended, "the source is let go")
        // One write began and waited; no heartbeat piled up behind it (the timer did not spin).
        #expect(written.lines.withLock { $0.map(\.text) } == ["first\n"])
    }

    /// A client that reads, but slower than lines come: past `maxPendingBytes` waiting, it is
    /// given up on instead of its queue growing without bound.
    @Test func aClientFallingTooFarBehindIsGivenUpOn() async throws {
        struct SlowWriter: ResponseBodyWriter {
            let written: Written
            let connection: Connection
            mutating func write(_ buffer: ByteBuffer) async throws {
                guard connection.reasons.withLock({ $0.isEmpty }) else { throw ChannelError.ioOnClosedChannel }
                written.lines.withLock { $0.append((.now, String(buffer: buffer))) }
                try await Task.sleep(for: .milliseconds(5))
            }
            consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
        }
        let lines = AsyncStream<ByteBuffer> { continuation in
            for index in 0..<10_000 { continuation.yield(ByteBuffer(string: "line \(index)\n")) }
        }
        let written = Written(), connection = Connection()
        let limits = StreamLimits(sendTimeout: .seconds(30), maxPendingBytes: 2_048)
        await #expect(throws: (any Error).self) {
            try await ResponseBody.ndjsonStream(lines, limits: limits, abandon: connection.abandon)
                .write(SlowWriter(written: written, connection: connection))
        }
        #expect(connection.reasons.withLock { $0 } == ["the client fell more than 2 KiB behind"])
        let texts = written.lines.withLock { $0.map(\.text) }
        #expect(texts.count < 1_000, "\(texts.count) lines written")
        #expect(texts == (0..<texts.count).map { "line \($0)\n" }, "the lines written are in order, none skipped")
    }

    /// The pacing rules alone, on a clock the test moves.
    @Test func heartbeatsFollowSilenceOnlyAndAStuckWriteIsGivenUpOnOnce() {
        let start = ContinuousClock.now
        let pacing = StreamPacing(limits: StreamLimits(heartbeat: .seconds(15), sendTimeout: .seconds(30)), now: start)
        #expect(pacing.tick(at: start + .seconds(1)) == .sleep(until: start + .seconds(15)))
        pacing.writing(at: start + .seconds(2))
        pacing.wrote(10, at: start + .seconds(3))
        #expect(pacing.tick(at: start + .seconds(15)) == .sleep(until: start + .seconds(18)), "a write restarts the silence")
        #expect(pacing.tick(at: start + .seconds(18)) == .heartbeat)
        #expect(pacing.tick(at: start + .seconds(18)) == .sleep(until: start + .seconds(33)), "one heartbeat per interval")
        // A line handed over but not yet written counts as much as one written.
        _ = pacing.queued(10, at: start + .seconds(19))
        #expect(pacing.tick(at: start + .seconds(33)) == .sleep(until: start + .seconds(34)))
        pacing.wrote(10, at: start + .seconds(19))
        // A write that waits: no heartbeat behind it, however long; given up on at 30 s.
        pacing.writing(at: start + .seconds(20))
        #expect(pacing.tick(at: start + .seconds(40)) == .sleep(until: start + .seconds(50)))
        #expect(pacing.tick(at: start + .seconds(50)) == .abandon("the client took nothing for 30 s"))
        // Bytes waiting beyond the limit.
        let small = StreamPacing(limits: StreamLimits(maxPendingBytes: 100), now: start)
        #expect(small.queued(60, at: start) == nil)
        small.wrote(60, at: start)
        #expect(small.queued(100, at: start) == nil)
        #expect(small.queued(1, at: start)?.description == "the client fell more than 100 bytes behind")
    }
}
