import DroverClient
import Foundation

/// One host's part of a command's JSON answer: its name, and either what it said or why not.
struct HostReport<Value: Encodable>: Encodable {
    let host: String
    let reachable: Bool
    let error: String?
    let value: Value?

    init(_ host: String, _ result: Result<Value, AgentClientError>) {
        self.host = host
        switch result {
        case .success(let value): (reachable, error, self.value) = (true, nil, value)
        case .failure(let failure): (reachable, error, self.value) = (!failure.isUnreachable, failure.message, nil)
        }
    }
}
