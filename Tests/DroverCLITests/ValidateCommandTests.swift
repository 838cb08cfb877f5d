import DroverCLI
import Foundation
import Synchronization
import Testing

/// `drover validate`, run in-process on a directory of files: exit 2 and the file, line and
/// key on stderr for every manifest and inventory mistake; exit 0 and nothing on stderr for
/// good files.
@Suite struct ValidateCommandTests {
    static let inventory = "[hosts.a]\naddress = \"127.0.0.1\"\ntoken_env = \"DROVER_TEST_TOKEN\"\n"

    /// Runs `drover ARGUMENTS` against a fresh deploy directory holding `files`.
    func run(_ files: [String: String], _ arguments: [String]) async throws -> (code: Int32, stdout: String, stderr: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("drover-validate-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (name, text) in files { try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8) }
        let output = Mutex(("", ""))
        let terminal = Terminal(isTTY: false, colors: false) { toError, text in
            output.withLock { if toError { $0.1 += text } else { $0.0 += text } }
        }
        let code = await Drover.run(arguments + ["--deploy-dir", directory], terminal: terminal)
        let (stdout, stderr) = output.withLock { $0 }
        return (code, stdout, stderr.replacingOccurrences(of: directory + "/", with: "deploy/"))
    }

    @Test(arguments: ManifestTests.mistakes.map(\.0))
    func everyManifestMistakeExitsTwoNamingFileAndLine(_ name: String) async throws {
        let (_, text, line, _, words) = try #require(ManifestTests.mistakes.first { $0.0 == name })
        let result = try await run(["hosts.toml": Self.inventory, "web.toml": text], ["validate"])
        #expect(result.code == 2, "\(result)")
        #expect(result.stderr.contains("deploy/web.toml" + (line.map { ":\($0):" } ?? ":")) && result.stderr.contains(words), "\(result.stderr)")
    }

    @Test(arguments: InventoryTests.mistakes.map(\.0))
    func everyInventoryMistakeExitsTwoNamingFileAndLine(_ name: String) async throws {
        let (_, text, line, words) = try #require(InventoryTests.mistakes.first { $0.0 == name })
        let result = try await run(["hosts.toml": text], ["validate"])
        #expect(result.code == 2, "\(result)")
        #expect(result.stderr.contains("deploy/hosts.toml" + (line.map { ":\($0):" } ?? ":")) && result.stderr.contains(words), "\(result.stderr)")
    }

    @Test(arguments: ["hosts", "deploy", "rollback", "scale", "autoscale", "status", "logs", "history", "releases", "validate"])
    func everyHelpEndsWithAnExample(_ command: String) async throws {
        let result = try await run([:], [command, "--help"])
        #expect(result.code == 0, "\(result)")
        let lines = result.stdout.split(separator: "\n")
        let example = try #require(lines.lastIndex { $0.hasPrefix("Example:") }, "\(result.stdout)")
        #expect(lines[(example + 1)...].allSatisfy { $0.hasPrefix("  drover ") }, "the example is last: \(result.stdout)")
    }

    @Test func goodFilesPass() async throws {
        let result = try await run(["hosts.toml": Self.inventory, "web.toml": "artifact = \"web\"\n"], ["validate", "--json"])
        #expect(result.code == 0 && result.stderr.isEmpty, "\(result)")
        #expect(result.stdout.contains("\"web\""))
    }
}
