import DroverCore
import Testing

/// A one-off run's unit: the instance template's environment and sandbox, its own command,
/// port, limit and output; and where its first word is found.
@Suite struct OneOffUnitTests {
    let web = try! ServiceName("web")
    let v1 = try! ReleaseVersion("1.0")

    var context: UnitContext {
        UnitContext(service: web, version: v1, scope: .system, releaseDirectory: "/var/lib/drover/services/web/releases/1.0",
                    slotDirectory: "/var/lib/drover/services/web/slots", secretsDirectory: "/var/lib/drover/secrets/web")
    }

    @Test func aRunHasTheInstancesEnvironmentAndSandboxButItsOwnCommand() throws {
        var spec = ServiceSpec(binary: "web", environment: ["MODE": "prod"], type: .notify, listen: "0.0.0.0:8080")
        spec.secrets = ["DB": String(repeating: "a", count: 32)]
        spec.resources = .init(memoryBytes: 256 << 20)
        let run = UnitRenderer.OneOffRun(id: "abc123", command: ["./web", "migrate", "%h"], port: 40001, timeoutSeconds: 90,
                                         outputPath: "/var/lib/drover/runs/abc123.out")
        let unit = try UnitRenderer.oneOff(for: spec, in: context, run: run)
        let template = try UnitRenderer.template(for: spec, in: context)
        #expect(unit.contains("\nExecStart=\"/var/lib/drover/services/web/releases/1.0/web\" \"migrate\" \"%%h\"\n"))
        #expect(unit.contains("\nType=exec\n") && unit.contains("\nRemainAfterExit=yes\n") && unit.contains("\nRestart=no\n"))
        #expect(unit.contains("\"PORT=40001\"") && unit.contains("\"DROVER_INSTANCE=run-abc123\""))
        #expect(unit.contains("\nRuntimeMaxSec=90\n") && unit.contains("\nStandardOutput=file:/var/lib/drover/runs/abc123.out\n"))
        #expect(!unit.contains("Sockets=") && !unit.contains("EnvironmentFile=") && !unit.contains("WatchdogSec") && !unit.contains("NotifyAccess"))
        // Everything else of the instances' unit is the same: environment, secrets, limits, sandbox.
        for line in template.split(separator: "\n") where line.hasPrefix("Environment=\"MODE") || line.hasPrefix("LoadCredentialEncrypted=")
            || line.hasPrefix("MemoryMax=") || line.hasPrefix("Slice=") || line.hasPrefix("DynamicUser=") || line.hasPrefix("ProtectSystem=")
            || line.hasPrefix("SystemCallFilter=") || line.hasPrefix("NoNewPrivileges=") || line.hasPrefix("WorkingDirectory=") {
            #expect(unit.contains("\n\(line)\n"), "\(line)")
        }
    }

    @Test func theFirstWordIsInsideTheReleaseUnlessAbsoluteOrBare() throws {
        let root = "/r"
        #expect(try OneOffCommand.executable("./web", releaseDirectory: root) == "/r/web")
        #expect(try OneOffCommand.executable("././bin/task", releaseDirectory: root) == "/r/bin/task")
        #expect(try OneOffCommand.executable("/bin/sh", releaseDirectory: root) == "/bin/sh")
        #expect(try OneOffCommand.executable("env", releaseDirectory: root) == "env")
        for escaping in ["../x", "./a/../../x", "bin//x", "./"] {
            #expect(throws: SpecError.self, "\(escaping)") { try OneOffCommand.executable(escaping, releaseDirectory: root) }
        }
        #expect(throws: SpecError.self) { try OneOffCommand.validate([], field: "command") }
        #expect(throws: SpecError.self) { try OneOffCommand.validate(["/bin/echo", "a\nExecStartPre=/bin/evil"], field: "command") }
        #expect(throws: SpecError.self) { try OneOffCommand.validate([""], field: "command") }
    }
}
