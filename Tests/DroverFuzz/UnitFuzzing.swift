import DroverCore
import DroverTestbed

/// Any values as a spec's binary, arguments, environment (names and values) and sandbox
/// settings, rendered in both scopes: a spec the renderer refuses is one validation refuses,
/// and a rendered unit, read back with the model of systemd's parser, gives exactly the
/// spec's values, with no directive added, removed or swallowed.
enum UnitFuzzing {
    static let service = try! ServiceName("web")
    static let version = try! ReleaseVersion("1.0")
    static let releaseDirectory = "/var/lib/drover/services/web/releases/1.0"
    /// Sandbox settings a manifest may change, each given fuzzed values in turn.
    static let sandboxKeys = ["ReadWritePaths", "ProtectHome", "PrivateNetwork", "MemoryDenyWriteExecute", "ReadOnlyPaths"]

    static func run(_ input: [UInt8]) {
        let fields = input.fields
        guard let binary = fields.first else { return }
        var spec = ServiceSpec(binary: binary.isEmpty ? "web" : binary)
        for (index, field) in fields.dropFirst().enumerated() {
            switch index % 4 {
            case 0: spec.arguments.append(field)
            case 1: spec.environment["VAR_\(index)"] = field
            case 2: spec.environment[field] = "value"
            default: spec.sandbox[sandboxKeys[index / 4 % sandboxKeys.count]] = field
            }
        }
        for scope in [Scope.user, .system] {
            let context = UnitContext(service: service, version: version, scope: scope,
                                      releaseDirectory: releaseDirectory, slotDirectory: "/var/lib/drover/services/web/slots")
            let unit: String
            do {
                unit = try UnitRenderer.template(for: spec, in: context)
            } catch {
                require((try? spec.validate()) == nil, "rendering refused a spec validation accepts: \(error)")
                continue
            }
            let problems = UnitRoundTrip.problems(in: unit, renders: spec, scope: scope, service: service, version: version,
                                                  releaseDirectory: releaseDirectory)
            require(problems.isEmpty, "\(problems) in\n\(unit)")
        }
    }
}
