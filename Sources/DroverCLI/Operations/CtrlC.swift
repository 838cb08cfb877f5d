import Foundation
import Synchronization
import UnixSignals

/// Ctrl-C during a fleet operation: the first stops the work in hand so the command can say
/// where each host stands; a second ends drover at once, even while the first waits on a slow
/// network.
enum CtrlC {
    /// Runs `body`; returns nil if Ctrl-C stopped it (`body` was cancelled and has ended).
    static func stopping<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T? {
        let signals = await UnixSignalsSequence(trapping: .sigint)
        let pressed = Pressed()
        let work = Task { try await body() }
        let watcher = Task {
            for await _ in signals {
                guard pressed.first() else { exit(ExitCodes.interrupted) }
                work.cancel()
            }
        }
        defer { watcher.cancel() }
        let result = await withTaskCancellationHandler { await work.result } onCancel: { work.cancel() }
        if pressed.happened, case .failure(let error) = result, error is CancellationError { return nil }
        return try result.get()
    }

    private final class Pressed: Sendable {
        private let count = Mutex(0)
        /// Counts a press; true for the first.
        func first() -> Bool { count.withLock { $0 += 1; return $0 == 1 } }
        var happened: Bool { count.withLock { $0 > 0 } }
    }
}
