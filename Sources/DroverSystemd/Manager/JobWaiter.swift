import Synchronization

/// One caller waiting for a systemd job to be removed.
///
/// The result may arrive before the caller starts waiting (the actor registers the waiter,
/// then suspends into `wait()`, and the loop can deliver `JobRemoved` in between), so a
/// result that comes early is kept and handed over when the wait begins.
final class JobWaiter: Sendable {
    private enum State {
        case idle
        case waiting(CheckedContinuation<String, any Error>)
        case delivered(Result<String, any Error>)
        case consumed
    }

    private let state = Mutex<State>(.idle)

    /// Suspends until the job's result (`done`, `failed`, …) arrives, or the task is cancelled.
    func wait() async throws -> String {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let early = state.withLock { state -> Result<String, any Error>? in
                    switch state {
                    case .delivered(let result):
                        state = .consumed
                        return result
                    case .idle:
                        state = .waiting(continuation)
                        return nil
                    case .waiting, .consumed:
                        preconditionFailure("a job is waited for once")
                    }
                }
                if let early { continuation.resume(with: early) }
            }
        } onCancel: {
            deliver(.failure(CancellationError()))
        }
    }

    /// Delivers the job's result.
    func finish(_ result: String) {
        deliver(.success(result))
    }

    /// Fails the wait, e.g. because the connection closed.
    func fail(_ error: any Error) {
        deliver(.failure(error))
    }

    /// The first delivery wins; later ones (a cancel after the result) are ignored.
    private func deliver(_ result: Result<String, any Error>) {
        let continuation = state.withLock { state -> CheckedContinuation<String, any Error>? in
            switch state {
            case .idle:
                state = .delivered(result)
                return nil
            case .waiting(let continuation):
                state = .consumed
                return continuation
            case .delivered, .consumed:
                return nil
            }
        }
        continuation?.resume(with: result)
    }
}
