import DroverAPI
import Foundation
import NIOCore

/// A deployment's events as NDJSON (one `EventInfo` per line), live, until it finishes; then
/// a last line with the final `DeploymentInfo`.
struct DeploymentEventStream: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let agent: Agent
    let deployment: DeploymentInfo

    struct AsyncIterator: AsyncIteratorProtocol {
        let agent: Agent
        let id: String
        let service: DeploymentInfo
        var lastEvent: Int64 = 0
        var finished = false

        mutating func next() async throws -> ByteBuffer? {
            while !finished {
                let events = try agent.store.events(of: service.service, limit: 10_000)
                    .filter { $0.id > lastEvent && $0.message.hasPrefix("deployment \(id)") }
                if !events.isEmpty {
                    lastEvent = events.last!.id
                    var lines = Data()
                    for event in events { lines += try JSONEncoder.droverAPI.encode(event) + Data("\n".utf8) }
                    return ByteBuffer(bytes: lines)
                }
                let current = try agent.deployment(id)
                if current.isFinished {
                    finished = true
                    return ByteBuffer(bytes: try JSONEncoder.droverAPI.encode(current) + Data("\n".utf8))
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            return nil
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(agent: agent, id: deployment.id, service: deployment)
    }
}
