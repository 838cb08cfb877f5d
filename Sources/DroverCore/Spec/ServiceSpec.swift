/// How to run a service: the JSON form of its manifest (`deploy/<service>.toml`).
///
/// A release stores the spec it was uploaded with, so rolling back restores how the service
/// ran, not only its binary. Every field is validated by `validate()` before it can reach a
/// unit file.
public struct ServiceSpec: Codable, Sendable, Equatable {
    /// The executable, relative to the release's root (the file name, for a single-file artifact).
    public var binary: String
    /// Its arguments. `${PORT}`, `${DROVER_SERVICE}`, `${DROVER_VERSION}`, `${DROVER_INSTANCE}`
    /// and the service's own environment variables are expanded by systemd.
    public var arguments: [String]
    /// Extra environment variables for every instance.
    public var environment: [String: String]
    /// `simple` (started once exec'd) or `notify` (started once it sends READY=1).
    public var type: ServiceType
    /// Seconds systemd waits for a start (`TimeoutStartSec=`).
    public var startTimeoutSeconds: Int
    /// Seconds between the stop signal and SIGKILL on stop (`TimeoutStopSec=`): the time an
    /// instance has to finish the requests it has accepted.
    public var stopTimeoutSeconds: Int
    /// The signal that asks an instance to stop (`KillSignal=`), for services that drain on
    /// another than SIGTERM (nginx and unicorn drain on SIGQUIT); nil for SIGTERM.
    public var stopSignal: String?
    /// `WatchdogSec=` for `notify` services that send WATCHDOG=1; nil for none.
    public var watchdogSeconds: Int?
    public var restart: RestartPolicy
    /// An HTTP check on each instance's `PORT`: healthy while it answers 2xx.
    public var health: HealthCheck?
    /// `ADDR:PORT` of a listening socket shared by every instance of every release
    /// (`$LISTEN_FDS`), so a rollout hands traffic over without refusing a connection.
    public var listen: String?
    public var resources: Resources
    /// Changes to the default sandbox, key by key: a directive name and its new value, or
    /// nil to drop the directive. Only sandbox directives may be named.
    public var sandbox: [String: String?]
    /// The service's secrets, by name, each with the digest of its value (`SecretDigest`): never
    /// the value. Instances read each from `$CREDENTIALS_DIRECTORY/<NAME>` (systemd
    /// credentials); a changed value has another digest, so it is another spec and release.
    public var secrets: [String: String]
    /// An exposure above the agent's `max_exposure` that this release is accepted with, on
    /// purpose: its unit may score up to this (0–10, as `systemd-analyze security` scores).
    public var acceptExposure: Double?
    /// Run once per deploy before any instance is replaced (a migration); nil for none.
    public var release: ReleaseCommand?

    public init(
        binary: String,
        arguments: [String] = [],
        environment: [String: String] = [:],
        type: ServiceType = .simple,
        startTimeoutSeconds: Int = 60,
        stopTimeoutSeconds: Int = 30,
        stopSignal: String? = nil,
        watchdogSeconds: Int? = nil,
        restart: RestartPolicy = RestartPolicy(),
        health: HealthCheck? = nil,
        listen: String? = nil,
        resources: Resources = Resources(),
        sandbox: [String: String?] = [:],
        secrets: [String: String] = [:],
        acceptExposure: Double? = nil,
        release: ReleaseCommand? = nil
    ) {
        self.binary = binary
        self.arguments = arguments
        self.environment = environment
        self.type = type
        self.startTimeoutSeconds = startTimeoutSeconds
        self.stopTimeoutSeconds = stopTimeoutSeconds
        self.stopSignal = stopSignal
        self.watchdogSeconds = watchdogSeconds
        self.restart = restart
        self.health = health
        self.listen = listen
        self.resources = resources
        self.sandbox = sandbox
        self.secrets = secrets
        self.acceptExposure = acceptExposure
        self.release = release
    }

    public enum ServiceType: String, Codable, Sendable {
        case simple, notify
    }

    /// When systemd restarts a failed instance, and when it gives up (start limit).
    public struct RestartPolicy: Codable, Sendable, Equatable {
        /// `no`, `on-failure`, `always`.
        public var mode: String
        public var delaySeconds: Int
        /// At most `burst` starts within `intervalSeconds`; then the instance stays failed.
        public var burst: Int
        public var intervalSeconds: Int

        public init(mode: String = "on-failure", delaySeconds: Int = 1, burst: Int = 5, intervalSeconds: Int = 60) {
            self.mode = mode
            self.delaySeconds = delaySeconds
            self.burst = burst
            self.intervalSeconds = intervalSeconds
        }
    }

