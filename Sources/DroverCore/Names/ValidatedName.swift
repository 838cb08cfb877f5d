/// A string that is checked once, when made, and is then safe to use in unit names, paths
/// and URLs. It encodes as the plain string and decoding re-validates it, so a bad name in a
/// JSON body fails to decode with the same `NameError` a person would see anywhere else.
public protocol ValidatedName: Hashable, Sendable, Codable, CustomStringConvertible {
    var rawValue: String { get }
    init(_ rawValue: String) throws(NameError)
}

extension ValidatedName {
    public var description: String { rawValue }

    public init(from decoder: Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
