import DroverAPI
import Foundation
import GRDB
import NIOCore

/// A deployment's events as NDJSON (one `EventInfo` per line), live, until it finishes; then
/// a last line with the final `DeploymentInfo`. It wakes when the store records an event of
/// the deployment (a GRDB observation), not on a timer.
struct DeploymentEventStream: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let agent: Agent
    let deployment: DeploymentInfo

    struct AsyncIterator: AsyncIteratorProtocol {
        let agent: Agent
        let deployment: DeploymentInfo
        var changes: AsyncValueObservation<Int64?>.Iterator
        var lastEvent: Int64 = 0
        var finished = false

        mutating func next() async throws -> ByteBuffer? {
            while !finished {
                // Woken by the first value at once, then by every new event of the deployment.
                guard try await changes.next() != nil else { return nil }
                // State first: an outcome and its event are written together, so if the deployment
                // has ended, its last event is already there to be read below.
                let current = try await agent.deployment(deployment.id)
                let events = try await agent.context.store.events(ofDeployment: deployment.id, service: deployment.service, after: lastEvent)
                var lines = Data()
                for event in events { lines += try JSONEncoder.droverAPI.encode(event) + Data("\n".utf8) }
                lastEvent = events.last?.id ?? lastEvent
                if current.isFinished {
                    finished = true
                    lines += try JSONEncoder.droverAPI.encode(current) + Data("\n".utf8)
                }
                if !lines.isEmpty { return ByteBuffer(bytes: lines) }
            }
            return nil
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(agent: agent, deployment: deployment, changes: agent.context.store.newestEvent(ofDeployment: deployment.id).makeAsyncIterator())
    }
}
