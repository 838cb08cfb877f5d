import Foundation

/// Which methods each path of the API takes, as `openapi.json` lists them: for answering a
/// method a path does not take with 405 and `Allow` (RFC 9110), where the router alone would
/// say 404 as if the path did not exist.
public struct APIRoutes: Sendable {
    private struct Route: Sendable {
        /// Literal segments, or nil for a `{parameter}`.
        let segments: [String?]
        let methods: [String]
    }

    private let routes: [Route]
    /// Every method some route takes.
    public let allMethods: Set<String>

    public init(document: [UInt8] = APIDocument.bytes) {
        let paths = ((try? JSONSerialization.jsonObject(with: Data(document))) as? [String: Any])?["paths"] as? [String: Any] ?? [:]
        routes = paths.map { path, item in
            let methods = ((item as? [String: Any]) ?? [:]).keys
                .filter { ["get", "put", "post", "delete", "patch", "head", "options"].contains($0) }
                .map { $0.uppercased() }.sorted()
            let segments = path.split(separator: "/").map { $0.hasPrefix("{") ? nil : String($0) }
            return Route(segments: segments, methods: methods)
        }
        allMethods = Set(routes.flatMap(\.methods))
    }

    /// The methods `path` takes, or nil when no route has that path.
    public func methods(for path: String) -> [String]? {
        let segments = path.split(separator: "/")
        let matching = routes.filter { route in
            route.segments.count == segments.count && zip(route.segments, segments).allSatisfy { $0 == nil || $0! == $1 }
        }
        guard !matching.isEmpty else { return nil }
        return Set(matching.flatMap(\.methods)).sorted()
    }
}
