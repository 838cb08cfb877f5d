import DroverCore
import Foundation

/// `GET /v1/health`: answers without a token, so load balancers and `drover hosts` can probe.
public struct HealthResponse: Codable, Sendable, Equatable {
    public var status: String
    public var version: String
    public var scope: Scope
    /// Where instances' memory figures come from on this host (systemd, cgroup v2, or VmRSS).
    public var metricsSource: String?
    public init(status: String, version: String, scope: Scope, metricsSource: String? = nil) {
        self.status = status
        self.version = version
        self.scope = scope
        self.metricsSource = metricsSource
    }
}

/// A release as the agent holds it.
public struct ReleaseInfo: Codable, Sendable, Equatable {
    public var service: ServiceName
    public var version: ReleaseVersion
    /// Hex SHA-256 of the uploaded artifact.
    public var sha256: String
    public var size: Int64
    /// `binary` (one executable) or `tarball` (a .tar.gz unpacked into the release).
    public var kind: String
    public var files: Int
    public var createdAt: Date
    /// Whether instances are (to be) run from this release.
    public var current: Bool
    public var spec: ServiceSpec
    /// How the release's secrets are kept on the host, when it has some: `encrypted` with
    /// systemd-creds (the host's key, and its TPM2 where it has one), or as a `file` readable
    /// by root only, where encryption is not available (a user manager).
    public var secretStorage: SecretStorage?
    /// Its unit's exposure as `systemd-analyze security` scores it: 0 (safe) to 10 (unsafe).
    public var exposure: Double?
    /// When its `release.command` last succeeded on this host (nil: never, or it has none).
    public var releaseCommandAt: Date?

    public enum SecretStorage: String, Codable, Sendable {
        case encrypted, file
    }

    public init(service: ServiceName, version: ReleaseVersion, sha256: String, size: Int64, kind: String, files: Int, createdAt: Date, current: Bool, spec: ServiceSpec,
                secretStorage: SecretStorage? = nil, exposure: Double? = nil, releaseCommandAt: Date? = nil) {
        self.service = service
        self.version = version
        self.sha256 = sha256
        self.size = size
        self.kind = kind
        self.files = files
        self.createdAt = createdAt
        self.current = current
        self.spec = spec
        self.secretStorage = secretStorage
        self.exposure = exposure
        self.releaseCommandAt = releaseCommandAt
    }
}

/// One running (or failed) instance of a service.
public struct InstanceInfo: Codable, Sendable, Equatable {
    public var unit: String
    public var slot: Int
    public var version: ReleaseVersion
    public var port: Int?
    public var activeState: String
    public var subState: String
    public var mainPID: Int32?
    public var memoryBytes: UInt64?
    /// `memoryBytes` over the instance's `MemoryMax` (its spec's `resources.memoryBytes`), when set.
    public var memoryOfMax: Double?
    /// CPU time used since the instance started.
    public var cpuNanoseconds: UInt64?
    /// CPU in use, in cores, since the agent's previous reading (nil on the first reading).
    public var cpuCores: Double?
    /// `cpuCores` over the instance's `CPUQuota` (its spec's `resources.cpuPercent`), when set.
    public var cpuOfQuota: Double?
    /// Pressure stall information of the instance's cgroup (`some avg10`, percent), where the kernel offers it.
    public var cpuPressure: Double?
    public var memoryPressure: Double?
    /// The limits the instance runs with: its release's, or a live resize's.
    public var cpuQuotaPercent: Int?
    public var memoryMaxBytes: UInt64?
    public var restarts: UInt32?
    /// Why it is not running, when it failed (systemd's result, exit status).
    public var failure: String?
    /// When the agent is holding a crashed instance back before starting it again:
    /// "crash-looping: exited with status 3, next try in 40 s; last lines: …".
    public var crashLoop: String?

    public init(unit: String, slot: Int, version: ReleaseVersion, port: Int?, activeState: String, subState: String,
                mainPID: Int32?, memoryBytes: UInt64?, memoryOfMax: Double? = nil, cpuNanoseconds: UInt64?, cpuCores: Double? = nil,
                cpuOfQuota: Double? = nil, cpuPressure: Double? = nil, memoryPressure: Double? = nil,
                cpuQuotaPercent: Int? = nil, memoryMaxBytes: UInt64? = nil, restarts: UInt32?, failure: String?) {
        self.unit = unit
        self.slot = slot
        self.version = version
        self.port = port
        self.activeState = activeState
        self.subState = subState
        self.mainPID = mainPID
        self.memoryBytes = memoryBytes
        self.memoryOfMax = memoryOfMax
        self.cpuNanoseconds = cpuNanoseconds
        self.cpuCores = cpuCores
        self.cpuOfQuota = cpuOfQuota
        self.cpuPressure = cpuPressure
        self.memoryPressure = memoryPressure
        self.cpuQuotaPercent = cpuQuotaPercent
        self.memoryMaxBytes = memoryMaxBytes
        self.restarts = restarts
        self.failure = failure
    }
}

/// A service and what the agent wants of it.
public struct ServiceInfo: Codable, Sendable, Equatable {
    public var name: ServiceName
    public var currentVersion: ReleaseVersion?
    public var desiredInstances: Int
    public var releases: [ReleaseInfo]
    public var instances: [InstanceInfo]
    /// The autoscaling policy, when the service autoscales.
    public var autoscale: AutoscalePolicy?
    /// The live resize in force, if any.
    public var limits: InstanceLimits?
    /// The deployment under way, if one is (running, reverting, or a canary waiting).
    public var deployment: DeploymentInfo?

    public init(name: ServiceName, currentVersion: ReleaseVersion?, desiredInstances: Int, releases: [ReleaseInfo], instances: [InstanceInfo],
                autoscale: AutoscalePolicy? = nil, limits: InstanceLimits? = nil, deployment: DeploymentInfo? = nil) {
        self.name = name
        self.currentVersion = currentVersion
        self.desiredInstances = desiredInstances
        self.releases = releases
        self.instances = instances
        self.autoscale = autoscale
        self.limits = limits
        self.deployment = deployment
    }
}

/// `PUT /v1/services/{svc}/scale`.
public struct ScaleRequest: Codable, Sendable, Equatable {
    public var instances: Int
    public init(instances: Int) { self.instances = instances }
}

/// The answer to a scale: the count asked for, the count set (they differ when autoscaling
/// keeps the count within its bounds, and `note` says so), and the instances now running.
public struct ScaleResult: Codable, Sendable, Equatable {
    public var requested: Int
    public var desiredInstances: Int
    public var note: String?
    public var instances: [InstanceInfo]

    public init(requested: Int, desiredInstances: Int, note: String?, instances: [InstanceInfo]) {
        self.requested = requested
        self.desiredInstances = desiredInstances
        self.note = note
        self.instances = instances
    }
}

/// Something that happened on the host, kept in the agent's event log.
public struct EventInfo: Codable, Sendable, Equatable {
    public var id: Int64
    public var time: Date
    public var service: String?
    public var kind: String
    public var message: String
    /// The name of the token whose request made the change; absent for the agent's own doing.
    public var by: String?
    /// The client address that request came from.
    public var from: String?

    public init(id: Int64, time: Date, service: String?, kind: String, message: String, by: String? = nil, from: String? = nil) {
        self.id = id
        self.time = time
        self.service = service
        self.kind = kind
        self.message = message
        self.by = by
        self.from = from
    }
}

extension JSONEncoder {
    /// How the agent API writes JSON: ISO 8601 dates, sorted keys (stable, diffable output).
    public static var droverAPI: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}

extension JSONDecoder {
    public static var droverAPI: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
