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
    }

    public let kind: Kind
    /// The agent's name in the inventory (or its address).
    public let host: String
    public let message: String

    public init(_ kind: Kind, host: String, message: String) {
        self.kind = kind
        self.host = host
        self.message = message
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
        case .agent(let status, let code): "\(host): \(message) (\(status) \(code))"
        case .invalidResponse: "\(host): unexpected answer: \(message)"
        }
    }
}
