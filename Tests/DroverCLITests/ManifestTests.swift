import DroverAPI
import DroverCLI
import DroverCore
import DroverTOML
import Foundation
import Testing

@Suite struct ManifestTests {
    static let full = """
        # The web service.
        artifact = "build/web"
        build = "make web"
        binary = "bin/web"
        arguments = ["--port", "${PORT}"]
        type = "notify"
        listen = "0.0.0.0:8080"
        instances = 3
        hosts = ["web"]
        start_timeout = "90s"
        stop_timeout = "10s"
        stop_signal = "SIGQUIT"
        watchdog = "5s"

        [environment]
        MODE = "production"

        [health]
        path = "/healthz"
        timeout = "500ms"

        [restart]
        mode = "always"
        delay = "2s"
        burst = 10
        interval = "5m"

        [resources]
        cpu = "50%"
        memory = "512M"
        service_cpu = 200
        service_memory = "2G"

        [sandbox]
        MemoryDenyWriteExecute = false
        ReadWritePaths = "/var/cache/web"

        [rollout]
        max_surge = 2
        max_unavailable = 1
        min_healthy = "3s"
        deadline = "2m"
        batch = 2
        auto_revert = false

        [autoscale]
        min = 2
        max = 10
        cpu = "75%"
        memory = "400M"
        interval = "10s"
        scale_down_stabilization = "5m"
        """

    @Test func everyKeyMapsToTheSpecAndTheRollout() throws {
        let manifest = try Manifest.parse(Self.full, file: "deploy/web.toml")
        #expect(manifest.service.rawValue == "web")
        #expect(manifest.artifact == "build/web" && manifest.build == "make web")
        #expect(manifest.instances == 3 && manifest.hosts == ["web"])
        let spec = manifest.spec
        #expect(spec.binary == "bin/web" && spec.arguments == ["--port", "${PORT}"] && spec.type == .notify)
        #expect(spec.listen == "0.0.0.0:8080")
        #expect(spec.startTimeoutSeconds == 90 && spec.stopTimeoutSeconds == 10 && spec.watchdogSeconds == 5 && spec.stopSignal == "SIGQUIT")
        #expect(spec.environment == ["MODE": "production"])
        #expect(spec.health == ServiceSpec.HealthCheck(path: "/healthz", timeoutSeconds: 0.5))
        #expect(spec.restart == ServiceSpec.RestartPolicy(mode: "always", delaySeconds: 2, burst: 10, intervalSeconds: 300))
        #expect(spec.resources == ServiceSpec.Resources(cpuPercent: 50, memoryBytes: 512 << 20, serviceCPUPercent: 200, serviceMemoryBytes: 2 << 30))
        #expect(spec.sandbox["MemoryDenyWriteExecute"] == .some(nil))
        #expect(spec.sandbox["ReadWritePaths"] == .some("/var/cache/web"))
        #expect(manifest.rollout.batch == 2)
        let strategy = manifest.rollout.strategy
        #expect(strategy.maxSurge == 2 && strategy.maxUnavailable == 1 && strategy.minHealthySeconds == 3 && strategy.deadlineSeconds == 120)
        #expect(strategy.autoRevert == false)
        let policy = try #require(manifest.autoscale)
        #expect(policy.min == 2 && policy.max == 10 && policy.cpu == 0.75 && policy.memoryBytes == 400 << 20)
        #expect(policy.interval == .seconds(10) && policy.scaleDownStabilization == .seconds(300))
    }

    @Test func aStopSignalMayBeNamedWithOrWithoutSIG() throws {
        #expect(try Manifest.parse("artifact = \"web\"\nstop_signal = \"quit\"\n", file: "deploy/web.toml").spec.stopSignal == "SIGQUIT")
    }

    @Test func aMinimalManifestTakesDefaults() throws {
        let manifest = try Manifest.parse("artifact = \"web\"\n", file: "deploy/web.toml")
        #expect(manifest.spec == ServiceSpec(binary: "web"))
        #expect(manifest.instances == 1 && manifest.hosts == ["all"] && manifest.rollout.batch == 1 && manifest.autoscale == nil)
    }

