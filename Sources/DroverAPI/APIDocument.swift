import Foundation

/// The API's OpenAPI document (`openapi.json`, compiled in). The agent serves it with its own
/// host's limits filled in, so a client or a schema-driven test reads the ranges this agent
/// really enforces rather than the widest any agent could be configured to.
public enum APIDocument {
    /// The document as written: `max_instances` at its widest (`Bounds.instances`).
    public static var bytes: [UInt8] { PackageResources.openapi_json }

    /// The document with `maxInstances` as the maximum of every instance count a request
    /// carries (scale, deployment, autoscale bounds).
    public static func withLimits(maxInstances: Int) throws -> Data {
        guard var document = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw CocoaError(.propertyListReadCorrupt)
        }
        for path in [["ScaleRequest", "properties", "instances"], ["DeploymentRequest", "properties", "instances"],
                     ["AutoscalePolicy", "properties", "min"], ["AutoscalePolicy", "properties", "max"]] {
            document[path: ["components", "schemas"] + path + ["maximum"]] = maxInstances
        }
        return try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])
    }
}

private extension Dictionary where Key == String, Value == Any {
    /// A value at a path of nested objects; setting it where the path is missing does nothing.
    subscript(path path: [String]) -> Any? {
        get {
            guard let first = path.first else { return nil }
            if path.count == 1 { return self[first] }
            return (self[first] as? [String: Any])?[path: Array(path.dropFirst())]
        }
        set {
            guard let first = path.first else { return }
            if path.count == 1 { self[first] = newValue; return }
            guard var child = self[first] as? [String: Any] else { return }
            child[path: Array(path.dropFirst())] = newValue
            self[first] = child
        }
    }
}
