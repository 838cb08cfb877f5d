import Crypto
import DroverCore
import Foundation
import Logging
import Synchronization

/// The agent's API tokens, as requests meet them: each presented token is hashed and looked up
/// in the store (so `drover-agent token revoke` holds from the next request), checked for
/// its scope, and a client address that keeps presenting wrong tokens is made to wait.
public final class AgentTokens: Sendable {
    let store: StateStore
    private let state: Mutex<State>

    private struct State {
        var limiter: AuthFailureLimiter
        /// When each token's last use was last written: at most once a minute per token.
        var lastMarked: [String: ContinuousClock.Instant] = [:]
    }

    public enum Outcome: Sendable, Equatable {
        case allowed(name: String, scope: TokenScope)
        /// No token, or not one of this agent's (unknown, revoked, or stored unreadably).
        case refused
        /// This client address failed too often lately: its token is not even looked at.
        case wait(Duration)
    }

    public init(store: StateStore, limiter: AuthFailureLimiter = AuthFailureLimiter()) {
        self.store = store
        state = Mutex(State(limiter: limiter))
    }

    /// Checks a presented token for a request from `client`.
    public func authenticate(_ presented: String?, client: String) async throws -> Outcome {
        let now = ContinuousClock.now
        if let wait = state.withLock({ $0.limiter.retryAfter(client, now: now) }) { return .wait(wait) }
        // No token at all is not a guess: it is refused without counting against the address.
        guard let presented else { return .refused }
        let hash = Self.hash(presented)
        let record = try await store.token(hash: hash)
        guard let record, let scope = record.scope, !presented.isEmpty, Self.constantTimeEqual(record.hash, hash) else {
            state.withLock { $0.limiter.recordFailure(client, now: now) }
            return .refused
        }
        let mark = state.withLock { state -> Bool in
            state.limiter.recordSuccess(client)
            if let last = state.lastMarked[record.name], now - last < .seconds(60) { return false }
            state.lastMarked[record.name] = now
            return true
        }
        if mark { try? await store.markTokenUsed(record.name) }
        return .allowed(name: record.name, scope: scope)
    }

    /// A new token: 256 random bits, hex, with a prefix that says what it is when it turns up
    /// somewhere it should not (a log, a paste).
    public static func generate() -> String {
        var random = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        var token = "drover_"
        for _ in 0..<32 {
            let byte = UInt8.random(in: 0...255, using: &random)
            token.append(digits[Int(byte >> 4)])
            token.append(digits[Int(byte & 0xF)])
        }
        return token
    }

    /// What is stored for a token: its SHA-256 (of 256 random bits, so no salt or slow hash
    /// is needed: there is nothing to guess from it).
    public static func hash(_ token: String) -> [UInt8] { Array(SHA256.hash(data: Array(token.utf8))) }

    /// Whether two digests are equal, in a time that depends on their lengths only.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// Moves a plain token file of an earlier version (or one an operator wrote) into the
    /// store, as the `admin` token `install`, and deletes the file: no plain token stays on disk.
    /// A file that cannot be used is left where it is, with an error in the log; the agent
    /// starts all the same (with the tokens it has).
    static func migrateTokenFile(at path: String, into store: StateStore, logger: Logger) async throws {
        // A start-up read of one small file, on the I/O pool like every other.
        let read: (exists: Bool, text: String?) = try await blockingIO {
            (FileManager.default.fileExists(atPath: path), try? String(contentsOfFile: path, encoding: .utf8))
        }
        guard read.exists else { return }
        guard let text = read.text else {
            logger.error("cannot read the token file; it is left as it is", metadata: ["file": "\(path)"])
            return
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.utf8.count >= 16, token.utf8.count <= 4096 else {
            logger.error("the token in the token file is not 16 to 4096 characters long: not used; delete it, and make tokens with `drover-agent token add NAME --scope admin`",
                         metadata: ["file": "\(path)"])
            return
        }
        let hash = Self.hash(token)
        if try await store.token(hash: hash) == nil {
            let taken = Set(try await store.tokens().map(\.name))
            let name = (["install"] + (2...1000).map { "install-\($0)" }).first { !taken.contains($0) } ?? "install-\(UUID().uuidString.prefix(8))"
            _ = try await store.addToken(name: try TokenName(name), scope: .admin, hash: hash, replacing: false)
            logger.notice("moved the plain token file into the store as the admin token '\(name)', kept as a hash; the file is deleted",
                          metadata: ["file": "\(path)"])
        }
        let removed = try await blockingIO { unlink(path) == 0 ? 0 : errno }
        guard removed == 0 else {
            logger.error("cannot delete the token file after moving it into the store: delete it by hand", metadata: ["file": "\(path)", "errno": "\(removed)"])
            return
        }
    }
}