    /// Each mistake: the text, and the line and key the error must name.
    static let mistakes: [(String, String, Int?, String?, String)] = [
        ("typo", "artifact = \"web\"\ninstnaces = 2\n", 2, "instnaces", "did you mean 'instances'?"),
        ("typo in a table", "artifact = \"web\"\n\n[rollout]\nmax_surge = 1\nmax_surg = 2\n", 5, "rollout.max_surg", "did you mean 'max_surge'?"),
        ("unknown table", "artifact = \"web\"\n[rolout]\nbatch = 1\n", 2, "rolout", "did you mean 'rollout'?"),
        ("wrong type", "artifact = \"web\"\ninstances = \"three\"\n", 2, "instances", "whole number"),
        ("out of range", "artifact = \"web\"\ninstances = 20000\n", 2, "instances", "between 0 and 10000"),
        ("bad duration", "artifact = \"web\"\n[rollout]\ndeadline = \"soon\"\n", 3, "rollout.deadline", "not a duration"),
        ("duration out of range", "artifact = \"web\"\nstart_timeout = \"2h\"\n", 2, "start_timeout", "between"),
        ("bad size", "artifact = \"web\"\n[resources]\nmemory = \"lots\"\n", 3, "resources.memory", "not a size"),
        ("size too small", "artifact = \"web\"\n[resources]\nmemory = \"1K\"\n", 3, "resources.memory", "between"),
        ("bad percent", "artifact = \"web\"\n[resources]\ncpu = \"half\"\n", 3, "resources.cpu", "share of one CPU"),
        ("percent beyond any Int", "artifact = \"web\"\n[resources]\ncpu = \"1e300%\"\n", 3, "resources.cpu", "share of one CPU"),
        ("autoscale share beyond range", "artifact = \"web\"\n[autoscale]\nmin = 1\nmax = 2\ncpu = \"1e300%\"\n", 5, "autoscale.cpu", "cores"),
        ("no artifact", "instances = 2\n", nil, nil, "missing 'artifact'"),
        ("tarball without binary", "artifact = \"web.tar.gz\"\n", nil, nil, "missing 'binary'"),
        ("bad type", "artifact = \"web\"\n\ntype = \"forking\"\n", 3, "type", "\"simple\" or \"notify\""),
        ("stop signal nothing drains on", "artifact = \"web\"\nstop_signal = \"KILL\"\n", 2, "stop_signal", "SIGQUIT"),
        ("listen systemd refuses", "artifact = \"web\"\nlisten = \"localhost:80\"\n", 2, "listen", "not an IPv4 address"),
        ("environment not a string", "artifact = \"web\"\n[environment]\nPORTS = 8080\n", 3, "environment.PORTS", "must be a string"),
        ("reserved environment", "artifact = \"web\"\n[environment]\nPORT = \"1\"\n", 3, "environment.PORT", "set by Drover"),
        ("argument with a newline", "artifact = \"web\"\narguments = [\"a\\nb\"]\n", 2, "arguments", "newline"),
        ("sandbox not a string", "artifact = \"web\"\n[sandbox]\nProtectHome = 1\n", 3, "sandbox.ProtectHome", "string"),
        ("unknown sandbox directive", "artifact = \"web\"\n[sandbox]\nExecStartPre = \"/bin/sh\"\n", 3, "sandbox.ExecStartPre", "not a sandbox directive"),
        ("health without path", "artifact = \"web\"\n[health]\ntimeout = \"1s\"\n", 2, "health", "needs 'path'"),
        ("no surge, no unavailability", "artifact = \"web\"\n[rollout]\nmax_surge = 0\nmax_unavailable = 0\n", 3, "rollout.max_surge", "at least 1"),
        ("deadline not over min_healthy", "artifact = \"web\"\n[rollout]\nmin_healthy = \"10s\"\ndeadline = \"5s\"\n", 4, "rollout.deadline", "longer"),
        ("autoscale min above max", "artifact = \"web\"\n[autoscale]\nmin = 5\nmax = 2\ncpu = 0.5\n", 3, "autoscale.min", "above"),
        ("autoscale without target", "artifact = \"web\"\n[autoscale]\nmin = 1\nmax = 2\n", 2, "autoscale", "needs a target"),
        ("autoscale cpu out of range", "artifact = \"web\"\n[autoscale]\nmin = 1\nmax = 2\ncpu = 1e-9\n", 5, "autoscale.cpu", "cores"),
        ("autoscale typo", "artifact = \"web\"\n[autoscale]\nmin = 1\nmax = 2\ncpu = 0.5\nintervall = \"5s\"\n", 6, "autoscale.intervall", "did you mean 'interval'?"),
        ("not TOML", "artifact = \"web\"\ninstances = = 2\n", 2, nil, "not valid TOML"),
        ("restart mode", "artifact = \"web\"\n[restart]\nmode = \"sometimes\"\n", 3, "restart.mode", "on-failure"),
        ("a secret's value in the manifest", "artifact = \"web\"\n[secrets]\nDB_PASSWORD = \"hunter2\"\n", 3, "secrets.DB_PASSWORD", "never written in a manifest"),
        ("a secret from nowhere", "artifact = \"web\"\n[secrets]\nDB = { }\n", 3, "secrets.DB", "needs one of 'file'"),
        ("a secret from two places", "artifact = \"web\"\n[secrets]\nDB = { file = \"a\", env = \"B\" }\n", 3, "secrets.DB", "needs one of 'file'"),
        ("a secret name that is not a credential name", "artifact = \"web\"\n[secrets]\n\"db/password\" = { env = \"X\" }\n", 3, "secrets.db/password", "letters, digits and '_'"),
        ("string key in a multi-line array is not a key", "artifact = \"web\"\narguments = [\n  \"a = b\",\n]\nbogus = 1\n", 5, "bogus", "unknown key"),
    ]

