import DroverAPI
import DroverCore

/// Any text as a service name, a version, an instance's unit name, a `listen` value and a
/// log cursor: accepted or refused, never a trap; an accepted name and version make unit
/// names that parse back to exactly them.
enum NameFuzzing {
    static func run(_ input: [UInt8]) {
        let fields = input.fields
        let first = fields.first ?? "", second = fields.count > 1 ? fields[1] : "1"
        _ = ListenAddress.problem(in: first)
        _ = LogEntry.isValidCursor(first)
        _ = UnitNames.parseInstance(first)
        guard let service = try? ServiceName(first) else { return }
        require(service.rawValue == first, "ServiceName changed \(first) to \(service.rawValue)")
        guard let version = try? ReleaseVersion(second) else { return }
        let slot = input.count % 1_000 + 1
        let unit = UnitNames.instance(service, version, slot: slot)
        let parsed = UnitNames.parseInstance(unit)
        require(parsed?.service == service && parsed?.version == version && parsed?.slot == slot,
                "\(unit) parses back as \(String(describing: parsed))")
        require(UnitNames.template(service, version).hasSuffix("@.service"), "the template of \(service) \(version) is not a template")
    }
}
