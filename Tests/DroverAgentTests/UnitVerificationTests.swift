import DroverCore
import DroverTestbed
import Foundation
import Testing

/// Rendered units checked by systemd's own tools: `systemd-analyze verify` accepts them, and
/// the default system-scope sandbox scores at most 2.0 in `systemd-analyze security`.
@Suite struct UnitVerificationTests {
    struct Rendered {
        let directory: String
        let instance: String
    }

    /// Renders a release of the fixture into a temporary unit directory, with real paths.
    func render(_ spec: ServiceSpec, scope: Scope) throws -> Rendered {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("drover-verify-\(UInt32.random(in: 0...UInt32.max))").path
        let service = try ServiceName("web"), version = try ReleaseVersion("1.0")
        for directory in ["units", "release/bin", "slots"] {
            try FileManager.default.createDirectory(atPath: root + "/" + directory, withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(atPath: fixturePath, toPath: root + "/release/" + spec.binary)
        try "PORT=20001\n".write(toFile: root + "/slots/1.env", atomically: true, encoding: .utf8)
        let context = UnitContext(service: service, version: version, scope: scope,
                                  releaseDirectory: root + "/release", slotDirectory: root + "/slots")
        try UnitRenderer.template(for: spec, in: context)
            .write(toFile: root + "/units/" + UnitNames.template(service, version), atomically: true, encoding: .utf8)
        try UnitRenderer.slice(for: spec, service: service)
            .write(toFile: root + "/units/" + UnitNames.slice(service), atomically: true, encoding: .utf8)
        return Rendered(directory: root, instance: root + "/units/" + UnitNames.instance(service, version, slot: 1))
    }

    func run(_ arguments: [String], runtimeDirectory: String? = nil) async throws -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("drover-analyze-\(UUID().uuidString)").path
        defer { unlink(log) }
        var environment = ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "SYSTEMD_COLORS": "0"]
        if let runtimeDirectory { environment["XDG_RUNTIME_DIR"] = runtimeDirectory }
        let child = try ChildProcess.spawn("/usr/bin/systemd-analyze", arguments, environment: environment, output: log)
        let status = await child.wait()
        return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    static let specs: [ServiceSpec] = [
        ServiceSpec(binary: "bin/web"),
        ServiceSpec(binary: "bin/web", arguments: ["--print", "a \"quoted\" 100% ${PORT}"],
                    environment: ["MODE": "prod", "PATH_LIKE": "/a:/b", "WEIRD": "50% \\ \"q\""],
                    type: .notify, watchdogSeconds: 10,
                    resources: .init(cpuPercent: 50, memoryBytes: 128 << 20, serviceCPUPercent: 200, serviceMemoryBytes: 1 << 30),
                    sandbox: ["MemoryDenyWriteExecute": nil, "ReadWritePaths": "/tmp"]),
    ]

    @Test(arguments: specs)
    func systemdAcceptsTheRenderedUnits(_ spec: ServiceSpec) async throws {
        for scope in [Scope.system, .user] {
            let rendered = try render(spec, scope: scope)
            defer { try? FileManager.default.removeItem(atPath: rendered.directory) }
            // --user wants a runtime directory, as a user session would have.
            let runtime = rendered.directory + "/run"
            try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let result = try await run((scope == .user ? ["--user"] : []) + ["verify", "--man=no", rendered.instance],
                                       runtimeDirectory: runtime)
            #expect(result.status == 0, "systemd-analyze verify (\(scope)): \(result.output)")
            #expect(result.output.isEmpty, "no warnings (\(scope)): \(result.output)")
        }
    }

    @Test func theDefaultSandboxScoresAtMostTwo() async throws {
        let rendered = try render(ServiceSpec(binary: "bin/web"), scope: .system)
        defer { try? FileManager.default.removeItem(atPath: rendered.directory) }
        let result = try await run(["security", "--offline=yes", "--no-pager", rendered.instance])
        let line = try #require(result.output.split(separator: "\n").first { $0.contains("Overall exposure level") },
                                "no score in: \(result.output.suffix(500))")
        let score = try #require(exposure(in: line), "\(line)")
        #expect(score <= 2.0, "\(line)")
    }

    @Test func aRelaxedSandboxScoresWorseSoTheScoreMeasuresIt() async throws {
        let relaxed = ServiceSpec(binary: "bin/web", sandbox: Dictionary(uniqueKeysWithValues: Sandbox.defaults.map { ($0.directive, nil) }))
        let rendered = try render(relaxed, scope: .system)
        defer { try? FileManager.default.removeItem(atPath: rendered.directory) }
        let result = try await run(["security", "--offline=yes", "--no-pager", rendered.instance])
        let line = try #require(result.output.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let score = try #require(exposure(in: line), "\(line)")
        #expect(score > 5.0, "\(line)")
    }
}

/// The number in "→ Overall exposure level for x.service: 1.2 OK :-)".
func exposure(in line: Substring) -> Double? {
    guard let separator = line.range(of: ": ") else { return nil }
    let number = line[separator.upperBound...].prefix { $0.isNumber || $0 == "." }
    return Double(number)
}

extension ServiceSpec: CustomTestStringConvertible {
    public var testDescription: String { arguments.isEmpty ? "minimal spec" : "full spec" }
}
