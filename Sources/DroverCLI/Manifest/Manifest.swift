import DroverAPI
import DroverCore
import DroverTOML
import Foundation

/// A service's manifest, `deploy/<service>.toml`: how to run it (the spec every release
/// carries) and how to deploy it (artifact, build, instances, hosts, rollout, autoscale).
/// Parsing is pure, text in, manifest out; every mistake names file, line and key.
public struct Manifest: Sendable, Equatable {
    public var service: ServiceName
    /// The file, as given (for messages).
    public var file: String
    public var spec: ServiceSpec
    /// The executable or `.tar.gz` to upload, relative to the repository (the directory
    /// that holds `deploy/`).
    public var artifact: String
    /// A shell command run from the repository before uploading, if the artifact is built.
    public var build: String?
    public var instances: Int
    /// Host names or groups of the inventory; `all` by default.
    public var hosts: [String]
    public var rollout: Rollout
    public var autoscale: AutoscalePolicy?
    /// Where each secret's value comes from on the operator's machine: never the value
    /// itself, which the manifest (committed to git) must not hold. Read at deploy time.
    public var secrets: [String: SecretSource] = [:]

    public enum SecretSource: Sendable, Equatable {
        /// A file, relative to the repository (or absolute).
        case file(String)
        /// An environment variable of the `drover` process.
        case environment(String)
    }

    /// How carefully to roll: within a host (the agent's strategy) and across hosts (batches).
    public struct Rollout: Sendable, Equatable {
        public var strategy = DeploymentStrategy()
        /// Hosts deployed at once.
        public var batch = 1
    }

