import DroverTOML
import Testing

/// A table header whose name does not start as TOML allows is refused with its line, before
/// toml++ (which assumes it does, and crashed on `[.environment]`) is given it; everything
/// that only looks like a header (inside a multi-line array or string, or a comment) is not.
@Suite struct TOMLHeaderTests {
    @Test(arguments: [("[.environment]\nA = \"1\"\n", 1), ("a = 1\n\n[\u{00E9}]\n", 3), ("[ !x]\n", 1), ("x = 1\n[[.a]]\n", 2),
                      ("[\u{FFFD}environment]\n", 1), ("a = \"\"\"\n[x\n\"\"\"\n[{]\n", 4),
                      ("a = \"\"\"\\\nb\n\"\"\"\n[.x]\n", 4), ("a = \"open\nb = 1\n[.x]\n", 3)])
    func aBadHeaderIsRefusedWithItsLine(_ text: String, line: Int) {
        let error = #expect(throws: InputError.self) { try TOMLReader.parse(text, file: "deploy/web.toml") }
        #expect(error?.line == line, "\(String(describing: error))")
        #expect(error?.problem.contains("table header") == true)
    }

    @Test func whatOnlyLooksLikeAHeaderIsLeftToTOML() throws {
        let text = """
            # [.not a header]
            arguments = [
              [1, 2],
              [ "x" ],
              [.5],
            ]
            note = \"\"\"
            [.inside a string]
            \"\"\"
            literal = '''
            [!also inside]
            '''
            ["quoted table"]
            a = 1
            [[servers]]
            b = "[.x]"
            [ spaced ]
            """
        // Refused or not by toml++ itself, but never by the header check.
        do {
            _ = try TOMLReader.parse(text, file: "deploy/web.toml")
        } catch {
            #expect(!error.problem.contains("table header"), "\(error)")
        }
    }
}