    /// `GET http://127.0.0.1:$PORT<path>` must answer 2xx within `timeoutSeconds`. It is asked
    /// as soon as an instance is up, then every `intervalSeconds` while a rollout watches it.
    public struct HealthCheck: Codable, Sendable, Equatable {
        public var path: String
        public var timeoutSeconds: Double
        public var intervalSeconds: Double

        public static let intervalRange: ClosedRange<Double> = 0.05...3_600

        public init(path: String, timeoutSeconds: Double = 1, intervalSeconds: Double = 1) {
            self.path = path
            self.timeoutSeconds = timeoutSeconds
            self.intervalSeconds = intervalSeconds
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            path = try c.decode(String.self, forKey: .path)
            timeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .timeoutSeconds) ?? 1
            intervalSeconds = try c.decodeIfPresent(Double.self, forKey: .intervalSeconds) ?? 1
        }
    }

    /// CPU and memory limits, per instance and for the whole service.
    public struct Resources: Codable, Sendable, Equatable {
        /// `CPUQuota=` of each instance, in percent of one CPU.
        public var cpuPercent: Int?
        /// `MemoryMax=` of each instance, in bytes.
        public var memoryBytes: UInt64?
        /// `CPUQuota=` of the service's slice (all instances together).
        public var serviceCPUPercent: Int?
        /// `MemoryMax=` of the service's slice.
        public var serviceMemoryBytes: UInt64?

        public init(cpuPercent: Int? = nil, memoryBytes: UInt64? = nil, serviceCPUPercent: Int? = nil, serviceMemoryBytes: UInt64? = nil) {
            self.cpuPercent = cpuPercent
            self.memoryBytes = memoryBytes
            self.serviceCPUPercent = serviceCPUPercent
            self.serviceMemoryBytes = serviceMemoryBytes
        }
    }

    /// Decoding fills in every default, so a JSON spec may name only `binary`.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = ServiceSpec(binary: "")
        binary = try c.decode(String.self, forKey: .binary)
        arguments = try c.decodeIfPresent([String].self, forKey: .arguments) ?? defaults.arguments
        environment = try c.decodeIfPresent([String: String].self, forKey: .environment) ?? defaults.environment
        type = try c.decodeIfPresent(ServiceType.self, forKey: .type) ?? defaults.type
        startTimeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .startTimeoutSeconds) ?? defaults.startTimeoutSeconds
        stopTimeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .stopTimeoutSeconds) ?? defaults.stopTimeoutSeconds
        stopSignal = try c.decodeIfPresent(String.self, forKey: .stopSignal)
        watchdogSeconds = try c.decodeIfPresent(Int.self, forKey: .watchdogSeconds)
        restart = try c.decodeIfPresent(RestartPolicy.self, forKey: .restart) ?? defaults.restart
        health = try c.decodeIfPresent(HealthCheck.self, forKey: .health)
        listen = try c.decodeIfPresent(String.self, forKey: .listen)
        resources = try c.decodeIfPresent(Resources.self, forKey: .resources) ?? defaults.resources
        sandbox = try c.decodeIfPresent([String: String?].self, forKey: .sandbox) ?? defaults.sandbox
        secrets = try c.decodeIfPresent([String: String].self, forKey: .secrets) ?? defaults.secrets
        acceptExposure = try c.decodeIfPresent(Double.self, forKey: .acceptExposure)
        release = try c.decodeIfPresent(ReleaseCommand.self, forKey: .release)
    }

    /// Encodes `secrets` only when there are some: a spec without secrets reads (and hashes) as
    /// it did before they existed, so its derived version does not change.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(binary, forKey: .binary)
        try c.encode(arguments, forKey: .arguments)
        try c.encode(environment, forKey: .environment)
        try c.encode(type, forKey: .type)
        try c.encode(startTimeoutSeconds, forKey: .startTimeoutSeconds)
        try c.encode(stopTimeoutSeconds, forKey: .stopTimeoutSeconds)
        try c.encodeIfPresent(stopSignal, forKey: .stopSignal)
        try c.encodeIfPresent(watchdogSeconds, forKey: .watchdogSeconds)
        try c.encode(restart, forKey: .restart)
        try c.encodeIfPresent(health, forKey: .health)
        try c.encodeIfPresent(listen, forKey: .listen)
        try c.encode(resources, forKey: .resources)
        try c.encode(sandbox, forKey: .sandbox)
        if !secrets.isEmpty { try c.encode(secrets, forKey: .secrets) }
        try c.encodeIfPresent(acceptExposure, forKey: .acceptExposure)
        try c.encodeIfPresent(release, forKey: .release)
    }

    private enum CodingKeys: String, CodingKey {
        case binary, arguments, environment, type, startTimeoutSeconds, stopTimeoutSeconds, stopSignal, watchdogSeconds
        case restart, health, listen, resources, sandbox, secrets, acceptExposure, release
    }
}
