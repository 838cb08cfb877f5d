/// Any JSON value, for editing a document without a schema (the OpenAPI document's limits).
/// Read and written with the API's own JSON coders: Foundation's `JSONSerialization` sorts
/// keys with locale-aware collation, which loads ICU's collation data into every agent.
public enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null
        } else if let value = try? container.decode(Bool.self) { self = .bool(value)
        } else if let value = try? container.decode(Int64.self) { self = .integer(value)
        } else if let value = try? container.decode(Double.self) { self = .number(value)
        } else if let value = try? container.decode(String.self) { self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) { self = .array(value)
        } else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The value at a path of nested objects; setting it where the path is missing does nothing.
    public subscript(path path: [String]) -> JSONValue? {
        get {
            guard let first = path.first, case .object(let members) = self else { return nil }
            return path.count == 1 ? members[first] : members[first]?[path: Array(path.dropFirst())]
        }
        set {
            guard let first = path.first, case .object(var members) = self else { return }
            if path.count == 1 {
                members[first] = newValue
            } else {
                guard var child = members[first] else { return }
                child[path: Array(path.dropFirst())] = newValue
                members[first] = child
            }
            self = .object(members)
        }
    }
}
