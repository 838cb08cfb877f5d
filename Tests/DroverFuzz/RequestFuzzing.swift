import DroverAPI
import DroverCore
@testable import DroverAgent
import Foundation

/// Any bytes as what the agent decodes from a request, the first byte choosing which: the
/// `Drover-Spec`, `Drover-Secrets` and `Content-Digest` headers, and each JSON body. A
/// refusal is a thrown error, never a trap; and what is accepted can be stored and read back
/// to the same value that validates again, so no stored record can stop the agent.
enum RequestFuzzing {
    static let service = try! ServiceName("web")

    static func run(_ input: [UInt8]) {
        guard let selector = input.first else { return }
        let payload = Array(input.dropFirst())
        let decoder = JSONDecoder.droverAPI
        switch selector % 10 {
        case 0:
            guard let spec = try? ReleaseInstaller.spec(fromHeader: payload.text, service: service) else { return }
            storedAndReadBack(spec) { try $0.validate() }
        case 1:
            let spec = ServiceSpec(binary: "web", secrets: ["DB_PASSWORD": SecretDigest.of(service: service, name: "DB_PASSWORD", value: Array("s3cret".utf8))])
            _ = try? ReleaseInstaller.secrets(fromHeader: payload.text, spec: spec, service: service, confidential: true)
        case 2:
            if let digest = try? ContentDigest.sha256(fromHeader: payload.text) { require(digest.count == 32, "a digest of \(digest.count) bytes") }
        case 3:
            if let spec = try? decoder.decode(ServiceSpec.self, from: Data(payload)), (try? spec.validate()) != nil {
                storedAndReadBack(spec) { try $0.validate() }
            }
        case 4: if let value = try? decoder.decode(AutoscalePolicy.self, from: Data(payload)) { storedAndReadBack(value) }
        case 5: if let value = try? decoder.decode(InstanceLimits.self, from: Data(payload)) { storedAndReadBack(value) }
        case 6: if let value = try? decoder.decode(DeploymentStrategy.self, from: Data(payload)) { storedAndReadBack(value) }
        case 7: if let value = try? decoder.decode(DeploymentRequest.self, from: Data(payload)) { storedAndReadBack(value) }
        case 8:
            _ = try? decoder.decode(ScaleRequest.self, from: Data(payload))
            _ = try? decoder.decode(RollbackRequest.self, from: Data(payload))
        default:
            _ = try? decoder.decode(LeaseRequest.self, from: Data(payload))
            _ = try? decoder.decode(RunRequest.self, from: Data(payload))
        }
    }

    /// Encoded as the store encodes it and decoded as the store reads it, `value` comes back
    /// equal and (for a spec) valid.
    static func storedAndReadBack<T: Codable & Equatable>(_ value: T, check: (T) throws -> Void = { _ in }) {
        do {
            let stored = try JSONEncoder.droverAPI.encode(value)
            let read = try JSONDecoder.droverAPI.decode(T.self, from: stored)
            require(read == value, "\(T.self) read back differently: \(value) → \(read)")
            try check(read)
        } catch {
            require(false, "an accepted \(T.self) cannot be stored and read back: \(error) — \(value)")
        }
    }
}