    /// Reads `text` as the manifest of the service named by the file (`web.toml` → `web`).
    public static func parse(_ text: String, file: String) throws(InputError) -> Manifest {
        let base = (file as NSString).lastPathComponent
        let name = base.hasSuffix(".toml") ? String(base.dropLast(5)) : base
        let service: ServiceName
        do {
            service = try ServiceName(name)
        } catch {
            throw InputError(file: file, line: nil, key: nil, problem: "the file name gives the service name: \(error)")
        }
        var top = try TOMLReader.parse(text, file: file)

        guard let artifact = try top.string("artifact") else {
            throw top.error(nil, "missing 'artifact': the path of the executable or .tar.gz to deploy, relative to the repository")
        }
        let build = try top.string("build")
        var spec = ServiceSpec(binary: try top.string("binary") ?? name)
        if artifact.hasSuffix(".tar.gz") || artifact.hasSuffix(".tgz"), top.table["binary"] == nil {
            throw top.error(nil, "missing 'binary': the path of the executable inside \(artifact)")
        }
        spec.arguments = try top.strings("arguments") ?? []
        if let type = try top.string("type") {
            guard let parsed = ServiceSpec.ServiceType(rawValue: type) else {
                throw top.error("type", "'type' must be \"simple\" or \"notify\", not \"\(type)\"")
            }
            spec.type = parsed
        }
        spec.listen = try top.string("listen")
        if let seconds = try top.seconds("start_timeout", in: 1...3_600) { spec.startTimeoutSeconds = Int(seconds.rounded(.up)) }
        if let seconds = try top.seconds("stop_timeout", in: 1...3_600) { spec.stopTimeoutSeconds = Int(seconds.rounded(.up)) }
        if let signal = try top.string("stop_signal") {
            let name = signal.uppercased().hasPrefix("SIG") ? signal.uppercased() : "SIG" + signal.uppercased()
            spec.stopSignal = name
        }
        if let seconds = try top.seconds("watchdog", in: 1...3_600) { spec.watchdogSeconds = Int(seconds.rounded(.up)) }
        spec.acceptExposure = try top.number("accept_exposure", in: 0...10)
        let instances = try top.integer("instances", in: Bounds.instances) ?? 1
        let hosts = try top.strings("hosts") ?? ["all"]

        if var environment = try top.table("environment") {
            for key in environment.allKeys() {
                guard let value = environment.value(key)?.string else {
                    throw environment.error(key, "'environment.\(key)' must be a string (quote numbers: \"8080\")")
                }
                spec.environment[key] = value
            }
        }
        if var health = try top.table("health") {
            guard let path = try health.string("path") else { throw health.error(nil, "[health] needs 'path', like \"/healthz\"") }
            spec.health = ServiceSpec.HealthCheck(path: path, timeoutSeconds: try health.seconds("timeout", in: 0.001...60) ?? 1,
                                                  intervalSeconds: try health.seconds("interval", in: ServiceSpec.HealthCheck.intervalRange) ?? 1)
            try health.finish()
        }
        if var restart = try top.table("restart") {
            if let mode = try restart.string("mode") { spec.restart.mode = mode }
            if let delay = try restart.seconds("delay", in: 0...3_600) { spec.restart.delaySeconds = Int(delay.rounded(.up)) }
            if let burst = try restart.integer("burst", in: 1...1_000) { spec.restart.burst = burst }
            if let interval = try restart.seconds("interval", in: 1...86_400) { spec.restart.intervalSeconds = Int(interval.rounded(.up)) }
            try restart.finish()
        }
        if var resources = try top.table("resources") {
            spec.resources.cpuPercent = try cpuPercent(&resources, "cpu")
            spec.resources.memoryBytes = try resources.bytes("memory", in: Bounds.memoryBytes)
            spec.resources.serviceCPUPercent = try cpuPercent(&resources, "service_cpu")
            spec.resources.serviceMemoryBytes = try resources.bytes("service_memory", in: Bounds.memoryBytes)
            try resources.finish()
        }
        if var sandbox = try top.table("sandbox") {
            for key in sandbox.allKeys() {
                if let value = sandbox.value(key)?.string {
                    spec.sandbox[key] = .some(value)
                } else if sandbox.value(key)?.bool == false {
                    spec.sandbox[key] = .some(nil)
                } else {
                    throw sandbox.error(key, "'sandbox.\(key)' must be a string (the directive's new value) or false (drop it)")
                }
            }
        }
        var secrets: [String: SecretSource] = [:]
        if var table = try top.table("secrets") {
            for name in table.allKeys().sorted() {
                guard ServiceSpec.isSecretName(name) else {
                    _ = table.value(name)
                    throw table.error(name, "a secret's name is letters, digits and '_', not starting with a digit, at most 64 characters (it is read from $CREDENTIALS_DIRECTORY/<name>)")
                }
                let inlineValue = "a secret's value is never written in a manifest (it is committed): name where it comes from, "
                    + "\(name) = { file = \"secrets/\(name.lowercased())\" } or \(name) = { env = \"\(name)\" }"
                if let value = table.table[name], value.table == nil { _ = table.value(name); throw table.error(name, inlineValue) }
                guard var source = try table.table(name) else { throw table.error(name, inlineValue) }
                switch (try source.string("file"), try source.string("env")) {
                case (let path?, nil): secrets[name] = .file(path)
                case (nil, let variable?): secrets[name] = .environment(variable)
                default: throw source.error(nil, "'secrets.\(name)' needs one of 'file' (a path, relative to the repository) or 'env' (a variable of drover's environment)")
                }
                try source.finish()
            }
            try table.finish()
        }
        if var table = try top.table("release") {
            guard let command = try table.strings("command") else {
                throw table.error(nil, "[release] needs 'command': the command run once per deploy before any instance is replaced, like command = [\"./web\", \"migrate\"]")
            }
            do throws(SpecError) {
                try OneOffCommand.validate(command, field: "release.command")
            } catch {
                throw table.error("command", "'release.command' \(error.problem)")
            }
            var release = ReleaseCommand(command: command)
            if let seconds = try table.seconds("timeout", in: 1...Double(OneOffCommand.timeoutRange.upperBound)) { release.timeoutSeconds = Int(seconds.rounded(.up)) }
            if let on = try table.string("on") {
                guard let hosts = ReleaseCommand.Hosts(rawValue: on) else {
                    throw table.error("on", "'release.on' must be \"first\" (the first host of the deploy, the default) or \"every\" (each host), not \"\(on)\"")
                }
                release.on = hosts
            }
            try table.finish()
            spec.release = release
        }

        var rollout = Rollout()
        if var table = try top.table("rollout") {
            rollout.strategy.maxSurge = try table.integer("max_surge", in: DeploymentStrategy.surgeRange) ?? rollout.strategy.maxSurge
            rollout.strategy.maxUnavailable = try table.integer("max_unavailable", in: DeploymentStrategy.surgeRange) ?? rollout.strategy.maxUnavailable
            rollout.strategy.minHealthySeconds = try table.seconds("min_healthy", in: DeploymentStrategy.minHealthySecondsRange)
                ?? rollout.strategy.minHealthySeconds
            rollout.strategy.deadlineSeconds = try table.seconds("deadline", in: DeploymentStrategy.deadlineSecondsRange)
                ?? rollout.strategy.deadlineSeconds
            rollout.strategy.autoRevert = try table.bool("auto_revert") ?? rollout.strategy.autoRevert
            rollout.batch = try table.integer("batch", in: 1...1_000) ?? rollout.batch
            rollout.strategy.canary = try table.integer("canary", in: DeploymentStrategy.canaryRange)
            rollout.strategy.autoPromoteSeconds = try table.seconds("auto_promote", in: DeploymentStrategy.autoPromoteSecondsRange)
            if rollout.strategy.autoPromoteSeconds != nil, rollout.strategy.canary == nil {
                throw table.error("auto_promote", "'rollout.auto_promote' promotes a canary: set 'rollout.canary' too (how many instances of the new release to start first)")
            }
            guard rollout.strategy.maxSurge + rollout.strategy.maxUnavailable >= 1 else {
                throw table.error("max_surge", "'rollout.max_surge' or 'rollout.max_unavailable' must be at least 1, or no instance could ever be replaced")
            }
            guard rollout.strategy.deadlineSeconds > rollout.strategy.minHealthySeconds else {
                throw table.error("deadline", "'rollout.deadline' must be longer than 'rollout.min_healthy'")
            }
            try table.finish()
        }
        var autoscale: AutoscalePolicy?
        if var table = try top.table("autoscale") {
            autoscale = try autoscalePolicy(&table)
        }
        try top.finish()

        // What the agent would refuse, refused here, at the key that holds it.
        do throws(SpecError) {
            try spec.validate()
        } catch {
            let path = key(forSpecField: error.field)
            throw top.error(at: path, "'\(path.joined(separator: "."))' \(error.problem)")
        }
        return Manifest(service: service, file: file, spec: spec, artifact: artifact, build: build, instances: instances,
                        hosts: hosts, rollout: rollout, autoscale: autoscale, secrets: secrets)
    }

