extension KeyedDecodingContainer {
    /// Decodes a number and refuses it unless it lies in `range`: a value out of range never
    /// gets past decoding. The refusal is a `SpecError` naming the field (a bad value, not a
    /// malformed body), so the API answers with the route's own error code.
    public func decode<T: Decodable & Comparable & Sendable>(_ type: T.Type, forKey key: Key, in range: ClosedRange<T>) throws -> T {
        let value = try decode(type, forKey: key)
        guard range.contains(value) else {
            let field = (codingPath + [key]).map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            throw SpecError(field: field, problem: "must be between \(range.lowerBound) and \(range.upperBound), not \(value)")
        }
        return value
    }

    /// `decode(_:forKey:in:)` for an optional field: absent or null is nil, present is checked.
    public func decodeIfPresent<T: Decodable & Comparable & Sendable>(_ type: T.Type, forKey key: Key, in range: ClosedRange<T>) throws -> T? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        return try decode(type, forKey: key, in: range)
    }
}
