import DroverClient
import Foundation

/// One host's part of a command's JSON answer: its name, and either what it said or why not.
struct HostReport<Value: Encodable>: Encodable {
    let host: String
    let reachable: Bool
    /// Why not, when the host did not answer as asked: `unreachable`, `denied` (the token) or
    /// `failed` (the agent's own error).
    let failure: AgentClientError.Category?
    let error: String?
    let value: Value?

    init(_ host: String, _ result: Result<Value, AgentClientError>) {
        self.host = host
        switch result {
        case .success(let value): (reachable, failure, error, self.value) = (true, nil, nil, value)
        case .failure(let failed): (reachable, failure, error, self.value) = (!failed.isUnreachable, failed.category, failed.message, nil)
        }
    }
}
