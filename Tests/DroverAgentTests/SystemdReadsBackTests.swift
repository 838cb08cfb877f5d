import DroverCore
import DroverSystemd
import DroverTestbed
import Foundation
import Testing

/// What `UnitRoundTripTests` (DroverCoreTests) proves against a model of systemd's parser, here
/// against systemd itself: units rendered from hostile spec values, in both scopes, are loaded
/// by a real manager, and the `ExecStart` argv and `Environment` it reports are exactly the
/// spec's; in system scope the directive after a hostile sandbox value still stands.
@Suite(.userManager, .timeLimit(.minutes(10)))
struct SystemdReadsBackTests {
    /// Specs with generated values that validation accepts (refused ones are the core tests').
    static func specs(seed: UInt64, count: Int) -> [ServiceSpec] {
        var text = HostileText(seed: seed)
        var specs: [ServiceSpec] = []
        while specs.count < count {
            var spec = ServiceSpec(binary: "bin/web")
            spec.arguments = (0..<5).map { $0 % 2 == 0 ? text.fused() : text.string() }
            for index in 0..<4 { spec.environment["V\(index)"] = index % 2 == 0 ? text.fused() : text.string() }
            spec.sandbox["ProtectHome"] = "read-only" + text.string(maxLength: 3)
            if (try? spec.validate()) != nil { specs.append(spec) }
        }
        // The cases the hostile tester reported, verbatim.
        specs.append(ServiceSpec(binary: "bin/web", arguments: ["x\"\u{0301} extra words", "%\u{0301}h", "a\u{0600}\\"],
                                 environment: ["A": "\u{0600}\" DROVER_VERSION=evil", "B": "\\\u{0301}"]))
        return specs
    }

    @Test(arguments: [Scope.user, .system])
    func systemdReportsExactlyTheSpecsValues(scope: Scope) async throws {
        let bed = try Bed.require()
        let version = try ReleaseVersion("1")
        let specs = Self.specs(seed: scope == .user ? 41 : 42, count: 30)
        var written: [(unit: String, file: String, spec: ServiceSpec)] = []
        defer { for entry in written { unlink(entry.file) } }
        for (index, spec) in specs.enumerated() {
            let service = try ServiceName(uniqueService("rt\(index)"))
            let context = UnitContext(service: service, version: version, scope: scope,
                                      releaseDirectory: "/opt/drover-rt/\(service)", slotDirectory: "/opt/drover-rt/slots")
            let file = bed.manager.unitDirectory + "/" + UnitNames.template(service, version)
            try UnitRenderer.template(for: spec, in: context).write(toFile: file, atomically: true, encoding: .utf8)
            written.append((UnitNames.instance(service, version, slot: 7), file, spec))
        }
        try await bed.systemd.reload()

        for (unit, _, spec) in written {
            let service = try await bed.systemd.properties(of: unit, interface: "org.freedesktop.systemd1.Service")
            let unitProperties = try await bed.systemd.properties(of: unit, interface: "org.freedesktop.systemd1.Unit")
            #expect(unitProperties["LoadState"]?.string == "loaded", "\(unit): \(unitProperties["LoadState"].debugDescription)")
            let command = try #require(service["ExecStart"].flatMap(Self.firstCommand), "\(unit) has no ExecStart")
            let serviceName = String(unit.prefix { $0 != "_" }.dropFirst("drover-".count))
            #expect(command == ["/opt/drover-rt/\(serviceName)/bin/web"] + spec.arguments, "\(unit)")
            let environment = service["Environment"]?.strings ?? []
            let expected = ["DROVER_SERVICE=\(serviceName)", "DROVER_VERSION=1", "DROVER_INSTANCE=7"]
                + spec.environment.map { "\($0.key)=\($0.value)" }
            #expect(environment.sorted() == expected.sorted(), "\(unit)")
            if scope == .system {
                #expect(service["NoNewPrivileges"]?.bool == true, "\(unit): the directive after the sandbox values stands")
            }
        }
    }

    /// `ExecStart` is `a(sasbttttuii)`: the argv of the first command line.
    static func firstCommand(_ value: BusValue) -> [String]? {
        guard case .array(let commands) = value, case .structure(let fields)? = commands.first, fields.count > 1 else { return nil }
        return fields[1].strings
    }
}

extension BusValue {
    /// An `as` property as Swift strings.
    var strings: [String]? {
        guard case .array(let values) = self else { return nil }
        return values.compactMap(\.string)
    }
}
