import DroverAPI
import DroverCore
import DroverSystemd
import Foundation
import NIOPosix

extension Agent {
    /// The instance units whose lines belong to `service` (of `version`, or of every retained
    /// release): each release's template in every slot the service has had. Journal entries
    /// are matched on these names (`SyslogIdentifier=%n`), which works in every scope.
    func logUnits(of service: ServiceName, version: ReleaseVersion?) async throws -> [String] {
        let store = context.store
        _ = try await runner(of: service).record()
        let versions: [ReleaseVersion]
        if let version {
            guard try await store.release(service, version) != nil else {
                throw ServiceError(.unknownRelease, "\(service) has no retained release \(version)")
            }
            versions = [version]
        } else {
            versions = try await store.releases(of: service).map(\.version)
        }
        // Slot 1 always: a follow that starts before the first instance waits for it.
        let slots = Set(try await store.allPorts(of: service).keys).union([1]).sorted()
        return versions.flatMap { version in slots.map { UnitNames.instance(service, version, slot: $0) } }
    }

    /// The last `lines` journal lines of the service's instances, oldest first.
    public func logs(of service: ServiceName, lines: Int, version: ReleaseVersion?) async throws -> [LogEntry] {
        let units = try await logUnits(of: service, version: version)
        let journal = context.journal
        // sd-journal reads files: on NIO's thread pool for blocking work, not the cooperative pool.
        let entries = try await NIOThreadPool.singleton.runIfActive { try journal.entries(ofAny: units, last: lines) }
        return entries.compactMap(Self.logEntry)
    }

    /// A follow of a service's logs: `entries` are the last `lines` lines (or those after
    /// `cursor`, for a client resuming a broken follow), then every new one. Follows share
    /// their service's one journal reader (`ServiceLogTail`, run by the runner); one that its
    /// kept lines cannot start (more lines than it keeps, an older cursor) reads with a reader
    /// of its own, and `keepUnitsCurrent` then adds new instances to it as the runner's view
    /// names them, beside the reading.
    public struct LogFollow: Sendable {
        public let entries: AsyncCompactMapSequence<AsyncThrowingStream<JournalEntry, any Error>, LogEntry>
        public let keepUnitsCurrent: @Sendable () async -> Void
    }

    /// Opens a follow, or refuses when `maxLogFollowers` are open.
    public func followLogs(of service: ServiceName, lines: Int, version: ReleaseVersion?, after cursor: String? = nil) async throws -> LogFollow {
        let initial = try await logUnits(of: service, version: version)
        let runner = try await runner(of: service)
        guard logFollowers.claim() else {
            throw LogsError(.tooManyFollowers, "\(logFollowers.maximum) log follows are open on this host, as many as it allows; "
                            + "close one (or read without follow) and try again")
        }
        let followers = logFollowers
        if let shared = runner.logTail.follow(version: version, lines: lines, after: cursor, onEnd: { followers.release() }) {
            return LogFollow(entries: shared.compactMap(Self.logEntry)) {}
        }
        // Listening only once the follow is granted: a refused one leaves no listener behind.
        let newUnits = runner.view.unitNames.names()
        let follow = context.journal.follow(anyOf: initial, last: lines, after: cursor, onEnd: { followers.release() })
        return LogFollow(entries: follow.entries.compactMap(Self.logEntry)) {
            for await unit in newUnits {
                guard let instance = UnitNames.parseInstance(unit), instance.service == service,
                      version == nil || instance.version == version else { continue }
                follow.follow([unit])
            }
        }
    }

    static func logEntry(_ entry: JournalEntry) -> LogEntry? {
        guard let instance = UnitNames.parseInstance(entry.unit) else { return nil }
        return LogEntry(time: entry.time, slot: instance.slot, version: instance.version, priority: entry.priority,
                        message: entry.message, unit: entry.unit, cursor: entry.cursor)
    }
}
