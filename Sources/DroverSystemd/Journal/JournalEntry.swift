import Foundation

/// One journal entry, with the fields an operator reads.
public struct JournalEntry: Sendable, Equatable, Codable {
    public var time: Date
    /// syslog priority: 0 (emerg) … 7 (debug); 6 (info) when the entry has none.
    public var priority: Int
    public var message: String
    /// The unit the entry belongs to (written by it, or by systemd about it).
    public var unit: String
    /// The run of the unit the entry belongs to.
    public var invocationID: String?
    public var pid: Int32?
    /// An opaque position; lets a reader continue exactly after this entry.
    public var cursor: String
}

extension JournalEntry {
    /// `time` as the journal counts it (microseconds since the epoch), for seeking.
    var realtimeMicroseconds: UInt64 {
        let microseconds = time.timeIntervalSince1970 * 1_000_000
        return microseconds > 0 && microseconds < Double(UInt64.max / 2) ? UInt64(microseconds) : 0
    }
}
