/// A decoded D-Bus value. Properties come as variants of many types; decoding them into one
/// enum lets callers read any property without a hand-written reader per signature.
public enum BusValue: Sendable, Hashable {
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    /// `s`, `o` (object path) and `g` (signature).
    case string(String)
    /// `ay`, kept as bytes (e.g. `InvocationID`).
    case bytes([UInt8])
    case array([BusValue])
    /// A struct `(…)` or a dict entry `{…}`.
    case structure([BusValue])

    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// Any unsigned integer; `nil` for other types.
    public var uint64: UInt64? {
        switch self {
        case .uint(let value): return value
        case .int(let value) where value >= 0: return UInt64(value)
        default: return nil
        }
    }

    /// Any integer that fits; `nil` for other types.
    public var int64: Int64? {
        switch self {
        case .int(let value): return value
        case .uint(let value): return Int64(exactly: value)
        default: return nil
        }
    }

    public var bytes: [UInt8]? {
        if case .bytes(let value) = self { return value }
        return nil
    }

    public var array: [BusValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// An `a{sv}` (or any array of two-field entries keyed by strings) as a dictionary.
    public var dictionary: [String: BusValue]? {
        guard case .array(let entries) = self else { return nil }
        var result: [String: BusValue] = [:]
        for entry in entries {
            guard case .structure(let fields) = entry, fields.count == 2, let key = fields[0].string else {
                return nil
            }
            result[key] = fields[1]
        }
        return result
    }
}