    /// The spec with each secret's digest, and the values to send, read now from their files
    /// and variables. A secret that cannot be read is an input error naming it (never its value).
    public func resolvingSecrets(repository: String) throws(InputError) -> (spec: ServiceSpec, values: [String: [UInt8]]) {
        var spec = self.spec
        var values: [String: [UInt8]] = [:]
        for (name, source) in secrets.sorted(by: { $0.key < $1.key }) {
            let value: [UInt8]
            switch source {
            case .file(let path):
                let full = path.hasPrefix("/") ? path : repository + "/" + path
                guard let data = FileManager.default.contents(atPath: full) else {
                    throw InputError(file: file, line: nil, key: "secrets.\(name)", problem: "cannot read the secret \(name) from \(full) (create it, mode 0600, outside git)")
                }
                value = Array(data)
            case .environment(let variable):
                guard let text = ProcessInfo.processInfo.environment[variable] else {
                    throw InputError(file: file, line: nil, key: "secrets.\(name)", problem: "the secret \(name) is read from $\(variable), which is not set")
                }
                value = Array(text.utf8)
            }
            guard !value.isEmpty, value.count <= SecretDigest.maxValueBytes else {
                throw InputError(file: file, line: nil, key: "secrets.\(name)",
                                 problem: "the secret \(name) is \(value.count) bytes: it must be 1 to \(SecretDigest.maxValueBytes)")
            }
            values[name] = value
            spec.secrets[name] = SecretDigest.of(service: service, name: name, value: value)
        }
        return (spec, values)
    }

