import CSystemd
import Foundation

/// Reads the systemd journal (sd-journal): the last entries of a unit, or a live follow.
///
/// Entries of a unit are matched on every field that can name it — `_SYSTEMD_UNIT`,
/// `_SYSTEMD_USER_UNIT`, `UNIT`/`USER_UNIT` (the manager's messages about it), and
/// `SYSLOG_IDENTIFIER`. The last matters where the journal cannot attribute output to the
/// unit (user managers without a logind session); units Drover renders set
/// `SyslogIdentifier=` to their own name, so they are found everywhere.
public struct JournalReader: Sendable {
    public enum Source: Sendable, Equatable {
        /// The local system journal (needs root or the `systemd-journal` group for all of it).
        case system
        /// The journal files of the calling user.
        case currentUser
        /// The journal files in a directory (e.g. a test host's `/run/log/journal`).
        case directory(String)
    }

    public let source: Source

    public init(source: Source) {
        self.source = source
    }

    /// The last `count` entries of `unit`, oldest first.
    public func entries(of unit: String, last count: Int) throws(SystemdError) -> [JournalEntry] {
        try entries(ofAny: [unit], last: count)
    }

    /// The last `count` entries of any of `units`, interleaved by time, oldest first; each
    /// entry names the unit it belongs to.
    public func entries(ofAny units: [String], last count: Int) throws(SystemdError) -> [JournalEntry] {
        guard !units.isEmpty else { return [] }
        let journal = try Journal(source: source, units: units)
        return try journal.last(count)
    }

    /// The last `count` entries of `unit`, then every new one as it is written, until the
    /// consumer stops iterating.
    public func follow(_ unit: String, last count: Int = 0) -> AsyncThrowingStream<JournalEntry, any Error> {
        follow(anyOf: [unit], last: count).entries
    }

    /// `follow` for several units at once (a service's instances), interleaved by time. The
    /// set can grow while it runs (`JournalFollow.follow(_:)`, a service scaled up).
    ///
    /// With `cursor` (a `JournalEntry.cursor` an earlier follow gave), it starts with the line
    /// after that one instead of the last `count`: a client whose follow broke (the agent
    /// restarted) picks up where it was, missing and repeating nothing.
    /// `onEnd` is called once the follow has ended, whoever ended it.
    public func follow(anyOf units: [String], last count: Int = 0, after cursor: String? = nil,
                       onEnd: (@Sendable () -> Void)? = nil) -> JournalFollow {
        JournalFollow(source: source, units: units, last: count, after: cursor, onEnd: onEnd)
    }

    /// `follow` that hands its events to `sink`, in order, on the follow's own queue (a reader
    /// shared by several consumers fans them out there, with no task in between). It ends
    /// with `stop()`.
    public func follow(anyOf units: [String], last count: Int, sink: @escaping @Sendable (JournalFollow.Event) -> Void) -> JournalFollow {
        JournalFollow(source: source, units: units, last: count, after: nil, onEnd: nil, sink: sink)
    }
}

/// An open sd_journal filtered to some units. Not thread-safe: one per thread (or serial
/// queue), like sd-journal.
final class Journal {
    private let handle: OpaquePointer
    /// Every entry read matched a field of one of these units.
    private let units: Set<String>

    private static let unitFields = ["_SYSTEMD_UNIT", "_SYSTEMD_USER_UNIT", "UNIT", "USER_UNIT", "SYSLOG_IDENTIFIER"]

    init(source: JournalReader.Source, units: [String]) throws(SystemdError) {
        self.units = Set(units)
        var handle: OpaquePointer? = nil
        let opened: Int32 = switch source {
        case .system: sd_journal_open(&handle, Int32(SD_JOURNAL_LOCAL_ONLY))
        case .currentUser: sd_journal_open(&handle, Int32(SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_CURRENT_USER))
        case .directory(let path): path.withCString { sd_journal_open_directory(&handle, $0, 0) }
        }
        try checked("sd_journal_open", opened)
        self.handle = handle!
        for unit in units {
            for field in Self.unitFields {
                let match = "\(field)=\(unit)"
                let added = match.withCString { sd_journal_add_match(self.handle, $0, 0) }
                try checked("sd_journal_add_match", added, unit: unit)
                try checked("sd_journal_add_disjunction", sd_journal_add_disjunction(self.handle), unit: unit)
            }
        }
    }

