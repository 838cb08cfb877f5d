import DroverCore
@testable import DroverCLI
import Testing

/// The plan's spec differences: key by key, a secret by name only.
@Suite struct SpecDiffTests {
    @Test func keysChangedAndSecretsByNameOnly() throws {
        var old = ServiceSpec(binary: "web", arguments: ["--a"], environment: ["A": "1", "B": "2"])
        old.secrets = ["KEEP": String(repeating: "a", count: 32), "ROTATE": String(repeating: "b", count: 32), "DROP": String(repeating: "c", count: 32)]
        var new = old
        new.arguments = ["--a", "--b"]
        new.environment = ["A": "1", "C": "3"]
        new.resources.memoryBytes = 1 << 30
        new.secrets = ["KEEP": String(repeating: "a", count: 32), "ROTATE": String(repeating: "d", count: 32), "ADD": String(repeating: "e", count: 32)]
        let changes = SpecDiff.between(old, new)
        let plain: [String] = changes.filter { $0.secret == nil }.map { (change: SpecDiff.Change) -> String in
            change.key + " " + (change.from ?? "-") + " " + (change.to ?? "-")
        }
        #expect(plain == [#"arguments ["--a"] ["--a","--b"]"#, #"environment.B "2" -"#, #"environment.C - "3""#, "resources.memoryBytes - 1073741824"])
        let secrets: [String] = changes.compactMap { (change: SpecDiff.Change) -> String? in change.secret.map { change.key + " " + $0 } }
        #expect(secrets == ["secrets.ADD added", "secrets.DROP removed", "secrets.KEEP unchanged", "secrets.ROTATE changed"])
        #expect(!changes.contains { ($0.from ?? "").contains("aaaa") || ($0.to ?? "").contains("dddd") }, "no digest shown")
        let none: [SpecDiff.Change] = SpecDiff.between(new, new).filter(\.changed)
        #expect(none.isEmpty)
        let first: [SpecDiff.Change] = SpecDiff.between(nil, ServiceSpec(binary: "web"))
        #expect(first.contains { $0.key == "binary" && $0.from == nil && $0.to == "\"web\"" })
    }
}
