import Crypto
import DroverAgent
import Foundation

/// Reads an agent's store from the test process (SQLite in WAL mode allows that).
enum DroverAgentStore {
    static func open(_ stateDirectory: String) async throws -> [String] {
        try await StateStore(path: stateDirectory + "/state.sqlite").snapshot()
    }
}

enum SHA256Digest {
    static func of(_ data: Data) -> [UInt8] { Array(SHA256.hash(data: data)) }
}
