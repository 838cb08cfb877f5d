import DroverAPI
import DroverCore
import DroverSystemd
import Foundation
import NIOPosix

extension Agent {
    /// The instance units whose lines belong to `service` (of `version`, or of every retained
    /// release): each release's template in every slot the service has had. Journal entries
    /// are matched on these names (`SyslogIdentifier=%n`), which works in every scope.
    func logUnits(of service: ServiceName, version: ReleaseVersion?) throws -> [String] {
        _ = try existing(service)
        let versions = try version.map { version in
            guard try store.release(service, version) != nil else {
                throw AgentError.notFound("unknown_release", "\(service) has no retained release \(version)")
            }
            return [version]
        } ?? store.releases(of: service).map(\.version)
        // Slot 1 always: a follow that starts before the first instance waits for it.
        let slots = Set(try store.allPorts(of: service).keys).union([1]).sorted()
        return versions.flatMap { version in slots.map { UnitNames.instance(service, version, slot: $0) } }
    }

    /// The last `lines` journal lines of the service's instances, oldest first.
    public func logs(of service: ServiceName, lines: Int, version: ReleaseVersion?) async throws -> [LogEntry] {
        let units = try logUnits(of: service, version: version)
        let journal = self.journal
        // sd-journal reads files: on NIO's thread pool for blocking work, not the cooperative pool.
        let entries = try await NIOThreadPool.singleton.runIfActive { try journal.entries(ofAny: units, last: lines) }
        return entries.compactMap(Self.logEntry)
    }

    /// The last `lines` lines, then every new one, until the consumer stops reading (the
    /// journal is read on a thread of its own, which ends with the stream).
    /// From the line after `cursor` instead, when given (a client resuming a broken follow).
    public func followLogs(of service: ServiceName, lines: Int, version: ReleaseVersion?, after cursor: String? = nil) throws
        -> AsyncCompactMapSequence<AsyncThrowingStream<JournalEntry, any Error>, LogEntry> {
        let initial = try logUnits(of: service, version: version)
        // Asked again while following: instances of new slots and new releases join.
        return journal.follow(anyOf: { [self] in (try? self.logUnits(of: service, version: version)) ?? initial }, last: lines, after: cursor)
            .compactMap(Self.logEntry)
    }

    static func logEntry(_ entry: JournalEntry) -> LogEntry? {
        guard let instance = UnitNames.parseInstance(entry.unit) else { return nil }
        return LogEntry(time: entry.time, slot: instance.slot, version: instance.version, priority: entry.priority,
                        message: entry.message, unit: entry.unit, cursor: entry.cursor)
    }
}