    deinit {
        sd_journal_close(handle)
    }

    /// The last `count` matching entries, oldest first.
    func last(_ count: Int) throws(SystemdError) -> [JournalEntry] {
        guard count > 0 else { return [] }
        try checked("sd_journal_seek_tail", sd_journal_seek_tail(handle))
        var entries: [JournalEntry] = []
        while entries.count < count, try checked("sd_journal_previous", sd_journal_previous(handle)) > 0 {
            entries.append(try current())
        }
        return entries.reversed()
    }

    /// Moves to the end, so that `next` returns only entries written from now on.
    func positionAfterLastEntry() throws(SystemdError) {
        try checked("sd_journal_seek_tail", sd_journal_seek_tail(handle))
        // After seek_tail, stepping back onto the last entry makes `next` continue after it.
        try checked("sd_journal_previous", sd_journal_previous(handle))
    }

    /// Moves so that `next` returns the entries written at or after `microseconds` (wall clock).
    func position(fromRealtime microseconds: UInt64) throws(SystemdError) {
        try checked("sd_journal_seek_realtime_usec", sd_journal_seek_realtime_usec(handle, microseconds))
    }

    /// Moves so that `next` returns the entries after the one at `cursor`.
    func position(after cursor: String) throws(SystemdError) {
        try checked("sd_journal_seek_cursor", cursor.withCString { sd_journal_seek_cursor(handle, $0) })
        // Onto the cursor's entry (or the nearest after it, if it no longer matches).
        guard try checked("sd_journal_next", sd_journal_next(handle)) > 0 else { return }
        if cursor.withCString({ sd_journal_test_cursor(handle, $0) }) <= 0 {
            // It moved past: step back, so `next` returns this entry.
            try checked("sd_journal_previous", sd_journal_previous(handle))
        }
    }

    func next() throws(SystemdError) -> JournalEntry? {
        guard try checked("sd_journal_next", sd_journal_next(handle)) > 0 else { return nil }
        return try current()
    }

    /// The descriptor that becomes readable when the journal changes (inotify on its files).
    func descriptor() throws(SystemdError) -> Int32 {
        try checked("sd_journal_get_fd", sd_journal_get_fd(handle))
    }

    /// Takes in what woke the descriptor (new entries, files added or rotated).
    func process() throws(SystemdError) {
        try checked("sd_journal_process", sd_journal_process(handle))
    }

    private func current() throws(SystemdError) -> JournalEntry {
        var realtime: UInt64 = 0
        try checked("sd_journal_get_realtime_usec", sd_journal_get_realtime_usec(handle, &realtime))
        var cursorPointer: UnsafeMutablePointer<CChar>? = nil
        try checked("sd_journal_get_cursor", sd_journal_get_cursor(handle, &cursorPointer))
        defer { free(cursorPointer) }
        return JournalEntry(
            time: Date(timeIntervalSince1970: Double(realtime) / 1_000_000),
            priority: field("PRIORITY").flatMap { Int($0) } ?? 6,
            message: field("MESSAGE") ?? "",
            unit: Self.unitFields.lazy.compactMap { self.field($0) }.first { self.units.contains($0) } ?? "",
            invocationID: field("_SYSTEMD_INVOCATION_ID") ?? field("INVOCATION_ID") ?? field("USER_INVOCATION_ID"),
            pid: field("_PID").flatMap { Int32($0) },
            cursor: String(cString: cursorPointer!)
        )
    }

    /// The value of one field of the current entry, decoded leniently (messages may be binary).
    private func field(_ name: String) -> String? {
        var data: UnsafeRawPointer? = nil
        var length = 0
        let found = name.withCString { sd_journal_get_data(handle, $0, &data, &length) }
        guard found >= 0, let data else { return nil }
        let bytes = UnsafeRawBufferPointer(start: data, count: length)
        guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")) else { return nil }
        return String(decoding: bytes[(equals + 1)...], as: UTF8.self)
    }
}
