import DroverCore
import Foundation
import GRDB

/// API tokens: a name, a scope, and the SHA-256 of the token (the token itself is never
/// stored). Written by `drover-agent token` on the host, read by the running agent on every
/// request, so a revocation holds from the next request on.
extension StateStore {
    public struct TokenRecord: Sendable, Equatable {
        public var name: String
        /// nil when the stored text is not a scope this agent knows: such a token grants nothing.
        public var scope: TokenScope?
        public var hash: [UInt8]
        public var createdAt: Date
        public var lastUsedAt: Date?
    }

    /// Adds a token; with `replacing`, one of the same name is replaced (its old token stops
    /// working). Returns false when the name is taken and not replaced.
    public func addToken(name: TokenName, scope: TokenScope, hash: [UInt8], replacing: Bool) async throws -> Bool {
        try await database.write { db in
            if try Row.fetchOne(db, sql: "SELECT name FROM tokens WHERE name = ?", arguments: [name.rawValue]) != nil {
                guard replacing else { return false }
                try db.execute(sql: "DELETE FROM tokens WHERE name = ?", arguments: [name.rawValue])
            }
            try db.execute(sql: "INSERT INTO tokens (name, scope, hash, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [name.rawValue, scope.rawValue, Data(hash), StoredTime.now])
            return true
        }
    }

    /// Removes a token; false when there was none of that name.
    public func revokeToken(_ name: String) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM tokens WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }

    public func tokens() async throws -> [TokenRecord] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tokens ORDER BY name").map(Self.token)
        }
    }

    /// The token whose hash this is, if any.
    public func token(hash: [UInt8]) async throws -> TokenRecord? {
        try await database.read { db in
            // Asked at every request: the statement is prepared once per connection.
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM tokens WHERE hash = ?"), arguments: [Data(hash)]).map(Self.token)
        }
    }

    public func markTokenUsed(_ name: String) async throws {
        try await database.write { db in
            try db.execute(sql: "UPDATE tokens SET last_used_at = ? WHERE name = ?", arguments: [StoredTime.now, name])
        }
    }

    /// A row read without trusting its types: a value of the wrong type reads as absent (a
    /// token that grants nothing) instead of stopping the agent.
    private static func token(_ row: Row) -> TokenRecord {
        func value<T: DatabaseValueConvertible>(_ column: String, as type: T.Type) -> T? {
            T.fromDatabaseValue(row[column] as DatabaseValue)
        }
        return TokenRecord(name: value("name", as: String.self) ?? "", scope: value("scope", as: String.self).flatMap(TokenScope.init(rawValue:)),
                           hash: Array(value("hash", as: Data.self) ?? Data()), createdAt: StoredTime.date(value("created_at", as: String.self)),
                           lastUsedAt: value("last_used_at", as: String.self).map { StoredTime.date($0) })
    }
}
