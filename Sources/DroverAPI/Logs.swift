import DroverCore
import Foundation

/// `GET /v1/services/{svc}/logs`: one journal line of one instance (NDJSON, one per line).
public struct LogEntry: Codable, Sendable, Equatable {
    public var time: Date
    public var slot: Int
    public var version: ReleaseVersion
    /// syslog priority: 0 (emerg) … 7 (debug).
    public var priority: Int
    public var message: String
    public var unit: String

    public init(time: Date, slot: Int, version: ReleaseVersion, priority: Int, message: String, unit: String) {
        self.time = time
        self.slot = slot
        self.version = version
        self.priority = priority
        self.message = message
        self.unit = unit
    }
}
