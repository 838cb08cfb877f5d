import Foundation

/// How exposed a release's unit is, scored by `systemd-analyze security --offline=true` on
/// the rendered file itself: the same scale (0 safe – 10 unsafe) and the same checks an
/// operator sees, rather than a model of them that could drift from systemd's.
struct UnitExposure: Sendable, Equatable {
    let score: Double
    /// The failed checks, heaviest first (`PrivateNetwork=`, `User=/DynamicUser=`, …).
    let failed: [String]

    static let executable = "/usr/bin/systemd-analyze"

    /// Scores `text` as the unit `name`, written into `directory` for the time of the run.
    /// nil when systemd-analyze is not there or gives no score. Blocking: the I/O pool.
    static func score(unit text: String, name: String, in directory: String) -> UnitExposure? {
        guard FileManager.default.isExecutableFile(atPath: executable) else { return nil }
        let path = directory + "/" + name
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else { return nil }
        defer { unlink(path) }
        guard let result = try? Subprocess.run([executable, "security", "--offline=true", "--no-pager", path]) else { return nil }
        return parse(result.output)
    }

    /// Reads systemd-analyze's table: "→ Overall exposure level for NAME: 4.9 OK", and the
    /// "✗ Check  description  weight" lines.
    static func parse(_ output: String) -> UnitExposure? {
        var failed: [(String, Double)] = []
        var score: Double?
        for line in output.split(separator: "\n") {
            if line.contains("Overall exposure level for"), let colon = line.range(of: ": ", options: .backwards) {
                score = line[colon.upperBound...].split(separator: " ").first.flatMap { Double($0) }
            } else if line.hasPrefix("✗") {
                let fields = line.dropFirst().split(separator: " ", omittingEmptySubsequences: true)
                if let check = fields.first, let weight = fields.last.flatMap({ Double($0) }) { failed.append((String(check), weight)) }
            }
        }
        guard let score, score.isFinite, (0...10).contains(score) else { return nil }
        return UnitExposure(score: score, failed: failed.sorted { $0.1 > $1.1 }.map(\.0))
    }
}
