import CSystemd
import Dispatch
import Glibc

/// A live follow of some units' journal lines.
///
/// The journal's own descriptor (`sd_journal_get_fd`, inotify on its files) wakes it through
/// a dispatch source: it has no thread of its own and never polls. sd-journal is read on one
/// serial queue, off the cooperative pool, since its reads block on files.
public final class JournalFollow: @unchecked Sendable {
    /// What a follow with a sink hands it, in order, on the follow's queue.
    public enum Event: Sendable {
        case entry(JournalEntry)
        /// The backlog has been delivered; entries from here on are new.
        case caughtUp
        case failed(any Error)
    }

    /// The backlog first, then every new entry; ends with the journal's error if a read fails.
    /// Ending the iteration (or dropping the stream) ends the follow. (Empty for a follow with
    /// a sink.)
    public let entries: AsyncThrowingStream<JournalEntry, any Error>
    private let continuation: AsyncThrowingStream<JournalEntry, any Error>.Continuation
    private let sink: (@Sendable (Event) -> Void)?
    private var caughtUp = false
    private let source: JournalReader.Source
    private let queue = DispatchQueue(label: "drover.journal-follow")
    /// Where a journal opened for new units starts when no line was read yet: the follow's start.
    private let startedAt: UInt64

    // Touched on `queue` only (hence `@unchecked Sendable`).
    private var units: Set<String>
    private var journal: Journal?
    private var wakeup: (any DispatchSourceRead)?
    private var lastCursor: String?
    /// What was delivered lately: a reopened journal reads back over it without repeating.
    private var delivered = DeliveredWindow()
    private var ended = false

    init(source: JournalReader.Source, units: [String], last count: Int, after cursor: String?, onEnd: (@Sendable () -> Void)?,
         sink: (@Sendable (Event) -> Void)? = nil) {
        (entries, continuation) = AsyncThrowingStream.makeStream(bufferingPolicy: .unbounded)
        self.sink = sink
        self.source = source
        self.units = Set(units)
        self.lastCursor = cursor
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        startedAt = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
        // Holds the follow until its stream ends (the handler is released then).
        continuation.onTermination = { [self] _ in
            queue.async { self.end() }
            onEnd?()
        }
        queue.async { self.open(units, last: count, after: cursor) }
    }

    /// Ends the follow (a follow with a sink ends only so, or by failing).
    public func stop() {
        queue.async { [self] in
            end()
            continuation.finish()
        }
    }

    /// Follows `units` as well as those already followed (a service's new slot or release):
    /// the lines they wrote since shortly before this call, however late it comes after their
    /// start, then every new one; none of the others' lines is skipped or repeated.
    ///
    /// The journal is read again from `DeliveredWindow.resumePoint` (30 s before the newest
    /// line delivered), skipping the lines already delivered: a new unit's first lines often
    /// come, in the journal's order, before the last line the follow delivered, since it is
    /// told of the unit only after systemd started it. Reading on after that last line
    /// skipped them.
    public func follow(_ units: [String]) {
        queue.async { [self] in
            let wanted = self.units.union(units)
            guard !ended, wanted != self.units else { return }
            self.units = wanted
            do {
                let reopened = try Journal(source: source, units: Array(wanted))
                _ = try reopened.descriptor()
                if let resumePoint = delivered.resumePoint {
                    try reopened.position(fromRealtime: resumePoint)
                } else if let lastCursor {
                    try reopened.position(after: lastCursor)
                } else {
                    try reopened.position(fromRealtime: startedAt)
                }
                try watch(reopened)
            } catch {
                fail(error)
            }
        }
    }

    private func open(_ units: [String], last count: Int, after cursor: String?) {
        // No unit, no match: an unfiltered journal would be every line of the host. The
        // follow waits for units.
        guard !ended, !units.isEmpty else { return }
        do {
            let journal = try Journal(source: source, units: units)
            // Before the first read: changes from here on wake the descriptor.
            _ = try journal.descriptor()
            if let cursor {
                try journal.position(after: cursor)
            } else {
                for entry in try journal.last(count) { deliver(entry) }
                try journal.positionAfterLastEntry()
            }
            try watch(journal)
        } catch {
            fail(error)
        }
    }

    /// Makes `journal` the one read, woken by its descriptor, and reads what it already has.
    private func watch(_ journal: Journal) throws(SystemdError) {
        retire()
        let wakeup = DispatchSource.makeReadSource(fileDescriptor: try journal.descriptor(), queue: queue)
        wakeup.setEventHandler { [self] in drain(processing: true) }
        self.journal = journal
        self.wakeup = wakeup
        wakeup.resume()
        drain(processing: false)
        if !caughtUp {
            caughtUp = true
            sink?(.caughtUp)
        }
    }

    private func drain(processing: Bool) {
        guard !ended, let journal else { return }
        do {
            if processing { try journal.process() }
            while let entry = try journal.next() { deliver(entry) }
        } catch {
            fail(error)
        }
    }

    private func deliver(_ entry: JournalEntry) {
        guard !delivered.contains(entry.cursor) else { return }
        if let sink { sink(.entry(entry)) } else { continuation.yield(entry) }
        lastCursor = entry.cursor
        delivered.record(realtime: entry.realtimeMicroseconds, cursor: entry.cursor)
    }

    /// Stops watching the current journal; it is closed (with its descriptor) only once its
    /// dispatch source has let go of the descriptor.
    private func retire() {
        guard let wakeup else { return }
        let closing = journal
        wakeup.setCancelHandler { withExtendedLifetime(closing) {} }
        wakeup.cancel()
        self.wakeup = nil
        journal = nil
    }

    private func fail(_ error: any Error) {
        sink?(.failed(error))
        continuation.finish(throwing: error)
        end()
    }

    private func end() {
        ended = true
        retire()
        journal = nil
    }
}
