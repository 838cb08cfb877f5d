/// What a token may do. Each scope includes the one below it: `read` sees (status, logs,
/// history, metrics), `deploy` also changes what runs (upload, deploy, rollback, scale,
/// autoscale, limits), `admin` also deletes services and manages tokens.
public enum TokenScope: String, Sendable, Codable, CaseIterable, Comparable {
    case read, deploy, admin

    public static func < (lhs: TokenScope, rhs: TokenScope) -> Bool { lhs.rank < rhs.rank }

    private var rank: Int {
        switch self {
        case .read: 0
        case .deploy: 1
        case .admin: 2
        }
    }

    /// Whether a token of this scope may make a request that needs `needed`.
    public func allows(_ needed: TokenScope) -> Bool { needed <= self }

    /// The scope a request to the agent's API needs: reading needs `read`; deleting a service
    /// needs `admin`; every other change needs `deploy`. Decided from the method and the path
    /// alone, before any handler runs, so a route added later falls under `deploy` at least.
    public static func needed(method: String, path: String) -> TokenScope {
        if method == "GET" || method == "HEAD" { return .read }
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        if method == "DELETE", segments.count == 3, segments[0] == "v1", segments[1] == "services" { return .admin }
        if segments.count >= 2, segments[0] == "v1", segments[1] == "tokens" { return .admin }
        return .deploy
    }
}

/// A token's name: what history shows as who made a change. Letters, digits, `-`, `_`, `.`,
/// 1 to 64 of them, starting with a letter or digit.
public struct TokenName: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String

    public init(_ text: String) throws(NameError) {
        let bytes = Array(text.utf8)
        guard (1...64).contains(bytes.count), let first = bytes.first, Self.isAlphanumeric(first),
              bytes.allSatisfy({ Self.isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") })
        else {
            throw NameError(kind: "token name", value: text, rule: "1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit")
        }
        rawValue = text
    }

    public var description: String { rawValue }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }
}