    /// `"50%"` of one CPU, or a bare number of percent.
    private static func cpuPercent(_ table: inout TOMLReader, _ key: String) throws(InputError) -> Int? {
        guard let value = table.value(key) else { return nil }
        if let text = value.string {
            guard let percent = HumanUnits.cpuPercent(text) else {
                throw table.error(key, "'\(table.dotted(key))' must be a share of one CPU from \"1%\" to \"100000%\", like \"50%\" or \"200%\", not \"\(text)\"")
            }
            return percent
        }
        return try table.integer(key, in: Bounds.cpuPercent)
    }

    private static func autoscalePolicy(_ table: inout TOMLReader) throws(InputError) -> AutoscalePolicy {
        guard let min = try table.integer("min", in: AutoscalePolicy.countRange),
              let max = try table.integer("max", in: AutoscalePolicy.countRange) else {
            throw table.error(nil, "[autoscale] needs 'min' and 'max'")
        }
        var cpu: Double?
        if let value = table.value("cpu") {
            cpu = value.string.flatMap(HumanUnits.cores) ?? (value.double ?? value.int.map(Double.init)).flatMap { Bounds.cpuCores.contains($0) ? $0 : nil }
            guard cpu != nil else {
                throw table.error("cpu", "'autoscale.cpu' must be cores from 0.001 to 1000 (0.5) or a share of one CPU (\"50%\"), not \(TOMLReader.describe(value))")
            }
        }
        let defaults = AutoscalePolicy(min: 1, max: 1)
        let policy = AutoscalePolicy(
            min: min, max: max, cpu: cpu, memoryBytes: try table.bytes("memory", in: Bounds.memoryBytes),
            interval: try table.seconds("interval", in: AutoscalePolicy.intervalSecondsRange).map(Duration.seconds(clamping:)) ?? defaults.interval,
            tolerance: try table.number("tolerance", in: AutoscalePolicy.toleranceRange) ?? defaults.tolerance,
            scaleUpStabilization: try table.seconds("scale_up_stabilization", in: Bounds.seconds).map(Duration.seconds(clamping:))
                ?? defaults.scaleUpStabilization,
            scaleDownStabilization: try table.seconds("scale_down_stabilization", in: Bounds.seconds).map(Duration.seconds(clamping:))
                ?? defaults.scaleDownStabilization,
            maxStepUp: try table.integer("max_step_up", in: Bounds.step), maxStepDown: try table.integer("max_step_down", in: Bounds.step)
        )
        try table.finish()
        guard min <= max else { throw table.error("min", "'autoscale.min' (\(min)) must not be above 'autoscale.max' (\(max))") }
        guard policy.cpu != nil || policy.memoryBytes != nil else {
            throw table.error(nil, "[autoscale] needs a target: 'cpu' (cores or \"50%\") or 'memory' (\"256M\"), or both")
        }
        return policy
    }

    /// The manifest key of a spec field named in a `SpecError` (`restart.delaySeconds` →
    /// `restart.delay`, `arguments[2]` → `arguments`).
    static func key(forSpecField field: String) -> [String] {
        let renames = [
            "startTimeoutSeconds": "start_timeout", "stopTimeoutSeconds": "stop_timeout", "stopSignal": "stop_signal", "watchdogSeconds": "watchdog",
            "delaySeconds": "delay", "intervalSeconds": "interval", "timeoutSeconds": "timeout",
            "cpuPercent": "cpu", "memoryBytes": "memory", "serviceCPUPercent": "service_cpu", "serviceMemoryBytes": "service_memory",
        ]
        return field.split(separator: ".").map { part in
            let bare = String(part.prefix { $0 != "[" })
            return renames[bare] ?? bare
        }
    }
}
