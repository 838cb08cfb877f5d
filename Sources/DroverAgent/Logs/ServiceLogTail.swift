import DroverCore
import DroverSystemd
import Synchronization

/// One journal reader per service, shared by all its log follows. The runner's log loop
/// opens it when the first follow comes and closes it when the last one goes; it hands every
/// new line, on the journal's own queue, to each follow that wants it (all releases, or one).
///
/// The newest lines are kept (up to `capacity`), so that a follow joining a reader already
/// open starts with its last lines, or resumes after a recent cursor, from memory. A follow
/// the kept lines cannot serve (more lines than kept, or a cursor older than them) gets nil
/// and reads with a reader of its own.
final class ServiceLogTail: Sendable {
    /// Most lines kept (the API's largest `lines`).
    static let capacity = 10_000

    private struct Follower {
        let continuation: AsyncThrowingStream<JournalEntry, any Error>.Continuation
        let version: ReleaseVersion?
        /// Waiting for the reader's backlog: the lines it starts with.
        var pendingLines: Int?

        func wants(_ entry: JournalEntry) -> Bool {
            guard let version else { return true }
            return UnitNames.parseInstance(entry.unit)?.version == version
        }
    }

    private struct State {
        var followers: [UInt64: Follower] = [:]
        var nextID: UInt64 = 0
        /// The newest lines, oldest first, while the reader is open and has its backlog.
        var recent: [JournalEntry] = []
        /// How many lines the open reader keeps (the most any follow asked for).
        var keeping = 0
        /// Lines were dropped to keep `keeping`: the kept ones are not all there is.
        var dropped = false
        var isOpen = false
    }

    private let state = Mutex(State())
    /// A follow came or went: the runner's log loop looks.
    let changes = Wakeup()

    var isWanted: Bool { state.withLock { !$0.followers.isEmpty } }

    /// How many lines the reader should start with: the most a waiting follow asked for.
    var backlogWanted: Int {
        state.withLock { state in min(Self.capacity, state.followers.values.compactMap(\.pendingLines).max() ?? 0) }
    }

    /// A follow's lines: its last `lines` (or those after `cursor`), then every new one; nil
    /// when the shared reader cannot serve that start.
    /// `onEnd` is called once the follow has ended, whoever ended it.
    func follow(version: ReleaseVersion?, lines: Int, after cursor: String?,
                onEnd: @escaping @Sendable () -> Void) -> AsyncThrowingStream<JournalEntry, any Error>? {
        let (stream, continuation) = AsyncThrowingStream<JournalEntry, any Error>.makeStream(bufferingPolicy: .unbounded)
        let accepted: UInt64? = state.withLock { state in
            var follower = Follower(continuation: continuation, version: version, pendingLines: nil)
            if state.isOpen {
                let kept = state.recent.filter(follower.wants)
                if let cursor {
                    guard let index = kept.lastIndex(where: { $0.cursor == cursor }) else { return nil }
                    for entry in kept[(index + 1)...] { continuation.yield(entry) }
                } else {
                    // Fewer kept than asked is all there is only if none was dropped.
                    guard kept.count >= lines || !state.dropped else { return nil }
                    for entry in kept.suffix(lines) { continuation.yield(entry) }
                }
            } else {
                // The reader opens for this follow (or is opening): with its cursor, only a
                // reader of its own can start after it.
                guard cursor == nil else { return nil }
                follower.pendingLines = lines
            }
            state.nextID += 1
            state.followers[state.nextID] = follower
            return state.nextID
        }
        guard let id = accepted else { return nil }
        continuation.onTermination = { [weak self] _ in
            onEnd()
            guard let self else { return }
            state.withLock { _ = $0.followers.removeValue(forKey: id) }
            changes.signal()
        }
        changes.signal()
        return stream
    }

    /// What the shared reader delivers, on its queue.
    func handle(_ event: JournalFollow.Event) {
        let finished: [AsyncThrowingStream<JournalEntry, any Error>.Continuation] = state.withLock { state in
            switch event {
            case .entry(let entry):
                state.recent.append(entry)
                if state.recent.count > state.keeping {
                    state.recent.removeFirst(state.recent.count - state.keeping)
                    state.dropped = true
                }
                for follower in state.followers.values where follower.pendingLines == nil && follower.wants(entry) {
                    follower.continuation.yield(entry)
                }
                return []
            case .caughtUp:
                // The backlog is in: waiting follows start with their last lines of it.
                state.isOpen = true
                for (id, follower) in state.followers {
                    guard let lines = follower.pendingLines else { continue }
                    for entry in state.recent.filter(follower.wants).suffix(lines) { follower.continuation.yield(entry) }
                    state.followers[id]?.pendingLines = nil
                }
                return []
            case .failed:
                return Array(state.followers.values.map(\.continuation))
            }
        }
        if case .failed(let error) = event {
            for continuation in finished { continuation.finish(throwing: error) }
        }
    }

    /// The reader opens, keeping `lines` lines (at least 1,000: later follows start from them).
    func opening(keeping lines: Int) {
        state.withLock { state in
            state.keeping = min(Self.capacity, max(lines, 1_000))
            state.recent = []
            state.dropped = false
            state.isOpen = false
        }
    }

    /// Closes the reader if no follow wants it, in one step with the check: a follow that
    /// comes a moment later waits for the next reader (and gets its last lines from it)
    /// rather than joining one that is closing.
    func closeIfUnwanted() -> Bool {
        state.withLock { state in
            guard state.followers.isEmpty else { return false }
            state.isOpen = false
            state.recent = []
            state.dropped = false
            return true
        }
    }

    /// The reader closed for another reason (the service is gone, the agent stops): every
    /// follow ends.
    func closeAll() {
        let followers = state.withLock { state in
            state.isOpen = false
            state.recent = []
            state.dropped = false
            return Array(state.followers.values.map(\.continuation))
        }
        for follower in followers { follower.finish() }
    }
}
