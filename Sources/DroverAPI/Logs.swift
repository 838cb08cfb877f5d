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
    /// Where this line is in the host's journal: a follow given it as `after` goes on from the
    /// next line (how a client resumes once a restarted agent is back).
    public var cursor: String?

    /// What a journal cursor may be made of, wherever one comes from outside.
    public static let cursorPattern = "^[A-Za-z0-9=;_-]{1,512}$"

    public static func isValidCursor(_ text: some StringProtocol) -> Bool {
        (1...512).contains(text.utf8.count) && text.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A)
                || $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: ";") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }

    public init(time: Date, slot: Int, version: ReleaseVersion, priority: Int, message: String, unit: String, cursor: String? = nil) {
        self.time = time
        self.slot = slot
        self.version = version
        self.priority = priority
        self.message = message
        self.unit = unit
        self.cursor = cursor
    }
}
