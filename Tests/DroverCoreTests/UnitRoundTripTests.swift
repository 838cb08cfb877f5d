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

    /// The value a generated sandbox change is refused for, if any, is the backslash or the edge
    /// white space: never silently written.
    func check(_ unit: String, renders spec: ServiceSpec, scope: Scope) throws {
        let reader = try SystemdUnitReader(unit)
        // ExecStart: the executable and exactly the arguments.
        let execStart = reader.values("ExecStart")
        try #require(execStart.count == 1, "one ExecStart= line: \(execStart)")
        let words = try SystemdUnitReader.words(execStart[0], instance: "7")
        #expect(words == [Self.releaseDirectory + "/" + spec.binary] + spec.arguments)
        // Environment: Drover's own four names, then exactly the spec's, nothing more.
        let environment = try reader.values("Environment").flatMap { try SystemdUnitReader.words($0, instance: "7") }
        let expected = ["DROVER_SERVICE=web", "DROVER_VERSION=1.0", "DROVER_INSTANCE=7"]
            + spec.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        #expect(environment == expected)
        // Every directive the renderer meant is there, once per value, and nothing else.
        let lines = unit.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.hasPrefix("[") && $0.contains("=") }
        #expect(reader.settings.count == lines.count, "a value swallowed or added a directive")
        if scope == .system {
            for (directive, value) in Sandbox.directives(applying: spec.sandbox) {
                let read = try reader.values(directive).map { try SystemdUnitReader.expandSpecifiers($0, instance: "7") }
                #expect(read.contains(value), "\(directive)=\(value) reads back as \(read)")
            }
            #expect(reader.values("NoNewPrivileges") == ["yes"])
        } else {
            #expect(reader.values("NoNewPrivileges") == ["yes"])
        }
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
