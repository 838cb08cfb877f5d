@testable import DroverAgent
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import Testing

/// The blank heartbeat lines of a long NDJSON stream come after silence only.
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
        try await ResponseBody.ndjsonStream(lines, heartbeat: .milliseconds(500)).write(Writer(written: written))
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
}
