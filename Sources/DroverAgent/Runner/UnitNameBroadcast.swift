import Foundation
import Synchronization

/// The names of a service's units as systemd signals changes to them, to everyone listening
/// (log followers learn of new instances here, rather than asking the store again and again).
final class UnitNameBroadcast: Sendable {
    private let listeners = Mutex<[UUID: AsyncStream<String>.Continuation]>([:])

    /// Every unit named from now on, until the listener stops iterating.
    func names() -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let id = UUID()
        continuation.onTermination = { [weak self] _ in _ = self?.listeners.withLock { $0.removeValue(forKey: id) } }
        listeners.withLock { $0[id] = continuation }
        return stream
    }

    func yield(_ unit: String) {
        // Outside the lock: a termination handler takes it.
        for listener in listeners.withLock({ Array($0.values) }) { listener.yield(unit) }
    }

    /// Ends every listener's stream (the service is gone, or the agent stops).
    func finish() {
        for listener in listeners.withLock({ Array($0.values) }) { listener.finish() }
    }
}
