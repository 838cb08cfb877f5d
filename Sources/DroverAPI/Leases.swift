import DroverCore
import Foundation

/// `PUT /v1/services/{svc}/lease`: take (or renew, with the same `id`) the service's lease on
/// this host, so that two operators never change one service at once (`kamal lock`). While it
/// is held, deploys, rollbacks, promotions and scaling of the service must carry its id
/// (`Drover-Lease`), or are refused with 409 `leased`.
public struct LeaseRequest: Codable, Sendable, Equatable {
    /// Chosen by the holder (12 to 64 letters, digits, '-'), and the same for every renewal.
    public var id: String
    /// Who holds it, in words: `alice@laptop`.
    public var holder: String
    /// What for: `deploy`, `rollback`, `promote`, `scale`, `lock`…
    public var operation: String
    public var message: String?
    /// How long it holds without a renewal (5 s to a day); nil: until released (`drover lock`).
    public var ttlSeconds: Int?
    /// Take it even though someone else holds it (recorded as `lease.broken`).
    public var force: Bool?

    public static let ttlRange = 5...86_400

    private enum CodingKeys: String, CodingKey {
        case id, holder, operation, message, ttlSeconds, force
    }

    public init(id: String, holder: String, operation: String, message: String? = nil, ttlSeconds: Int? = nil, force: Bool? = nil) {
        self.id = id
        self.holder = holder
        self.operation = operation
        self.message = message
        self.ttlSeconds = ttlSeconds
        self.force = force
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        guard (12...64).contains(id.utf8.count), id.utf8.allSatisfy({ (0x61...0x7A).contains($0) || (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) || $0 == UInt8(ascii: "-") }) else {
            throw DecodingError.dataCorruptedError(forKey: .id, in: c, debugDescription: "id must be 12 to 64 letters, digits and '-'")
        }
        holder = try Self.text(c, .holder, maxBytes: 256, required: true) ?? ""
        operation = try Self.text(c, .operation, maxBytes: 64, required: true) ?? ""
        message = try Self.text(c, .message, maxBytes: 1024, required: false)
        ttlSeconds = try c.decodeIfPresent(Int.self, forKey: .ttlSeconds)
        if let ttlSeconds, !Self.ttlRange.contains(ttlSeconds) {
            throw DecodingError.dataCorruptedError(forKey: .ttlSeconds, in: c, debugDescription: "ttlSeconds must be from 5 to 86400")
        }
        force = try c.decodeIfPresent(Bool.self, forKey: .force)
    }

    /// One line of printable text, shown to other operators as it is.
    private static func text(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys, maxBytes: Int, required: Bool) throws -> String? {
        guard let value = try required ? c.decode(String.self, forKey: key) : c.decodeIfPresent(String.self, forKey: key) else { return nil }
        guard !(required && value.isEmpty), value.utf8.count <= maxBytes,
              value.unicodeScalars.allSatisfy({ !$0.properties.generalCategory.isControlOrFormat }) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "\(key.stringValue) must be one line of printable text of at most \(maxBytes) bytes")
        }
        return value
    }
}

/// A service's lease on one host, as `GET …/lease` and a refusal show it.
public struct LeaseInfo: Codable, Sendable, Equatable {
    public var service: ServiceName
    public var id: String
    public var holder: String
    public var operation: String
    public var message: String?
    /// The token that took it.
    public var by: String?
    public var since: Date
    /// When it lapses without a renewal; nil: held until released.
    public var expiresAt: Date?

    public init(service: ServiceName, id: String, holder: String, operation: String, message: String?, by: String?, since: Date, expiresAt: Date?) {
        self.service = service
        self.id = id
        self.holder = holder
        self.operation = operation
        self.message = message
        self.by = by
        self.since = since
        self.expiresAt = expiresAt
    }

    /// "web is being deployed by alice@laptop since 2026-12-07T13:50:00Z: fix login".
    public var sentence: String {
        let doing = switch operation {
        case "deploy": "being deployed"
        case "rollback": "being rolled back"
        case "promote": "being promoted"
        case "abort": "having its canary aborted"
        case "scale": "being scaled"
        case "lock": "locked"
        default: "held for \(operation)"
        }
        return "\(service) is \(doing) by \(holder) since \(ISO8601DateFormatter().string(from: since))" + (message.map { ": \($0)" } ?? "")
    }
}

extension Unicode.GeneralCategory {
    fileprivate var isControlOrFormat: Bool {
        switch self {
        case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .unassigned, .privateUse: true
        default: false
        }
    }
}