    @Test func secretsAreNamedBySourceAndReachTheSpecAsDigestsOnly() throws {
        let directory = NSTemporaryDirectory() + "drover-manifest-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/secrets", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "hunter2".write(toFile: directory + "/secrets/db", atomically: true, encoding: .utf8)
        let manifest = try Manifest.parse("artifact = \"web\"\n[secrets]\nDB_PASSWORD = { file = \"secrets/db\" }\nHOME_PATH = { env = \"HOME\" }\n", file: "deploy/web.toml")
        #expect(manifest.secrets == ["DB_PASSWORD": .file("secrets/db"), "HOME_PATH": .environment("HOME")])
        #expect(manifest.spec.secrets.isEmpty, "no digest before the values are read")
        let (spec, values) = try manifest.resolvingSecrets(repository: directory)
        #expect(values["DB_PASSWORD"] == Array("hunter2".utf8))
        #expect(spec.secrets["DB_PASSWORD"] == SecretDigest.of(service: manifest.service, name: "DB_PASSWORD", value: Array("hunter2".utf8)))
        #expect(spec.secrets["DB_PASSWORD"]?.count == 32)
        let json = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
        #expect(!json.contains("hunter2") && json.contains("DB_PASSWORD"))
        let missing = try #require(throws: InputError.self) { try manifest.resolvingSecrets(repository: directory + "/nowhere") }
        #expect(missing.description.contains("cannot read the secret DB_PASSWORD") && !missing.description.contains("hunter2"))
    }

    @Test(arguments: mistakes.map(\.0))
    func mistakesNameFileLineAndKey(_ name: String) throws {
        let (_, text, line, key, words) = try #require(Self.mistakes.first { $0.0 == name })
        let error = try #require(throws: InputError.self) { try Manifest.parse(text, file: "deploy/web.toml") }
        #expect(error.file == "deploy/web.toml")
        #expect(error.line == line, "\(error)")
        #expect(error.key == key, "\(error)")
        #expect(error.description.contains(words), "\(error)")
        #expect(error.description.hasPrefix("deploy/web.toml" + (line.map { ":\($0)" } ?? "") + ": "), "\(error)")
    }

    @Test func theTyposMessageReadsAsDocumented() throws {
        let error = try #require(throws: InputError.self) { try Manifest.parse("artifact = \"web\"\n\n\n\n\n\ninstnaces = 2\n", file: "deploy/web.toml") }
        #expect(error.description == "deploy/web.toml:7: unknown key 'instnaces' (did you mean 'instances'?)")
    }

    /// The commented examples the repository ships are valid, and say what they claim.
    @Test func theShippedExamplesParse() throws {
        let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../deploy").standardized.path
        let manifest = try Manifest.parse(try String(contentsOfFile: deploy + "/example.toml", encoding: .utf8), file: "deploy/example.toml")
        #expect(manifest.service.rawValue == "example" && manifest.build != nil && manifest.spec.listen == "0.0.0.0:8080")
        let inventory = try Inventory.parse(try String(contentsOfFile: deploy + "/hosts.example.toml", encoding: .utf8), file: "deploy/hosts.example.toml")
        #expect(inventory.hosts.count == 3 && inventory.groups["web"] == ["web-1", "web-2"])
        #expect(try inventory.resolve(manifest.hosts, in: "deploy/example.toml").count == 3)
    }

    @Test func theServiceNameComesFromTheFile() {
        #expect(throws: InputError.self) { try Manifest.parse("artifact = \"x\"\n", file: "deploy/Web_App.toml") }
    }
}
