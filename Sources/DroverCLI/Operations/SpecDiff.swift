import DroverAPI
import DroverCore
import Foundation

/// What a deploy would change in a service's spec, key by key, for `drover deploy --dry-run`.
/// Pure: two specs in, changes out. A secret appears by name only (added, removed, changed,
/// unchanged): its digest is never shown, let alone its value.
enum SpecDiff {
    struct Change: Encodable, Sendable, Equatable {
        /// Dotted: `environment.MODE`, `resources.memoryBytes`, `secrets.DB_PASSWORD`.
        var key: String
        /// The values as JSON text; nil where the key is absent (or is a secret).
        var from: String?
        var to: String?
        /// For secrets: `added`, `removed`, `changed`, `unchanged`.
        var secret: String?
        var changed: Bool { secret != "unchanged" }
    }

    /// The changes from `old` (nil: the host has no release of the service) to `new`.
    static func between(_ old: ServiceSpec?, _ new: ServiceSpec) -> [Change] {
        let before = old.map(flatten) ?? [:], after = flatten(new)
        var changes: [Change] = []
        for key in Set(before.keys).union(after.keys).sorted() where !key.hasPrefix("secrets.") && before[key] != after[key] {
            changes.append(Change(key: key, from: before[key], to: after[key]))
        }
        for name in Set(old?.secrets.keys.map { $0 } ?? []).union(new.secrets.keys).sorted() {
            let state = switch (old?.secrets[name], new.secrets[name]) {
            case (nil, _?): "added"
            case (_?, nil): "removed"
            case let (a?, b?): a == b ? "unchanged" : "changed"
            case (nil, nil): "unchanged"
            }
            changes.append(Change(key: "secrets.\(name)", secret: state))
        }
        return changes
    }

    /// Every leaf of the spec's JSON form by dotted key; arrays stay whole (`arguments`).
    private static func flatten(_ spec: ServiceSpec) -> [String: String] {
        guard let data = try? JSONEncoder.droverAPI.encode(spec),
              let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else { return [:] }
        var leaves: [String: String] = [:]
        func walk(_ value: Any, _ key: String) {
            if let dictionary = value as? [String: Any], !dictionary.isEmpty {
                for (name, inner) in dictionary { walk(inner, key.isEmpty ? name : key + "." + name) }
            } else if value is [String: Any] {
                return  // an empty table is no setting
            } else {
                leaves[key] = text(value)
            }
        }
        walk(object, "")
        return leaves
    }

    private static func text(_ value: Any) -> String {
        if value is NSNull { return "null" }
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes]) else { return "\(value)" }
        return String(decoding: data, as: UTF8.self)
    }
}
