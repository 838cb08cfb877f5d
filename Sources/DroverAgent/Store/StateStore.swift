import DroverAPI
import DroverCore
import Foundation
import GRDB

/// The agent's durable state: services and what is wanted of them, releases, slot ports and
/// an event log. SQLite in WAL mode through GRDB: readers run concurrently, writes go through
/// one writer, and the schema moves forward by numbered migrations.
public final class StateStore: Sendable {
    let database: DatabasePool
    /// Moved by every commit (and by the runners' views, for systemd's changes).
    let changes = StateChanges()

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(5)
        database = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(database)
        database.add(transactionObserver: StoreCommitObserver(changes), extent: .databaseLifetime)
    }

    /// Migration names are numbered; never edit one that has shipped, add the next.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("0001-initial") { db in
            try db.execute(sql: """
                CREATE TABLE services (
                    name TEXT PRIMARY KEY NOT NULL,
                    desired_instances INTEGER NOT NULL DEFAULT 0,
                    current_version TEXT,
                    created_at DATETIME NOT NULL
                );
                CREATE TABLE releases (
                    service TEXT NOT NULL REFERENCES services(name) ON DELETE CASCADE,
                    version TEXT NOT NULL,
                    sha256 TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    files INTEGER NOT NULL,
                    spec TEXT NOT NULL,
                    unit_sha256 TEXT NOT NULL,
                    created_at DATETIME NOT NULL,
                    PRIMARY KEY (service, version)
                );
                CREATE TABLE slots (
                    service TEXT NOT NULL REFERENCES services(name) ON DELETE CASCADE,
                    slot INTEGER NOT NULL,
                    port INTEGER NOT NULL UNIQUE,
                    PRIMARY KEY (service, slot)
                );
                CREATE TABLE events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    time DATETIME NOT NULL,
                    service TEXT,
                    kind TEXT NOT NULL,
                    message TEXT NOT NULL
                );
                CREATE INDEX events_by_service ON events(service, id);
                """)
        }
        migrator.registerMigration("0002-deployments") { db in
            try db.execute(sql: """
                CREATE TABLE deployments (
                    id TEXT PRIMARY KEY NOT NULL,
                    service TEXT NOT NULL REFERENCES services(name) ON DELETE CASCADE,
                    from_version TEXT,
                    to_version TEXT NOT NULL,
                    instances INTEGER NOT NULL,
                    strategy TEXT NOT NULL,
                    state TEXT NOT NULL,
                    reason TEXT,
                    created_at DATETIME NOT NULL,
                    updated_at DATETIME NOT NULL
                );
                CREATE INDEX deployments_by_service ON deployments(service, created_at);
                """)
        }
        migrator.registerMigration("0003-autoscale") { db in
            try db.execute(sql: """
                CREATE TABLE autoscale_policies (
                    service TEXT PRIMARY KEY NOT NULL REFERENCES services(name) ON DELETE CASCADE,
                    policy TEXT NOT NULL,
                    updated_at DATETIME NOT NULL
                );
                """)
        }
        migrator.registerMigration("0004-instance-limits") { db in
            try db.execute(sql: "ALTER TABLE services ADD COLUMN instance_limits TEXT")
        }
        migrator.registerMigration("0005-events-deployment-id") { db in
            // A deployment's events were found by their message's prefix ("deployment <id>: …");
            // they carry the id in a column of their own now, filled in for the old rows.
            try db.execute(sql: """
                ALTER TABLE events ADD COLUMN deployment_id TEXT;
                UPDATE events SET deployment_id = substr(message, 12, 36)
                    WHERE kind LIKE 'deployment.%' AND message LIKE 'deployment %: %';
                CREATE INDEX events_by_deployment ON events(deployment_id, id);
                """)
        }
        migrator.registerMigration("0006-tokens") { db in
            // Named, scoped API tokens, kept as the SHA-256 of the token: never the token.
            // Events say which token made a change, and from which client address.
            try db.execute(sql: """
                CREATE TABLE tokens (
                    name TEXT PRIMARY KEY,
                    scope TEXT NOT NULL,
                    hash BLOB NOT NULL UNIQUE,
                    created_at DATETIME NOT NULL,
                    last_used_at DATETIME
                );
                ALTER TABLE events ADD COLUMN actor TEXT;
                ALTER TABLE events ADD COLUMN client TEXT;
                """)
        }
        migrator.registerMigration("0007-release-exposure") { db in
            // Each release's unit as systemd-analyze security scores it, kept for status.
            try db.execute(sql: "ALTER TABLE releases ADD COLUMN exposure REAL")
        }
        migrator.registerMigration("0008-release-command") { db in
            // When the release's release command last succeeded here: a redeploy of the same
            // content does not run it again.
            try db.execute(sql: "ALTER TABLE releases ADD COLUMN release_command_at DATETIME")
        }
        migrator.registerMigration("0009-leases") { db in
            // Who is changing a service on this host: one lease per service, whether or not the
            // service exists yet (a first deploy takes it too).
            try db.execute(sql: """
                CREATE TABLE leases (
                    service TEXT PRIMARY KEY,
                    id TEXT NOT NULL,
                    holder TEXT NOT NULL,
                    operation TEXT NOT NULL,
                    message TEXT,
                    actor TEXT,
                    since DATETIME NOT NULL,
                    expires_at DATETIME
                )
                """)
        }
        return migrator
    }

    // MARK: Services

    public struct ServiceRecord: Sendable, Equatable {
        public var name: ServiceName
        public var desiredInstances: Int
        public var currentVersion: ReleaseVersion?
        /// A live resize over the releases' limits, if one is in force.
        public var instanceLimits: InstanceLimits?
    }

    public func services() async throws -> [ServiceRecord] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM services ORDER BY name").map(Self.service)
        }
    }

    public func service(_ name: ServiceName) async throws -> ServiceRecord? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM services WHERE name = ?", arguments: [name.rawValue]).map(Self.service)
        }
    }

    public func setDesiredInstances(_ count: Int, of service: ServiceName) async throws {
        try await database.write { db in
            try db.execute(sql: "UPDATE services SET desired_instances = ? WHERE name = ?", arguments: [count, service.rawValue])
        }
    }

    public func setCurrentVersion(_ version: ReleaseVersion, instances: Int, of service: ServiceName) async throws {
        try await database.write { db in
            try db.execute(sql: "UPDATE services SET current_version = ?, desired_instances = ? WHERE name = ?",
                           arguments: [version.rawValue, instances, service.rawValue])
        }
    }

    public func deleteRelease(_ service: ServiceName, _ version: ReleaseVersion) async throws {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM releases WHERE service = ? AND version = ?", arguments: [service.rawValue, version.rawValue])
        }
    }

    public func deleteService(_ name: ServiceName) async throws {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM services WHERE name = ?", arguments: [name.rawValue])
        }
    }

    private static func service(_ row: Row) throws -> ServiceRecord {
        ServiceRecord(
            name: try ServiceName(row["name"]),
            desiredInstances: row["desired_instances"],
            currentVersion: try (row["current_version"] as String?).map { try ReleaseVersion($0) },
            // A resize stored with looser checks than today's reads as none (the releases' own
            // limits), rather than making the whole service unreadable.
            instanceLimits: (row["instance_limits"] as String?).flatMap { try? JSONDecoder.droverAPI.decode(InstanceLimits.self, from: Data($0.utf8)) }
        )
    }

    // MARK: Releases

    public struct ReleaseRecord: Sendable, Equatable {
        public var service: ServiceName
        public var version: ReleaseVersion
        public var sha256: String
        public var size: Int64
        public var kind: String
        public var files: Int
        public var spec: ServiceSpec
        public var unitSHA256: String
        public var createdAt: Date
        /// Its unit's exposure as `systemd-analyze security` scores it (0 safe – 10 unsafe);
        /// nil when it could not be scored (or was recorded before scores were kept).
        public var exposure: Double? = nil
        /// When its release command last succeeded on this host; nil if it never ran (or has none).
        public var releaseCommandAt: Date? = nil
    }

    /// Records a release, creating its service on first upload; the first release of a
    /// service becomes its current one.
    public func addRelease(_ release: ReleaseRecord) async throws {
        let spec = String(decoding: try JSONEncoder.droverAPI.encode(release.spec), as: UTF8.self)
        try await database.write { db in
            try db.execute(sql: """
                INSERT INTO services (name, desired_instances, current_version, created_at) VALUES (?, 0, ?, ?)
                ON CONFLICT(name) DO UPDATE SET current_version = COALESCE(current_version, excluded.current_version)
                """, arguments: [release.service.rawValue, release.version.rawValue, StoredTime.text(release.createdAt)])
            try db.execute(sql: """
                INSERT INTO releases (service, version, sha256, size, kind, files, spec, unit_sha256, created_at, exposure)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [release.service.rawValue, release.version.rawValue, release.sha256, release.size,
                                 release.kind, release.files, spec, release.unitSHA256, StoredTime.text(release.createdAt), release.exposure])
        }
    }

    public func release(_ service: ServiceName, _ version: ReleaseVersion) async throws -> ReleaseRecord? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM releases WHERE service = ? AND version = ?",
                             arguments: [service.rawValue, version.rawValue]).map(Self.release)
        }
    }

    public func releases(of service: ServiceName) async throws -> [ReleaseRecord] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM releases WHERE service = ? ORDER BY created_at, version",
                             arguments: [service.rawValue]).map(Self.release)
        }
    }

    public func allReleases() async throws -> [ReleaseRecord] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM releases ORDER BY service, created_at, version").map(Self.release)
        }
    }

    /// Releases are immutable, so each stored spec is decoded once: every `GET /v1/services`
    /// and scrape reads all releases, and decoding their specs was a sixth of the agent's CPU
    /// under load.
    private static let decodedSpecs = DecodedSpecs()

    private static func release(_ row: Row) throws -> ReleaseRecord {
        let specText: String = row["spec"]
        return ReleaseRecord(
            service: try ServiceName(row["service"]),
            version: try ReleaseVersion(row["version"]),
            sha256: row["sha256"], size: row["size"], kind: row["kind"], files: row["files"],
            spec: try decodedSpecs.spec(of: specText),
            unitSHA256: row["unit_sha256"], createdAt: row.time("created_at"),
            exposure: Double.fromDatabaseValue(row["exposure"] as DatabaseValue).flatMap { (0...10).contains($0) ? $0 : nil },
            releaseCommandAt: (row["release_command_at"] as DatabaseValue).isNull ? nil : row.time("release_command_at")
        )
    }

    /// Notes that the release command of a release succeeded now.
    public func releaseCommandSucceeded(_ service: ServiceName, _ version: ReleaseVersion, at time: Date) async throws {
        try await database.write { db in
            try db.execute(sql: "UPDATE releases SET release_command_at = ? WHERE service = ? AND version = ?",
                           arguments: [StoredTime.text(time), service.rawValue, version.rawValue])
        }
    }

    // MARK: Slots

    /// The port of each slot 1…count, allocating the lowest free ports of `range` to new slots.
    /// Slots keep their port for as long as the service exists.
    public func ports(of service: ServiceName, slots count: Int, range: ClosedRange<Int>) async throws -> [Int: Int] {
        try await database.write { db in
            var ports: [Int: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT slot, port FROM slots WHERE service = ?", arguments: [service.rawValue]) {
                ports[row["slot"]] = row["port"]
            }
            let missing = count > 0 ? (1...count).filter { ports[$0] == nil } : []
            guard !missing.isEmpty else { return ports.filter { $0.key <= count } }
            var used = Set(try Int.fetchAll(db, sql: "SELECT port FROM slots"))
            var candidate = range.lowerBound
            for slot in missing {
                while used.contains(candidate) { candidate += 1 }
                guard candidate <= range.upperBound else {
                    throw PortsExhausted(range: range)
                }
                try db.execute(sql: "INSERT INTO slots (service, slot, port) VALUES (?, ?, ?)",
                               arguments: [service.rawValue, slot, candidate])
                ports[slot] = candidate
                used.insert(candidate)
            }
            return ports.filter { $0.key <= count }
        }
    }

    public func allPorts(of service: ServiceName) async throws -> [Int: Int] {
        try await database.read { db in
            var ports: [Int: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT slot, port FROM slots WHERE service = ?", arguments: [service.rawValue]) {
                ports[row["slot"]] = row["port"]
            }
            return ports
        }
    }

    /// Sets (nil: removes) the service's live resize and logs it, in one transaction.
    public func setInstanceLimits(_ limits: InstanceLimits?, of service: ServiceName, event kind: String, _ message: String) async throws {
        let text = try limits.map { String(decoding: try JSONEncoder.droverAPI.encode($0), as: UTF8.self) }
        let origin = RequestOrigin.current
        try await database.write { db in
            try db.execute(sql: "UPDATE services SET instance_limits = ? WHERE name = ?", arguments: [text, service.rawValue])
            try Self.insertEvent(db, kind, service: service.rawValue, message, origin: origin)
        }
    }

    // MARK: Autoscaling

    /// Sets (or replaces) the service's autoscaling policy and logs it, in one transaction.
    public func setAutoscalePolicy(_ policy: AutoscalePolicy, of service: ServiceName, event message: String) async throws {
        let text = String(decoding: try JSONEncoder.droverAPI.encode(policy), as: UTF8.self)
        let origin = RequestOrigin.current
        try await database.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO autoscale_policies (service, policy, updated_at) VALUES (?, ?, ?)",
                           arguments: [service.rawValue, text, StoredTime.now])
            try Self.insertEvent(db, "autoscale.enabled", service: service.rawValue, message, origin: origin)
        }
    }

    /// Turns autoscaling off and logs why; returns whether it was on.
    public func deleteAutoscalePolicy(of service: ServiceName, because reason: String = "autoscaling turned off; the count stays where it is") async throws -> Bool {
        let origin = RequestOrigin.current
        return try await database.write { db in
            try db.execute(sql: "DELETE FROM autoscale_policies WHERE service = ?", arguments: [service.rawValue])
            guard db.changesCount > 0 else { return false }
            try Self.insertEvent(db, "autoscale.disabled", service: service.rawValue, reason, origin: origin)
            return true
        }
    }

    /// A stored policy as its text and what it decodes to: a row that no longer decodes (a
    /// policy stored by an older agent with looser checks) comes back as its error, so one
    /// bad row never hides the others or stops the agent.
    public struct StoredAutoscalePolicy: Sendable {
        public var service: ServiceName
        public var text: String
        public var policy: Result<AutoscalePolicy, any Error>
    }

    public func autoscalePolicies() async throws -> [StoredAutoscalePolicy] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM autoscale_policies ORDER BY service").compactMap { row in
                // Rows reference services(name), which only holds valid names.
                guard let service = try? ServiceName(row["service"] as String) else { return nil }
                let text: String = row["policy"]
                return StoredAutoscalePolicy(service: service, text: text, policy: Result {
                    try JSONDecoder.droverAPI.decode(AutoscalePolicy.self, from: Data(text.utf8))
                })
            }
        }
    }

    // MARK: Events

    /// Appends to the event log: what happened, to which service, and why.
    public func record(_ kind: String, service: ServiceName?, deployment: String? = nil, _ message: String) async throws {
        // A change made for an API request names its token and client (`RequestOrigin`, read
        // here, in the request's task); the agent's own (a rollout step, a crash seen, an
        // autoscaling decision) names none.
        let origin = RequestOrigin.current
        try await database.write { db in
            try Self.insertEvent(db, kind, service: service?.rawValue, deployment: deployment, message, origin: origin)
        }
    }

    /// The one way an event row is written: with the request's token and client, if any.
    static func insertEvent(_ db: Database, _ kind: String, service: String?, deployment: String? = nil, _ message: String, origin: RequestOrigin?) throws {
        try db.execute(sql: "INSERT INTO events (time, service, kind, message, deployment_id, actor, client) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       arguments: [StoredTime.now, service, kind, message, deployment, origin?.token, origin?.client])
    }

    /// Events oldest first: the last `limit`, or with `after`, the first `limit` newer than that
    /// id (to follow the log without missing or repeating a line).
    public func events(of service: ServiceName?, after: Int64? = nil, limit: Int) async throws -> [EventInfo] {
        try await database.read { db in
            var conditions: [String] = [], arguments: StatementArguments = []
            if let service { conditions.append("service = ?"); arguments += [service.rawValue] }
            if let after { conditions.append("id > ?"); arguments += [after] }
            let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments += [limit]
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM events \(filter) ORDER BY id \(after == nil ? "DESC" : "ASC") LIMIT ?",
                                        arguments: arguments)
            return (after == nil ? rows.reversed() : rows)
                .map(Self.event)
        }
    }

    static func event(_ row: Row) -> EventInfo {
        EventInfo(id: row["id"], time: row.time("time"), service: row["service"], kind: row["kind"], message: row["message"],
                  by: String.fromDatabaseValue(row["actor"] as DatabaseValue), from: String.fromDatabaseValue(row["client"] as DatabaseValue))
    }

    // MARK: Deployments

    public func addDeployment(_ deployment: DeploymentInfo) async throws {
        let strategy = String(decoding: try JSONEncoder.droverAPI.encode(deployment.strategy), as: UTF8.self)
        try await database.write { db in
            try db.execute(sql: """
                INSERT INTO deployments (id, service, from_version, to_version, instances, strategy, state, reason, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [deployment.id, deployment.service.rawValue, deployment.fromVersion?.rawValue, deployment.toVersion.rawValue,
                                 deployment.instances, strategy, deployment.state.rawValue, deployment.reason, StoredTime.text(deployment.createdAt), StoredTime.text(deployment.updatedAt)])
        }
    }


    /// Moves a deployment to `state` and logs why, in one transaction: whoever sees the new
    /// state also finds its event.
    public func transition(_ deployment: DeploymentInfo, to state: DeploymentState, reason: String?, event kind: String, _ message: String) async throws {
        let origin = RequestOrigin.current
        try await database.write { db in
            try db.execute(sql: "UPDATE deployments SET state = ?, reason = COALESCE(?, reason), updated_at = ? WHERE id = ?",
                           arguments: [state.rawValue, reason, StoredTime.now, deployment.id])
            try Self.insertEvent(db, kind, service: deployment.service.rawValue, deployment: deployment.id, "deployment \(deployment.id): \(message)", origin: origin)
        }
    }

    /// Promotes a deployment waiting as a canary: it runs on as an ordinary rollout (its
    /// strategy no longer names a canary, so a restarted agent does not wait again).
    public func promoteCanary(_ deployment: DeploymentInfo, _ message: String) async throws {
        var strategy = deployment.strategy
        strategy.canary = nil
        strategy.autoPromoteSeconds = nil
        let text = String(decoding: try JSONEncoder.droverAPI.encode(strategy), as: UTF8.self)
        let origin = RequestOrigin.current
        try await database.write { db in
            try db.execute(sql: "UPDATE deployments SET state = ?, strategy = ?, updated_at = ? WHERE id = ?",
                           arguments: [DeploymentState.running.rawValue, text, StoredTime.now, deployment.id])
            try Self.insertEvent(db, "deployment.promoted", service: deployment.service.rawValue, deployment: deployment.id, "deployment \(deployment.id): \(message)", origin: origin)
        }
    }

    /// The newest event id of a deployment: now, then every time it changes. A deployment's
    /// state changes with an event in the same transaction, so followers wake on this
    /// instead of polling.
    public func newestEvent(ofDeployment id: String) -> AsyncValueObservation<Int64?> {
        ValueObservation.tracking { db in
            try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM events WHERE deployment_id = ?", arguments: [id])
        }
        .removeDuplicates()
        .values(in: database, bufferingPolicy: .bufferingNewest(1))
    }

    /// Events of one deployment newer than `after`.
    public func events(ofDeployment id: String, service: ServiceName, after: Int64) async throws -> [EventInfo] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM events WHERE deployment_id = ? AND id > ? ORDER BY id", arguments: [id, after])
                .map(Self.event)
        }
    }

    public func deployment(_ id: String) async throws -> DeploymentInfo? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM deployments WHERE id = ?", arguments: [id]).map(Self.deployment)
        }
    }

    /// Deployments a previous run of the agent left running or reverting. One whose record no
    /// longer reads (a strategy stored with looser checks) cannot be resumed: it is marked
    /// failed, with the reason in its record and the event log, and returned as `unreadable`.
    public func unfinishedDeployments() async throws -> (resumable: [DeploymentInfo], unreadable: [(id: String, error: any Error)]) {
        try await database.write { db in
            var resumable: [DeploymentInfo] = [], unreadable: [(id: String, error: any Error)] = []
            for row in try Row.fetchAll(db, sql: "SELECT * FROM deployments WHERE state IN (?, ?, ?) ORDER BY created_at",
                                             arguments: [DeploymentState.running.rawValue, DeploymentState.reverting.rawValue, DeploymentState.canary.rawValue]) {
                do {
                    resumable.append(try Self.deployment(row))
                } catch {
                    let id: String = row["id"]
                    let reason = "the agent restarted and could not read this deployment's stored record to resume it: \(error)"
                    try db.execute(sql: "UPDATE deployments SET state = 'failed', reason = ?, updated_at = ? WHERE id = ?",
                                   arguments: [reason, StoredTime.now, id])
                    try Self.insertEvent(db, "deployment.failed", service: row["service"] as String, deployment: id, "deployment \(id): \(reason)", origin: nil)
                    unreadable.append((id, error))
                }
            }
            return (resumable, unreadable)
        }
    }

    private static func deployment(_ row: Row) throws -> DeploymentInfo {
        let strategy: String = row["strategy"]
        let stateName: String = row["state"]
        guard let state = DeploymentState(rawValue: stateName) else {
            throw SpecError(field: "deployments.state", problem: "is \"\(stateName)\", not a deployment state")
        }
        return DeploymentInfo(
            id: row["id"], service: try ServiceName(row["service"]),
            fromVersion: try (row["from_version"] as String?).map { try ReleaseVersion($0) },
            toVersion: try ReleaseVersion(row["to_version"]), instances: row["instances"],
            strategy: try JSONDecoder.droverAPI.decode(DeploymentStrategy.self, from: Data(strategy.utf8)),
            state: state, reason: row["reason"], createdAt: row.time("created_at"), updatedAt: row.time("updated_at")
        )
    }

    /// A snapshot of every table, for tests that check "nothing changed".
    public func snapshot() async throws -> [String] {
        try await database.read { db in
            var lines: [String] = []
            for table in ["services", "releases", "slots", "autoscale_policies", "deployments", "leases"] {
                for row in try Row.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY 1, 2") { lines.append("\(table): \(row)") }
            }
            return lines
        }
    }
}

/// Every port of the configured range is taken by some slot.
public struct PortsExhausted: Error, CustomStringConvertible {
    public let range: ClosedRange<Int>
    public var description: String {
        "every port of the range \(range.lowerBound)-\(range.upperBound) is taken: widen port_range or scale something down"
    }
}
