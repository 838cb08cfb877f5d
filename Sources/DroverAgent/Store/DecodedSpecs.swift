import DroverAPI
import DroverCore
import Foundation
import Synchronization

/// Stored spec texts and what they decode to, so that reading all releases does not decode
/// the same immutable JSON again at every request. Keyed by the text itself (a spec differing
/// in a byte is another entry); bounded, emptied when full.
final class DecodedSpecs: Sendable {
    static let capacity = 4_096
    private let specs = Mutex<[String: ServiceSpec]>([:])

    func spec(of text: String) throws -> ServiceSpec {
        if let spec = specs.withLock({ $0[text] }) { return spec }
        let spec = try JSONDecoder.droverAPI.decode(ServiceSpec.self, from: Data(text.utf8))
        specs.withLock { specs in
            if specs.count >= Self.capacity { specs.removeAll(keepingCapacity: true) }
            specs[text] = spec
        }
        return spec
    }
}
