import DroverAPI
import Foundation

/// Why a call to an agent failed: the agent could not be reached, it answered with an error
/// (its `{"error": {code, message}}` kept as sent), or its answer made no sense.
public struct AgentClientError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// No answer: refused, reset, no route, or no answer within the timeout.
        case unreachable
        /// The agent answered with an error status.
        case agent(status: Int, code: String)
        /// The answer was not what the API promises.
        case invalidResponse
        /// TLS refused the host: its certificate is not the one the inventory pins, or not
        /// signed by the inventory's CA. Nothing was sent to it.
        case untrusted
    }

    public let kind: Kind
    /// The agent's name in the inventory (or its address).
    public let host: String
    public let message: String
    /// The agent had answered, and a stream it was sending broke off (it stopped or
    /// restarted mid-stream): worth resuming, unlike a host that never answered.
    public let afterAnswer: Bool

    public init(_ kind: Kind, host: String, message: String, afterAnswer: Bool = false) {
        self.kind = kind
        self.host = host
        self.message = message
        self.afterAnswer = afterAnswer
    }

    /// What a person needs to tell apart about a host that did not do what was asked.
    public enum Category: String, Sendable, Codable {
        /// No answer: refused, no route, or silence.
        case unreachable
        /// The agent answered, and refused the token (401, 403).
        case denied
        /// The agent answered with an error of its own, or nonsense.
        case failed
        /// The host's certificate does not match its pin (or CA): nothing was sent.
        case untrusted
    }

    public var category: Category {
        switch kind {
        case .unreachable: .unreachable
        case .agent(let status, _) where status == 401 || status == 403: .denied
        case .agent, .invalidResponse: .failed
        case .untrusted: .untrusted
        }
    }

    public var isUnreachable: Bool { kind == .unreachable }

    /// The agent's error code, when it sent one.
    public var code: String? {
        if case .agent(_, let code) = kind { return code }
        return nil
    }

    public var description: String {
        switch kind {
        case .unreachable: "\(host): unreachable: \(message)"
        case .agent(let status, let code) where category == .denied: "\(host): denied: \(message) (\(status) \(code))"
        case .agent(let status, let code): "\(host): \(message) (\(status) \(code))"
        case .invalidResponse: "\(host): unexpected answer: \(message)"
        case .untrusted: "\(host): untrusted: \(message)"
        }
    }
}
