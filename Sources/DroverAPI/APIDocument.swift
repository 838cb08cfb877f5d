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
        var document = try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        for path in [["ScaleRequest", "properties", "instances"], ["DeploymentRequest", "properties", "instances"],
                     ["AutoscalePolicy", "properties", "min"], ["AutoscalePolicy", "properties", "max"], ["Strategy", "properties", "canary"]] {
            document[path: ["components", "schemas"] + path + ["maximum"]] = .integer(Int64(maxInstances))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(document)
    }
}
