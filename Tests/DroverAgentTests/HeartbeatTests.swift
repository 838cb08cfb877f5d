@testable import DroverAgent
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import Testing

/// The blank heartbeat lines of a long NDJSON stream come after silence only.
@Suite struct HeartbeatTests {
    final class Written: Sendable {
        let lines = Mutex<[String]>([])
    }

    struct Writer: ResponseBodyWriter {
        let written: Written
        mutating func write(_ buffer: ByteBuffer) async throws { written.lines.withLock { $0.append(String(buffer: buffer)) } }
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
        let lastLine = try #require(all.lastIndex { $0.hasPrefix("line") })
        #expect(all[...lastLine].filter { $0 == "\n" }.isEmpty, "no heartbeat while lines flow: \(all)")
        #expect(all[lastLine...].filter { $0 == "\n" }.count >= 2, "heartbeats in the silence after: \(all)")
    }
}
