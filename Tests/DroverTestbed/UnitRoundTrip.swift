import DroverCore

/// The property every rendered template must have, shared by `UnitRoundTripTests` and the
/// `unit` fuzz target: read back as systemd reads it (`SystemdUnitReader`), the unit gives
/// exactly the spec's executable, arguments, environment and sandbox values, and no value
/// added, removed or swallowed a directive.
public enum UnitRoundTrip {
    /// What does not hold, empty when all does. `instance` is the `%i` the words are read with.
    public static func problems(in unit: String, renders spec: ServiceSpec, scope: Scope, service: ServiceName,
                                version: ReleaseVersion, releaseDirectory: String, instance: String = "7") -> [String] {
        do {
            var problems: [String] = []
            let reader = try SystemdUnitReader(unit)
            let execStart = reader.values("ExecStart")
            guard execStart.count == 1 else { return ["one ExecStart= line: \(execStart)"] }
            let words = try SystemdUnitReader.words(execStart[0], instance: instance)
            if words != [releaseDirectory + "/" + spec.binary] + spec.arguments {
                problems.append("ExecStart= reads back as \(words)")
            }
            // Drover's own names, then exactly the spec's, nothing more.
            let environment = try reader.values("Environment").flatMap { try SystemdUnitReader.words($0, instance: instance) }
            let expected = ["DROVER_SERVICE=\(service)", "DROVER_VERSION=\(version)", "DROVER_INSTANCE=\(instance)"]
                + spec.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            if environment != expected { problems.append("Environment= reads back as \(environment)") }
            // By Unicode scalars: a value starting with a combining mark fuses with the '='
            // into one Character, which a Character-based count would not see as a setting.
            let lines = unit.unicodeScalars.split(separator: "\n")
                .filter { $0.first != "#" && $0.first != "[" && $0.contains("=") }
            if reader.settings.count != lines.count { problems.append("a value swallowed or added a directive") }
            if scope == .system {
                for (directive, value) in Sandbox.directives(applying: spec.sandbox) {
                    let read = try reader.values(directive).map { try SystemdUnitReader.expandSpecifiers($0, instance: instance) }
                    if !read.contains(value) { problems.append("\(directive)=\(value) reads back as \(read)") }
                }
            }
            if reader.values("NoNewPrivileges") != ["yes"] { problems.append("NoNewPrivileges= is not yes") }
            return problems
        } catch {
            return ["systemd would not read it: \(error)"]
        }
    }
}
