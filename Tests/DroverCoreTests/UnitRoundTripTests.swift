import DroverCore
import DroverTestbed
import Testing

/// For any spec value that validation accepts, the rendered unit, read back as systemd reads
/// it (`SystemdUnitReader`), gives exactly that value, in both scopes; and no value can add,
/// remove or swallow a directive. Values validation refuses are refused before rendering.
@Suite struct UnitRoundTripTests {
    static let service = try! ServiceName("web")
    static let version = try! ReleaseVersion("1.0")
    static let releaseDirectory = "/var/lib/drover/services/web/releases/1.0"

    func context(_ scope: Scope) -> UnitContext {
        UnitContext(service: Self.service, version: Self.version, scope: scope,
                    releaseDirectory: Self.releaseDirectory, slotDirectory: "/var/lib/drover/services/web/slots")
    }

    /// A spec full of generated values: arguments, environment values, and (system scope)
    /// sandbox values, some of them refused.
    func hostileSpec(_ text: inout HostileText) -> ServiceSpec {
        var spec = ServiceSpec(binary: "bin/web")
        spec.arguments = (0..<Int.random(in: 0...6, using: &text)).map { index in
            index % 3 == 0 ? text.fused() : text.string(refusedChance: 20)
        }
        for index in 0..<Int.random(in: 0...6, using: &text) {
            spec.environment["VAR_\(index)"] = index % 2 == 0 ? text.fused() : text.string(refusedChance: 20)
        }
        if Bool.random(using: &text) {
            spec.sandbox["ReadWritePaths"] = "/srv/" + text.string(maxLength: 6, refusedChance: 50)
        }
        if Int.random(in: 0..<4, using: &text) == 0 {
            spec.sandbox["ProtectHome"] = "read-only" + text.fused()
        }
        return spec
    }

    @Test(arguments: [Scope.user, .system])
    func everyAcceptedValueReadsBackExactly(scope: Scope) throws {
        var text = HostileText(seed: scope == .user ? 0xD20 : 0x5157)
        var accepted = 0, refused = 0
        for _ in 0..<1_500 {
            let spec = hostileSpec(&text)
            let unit: String
            do {
                unit = try UnitRenderer.template(for: spec, in: context(scope))
            } catch {
                refused += 1
                #expect(throws: SpecError.self) { try spec.validate() }
                continue
            }
            accepted += 1
            try check(unit, renders: spec, scope: scope)
        }
        // Both branches must really be exercised, or the property says nothing.
        #expect(accepted > 300 && refused > 100, "accepted \(accepted), refused \(refused)")
    }

    func check(_ unit: String, renders spec: ServiceSpec, scope: Scope) throws {
        let problems = UnitRoundTrip.problems(in: unit, renders: spec, scope: scope, service: Self.service, version: Self.version,
                                              releaseDirectory: Self.releaseDirectory)
        #expect(problems.isEmpty, "\(problems)")
    }

    /// The reported cases, one by one: a quote, backslash or `%` fused with a mark.
    @Test(arguments: [
        "x\"\u{0301} DROVER_VERSION=evil", "\u{0600}\" B=2", "%\u{0301}h", "\\\u{0301}", "a\u{0600}\\", "50%\u{0301}",
        "\u{0301}\"\u{0301}\"\u{0301}", "\u{1F600}\"\u{1F600}", "$HOME \"${PORT}\"",
    ])
    func fusedMarksCannotHideAQuoteBackslashOrSpecifier(_ value: String) throws {
        let spec = ServiceSpec(binary: "bin/web", arguments: [value, "next"], environment: ["A": value, "B": "b"])
        for scope in [Scope.user, .system] {
            try check(try UnitRenderer.template(for: spec, in: context(scope)), renders: spec, scope: scope)
        }
    }

    @Test(arguments: ["read-only\\\u{0301}", "read-only\u{0600}\\", "yes\\", " yes", "yes\u{00A0}", "a\u{0301}\n", "a" + String(Unicode.Scalar(UInt32(0xFFFF))!)])
    func sandboxValuesThatWouldChangeOtherLinesAreRefused(_ value: String) {
        let spec = ServiceSpec(binary: "web", sandbox: ["ProtectHome": value])
        #expect(throws: SpecError.self) { try spec.validate() }
    }
}
