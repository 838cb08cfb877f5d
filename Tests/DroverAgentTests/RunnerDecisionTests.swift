import Crypto
@testable import DroverAgent
import DroverAPI
import DroverCore
import DroverSystemd
import Foundation
import Logging
import NIOCore
import Testing

/// A runner's decisions, in process: what the agent refuses and what that leaves recorded,
/// which runners exist, and how each domain error meets HTTP. The store and the release files
/// are real (a temporary directory); systemd is a stand-in, since none of this asks anything
/// of a manager that a real one would answer differently. Behaviour against systemd is tested
/// end to end, on real managers, by the other suites.
@Suite struct RunnerDecisionTests {
    /// An agent on a temporary state directory and a stand-in for systemd; removed afterwards.
    static func withAgent(_ body: (Agent, StandInUnitControl) async throws -> Void) async throws {
        let root = FileManager.default.temporaryDirectory.path + "/drover-decisions-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        var configuration = AgentConfiguration.defaults(scope: .user, environment: ["HOME": root])
        configuration.stateDirectory = root + "/state"
        configuration.unitDirectory = root + "/units"
        configuration.journalDirectory = root + "/journal"
        let systemd = StandInUnitControl()
        let agent = try await Agent.start(configuration: configuration, unitControl: systemd, logger: Logger(label: "test"))
        try await body(agent, systemd)
    }

    static func upload(_ agent: Agent, _ service: String, _ version: String, content: String = "#!/bin/sh\n", digestOf: String? = nil) async throws {
        let bytes = Array(content.utf8)
        let digest = Data(SHA256.hash(data: Array((digestOf ?? content).utf8))).base64EncodedString()
        let body = AsyncStream<ByteBuffer> { continuation in
            continuation.yield(ByteBuffer(bytes: bytes))
            continuation.finish()
        }
        _ = try await agent.upload(try ServiceName(service), try ReleaseVersion(version),
                                   ReleaseInstaller.Upload(digestHeader: "sha-256=:\(digest):", specHeader: nil, contentLength: Int64(bytes.count)),
                                   body: body)
    }

    @Test func aScaleWhileADeploymentRollsIsRefusedAndRecordsNothing() async throws {
        try await Self.withAgent { agent, systemd in
            try await Self.upload(agent, "web", "1")
            try await Self.upload(agent, "web", "2", content: "#!/bin/sh\n# two\n")
            let service = try ServiceName("web")
            let deployment = try await agent.deploy(service, DeploymentRequest(version: try ReleaseVersion("2"), instances: 2))
            #expect(deployment.state == .running)
            let before = try await agent.service(service).desiredInstances
            let refused = await #expect(throws: ScaleError.self) { try await agent.scale(service, to: 3) }
            #expect(refused?.kind == .deploymentRunning)
            #expect(refused?.message.contains(deployment.id) == true, "\(refused?.message ?? "")")
            #expect(try await agent.service(service).desiredInstances == before)
            #expect(!systemd.calls.withLock { $0 }.contains { $0.hasPrefix("start ") }, "nothing was started")
            // The same refusal, as HTTP sees it.
            let failure = try #require(refused.flatMap { APIFailure(mapping: $0) })
            #expect(failure.status.code == 409 && failure.code == "deployment_running")
        }
    }

    @Test func requestsForAServiceThatDoesNotExistMakeNoRunner() async throws {
        try await Self.withAgent { agent, _ in
            let ghost = try ServiceName("ghost")
            let attempts: [(String, @Sendable () async throws -> Void)] = [
                ("set limits", { _ = try await agent.setLimits(ghost, InstanceLimits(cpuPercent: 50)) }),
                ("delete limits", { try await agent.deleteLimits(ghost) }),
                ("read limits", { _ = try await agent.limits(of: ghost) }),
                ("set autoscale", { _ = try await agent.setAutoscale(ghost, AutoscalePolicy(min: 1, max: 2, cpu: 0.5)) }),
                ("delete autoscale", { try await agent.deleteAutoscale(ghost) }),
                ("read autoscale", { _ = try await agent.autoscaleInfo(ghost) }),
                ("scale", { _ = try await agent.scale(ghost, to: 1) }),
                ("deploy", { _ = try await agent.deploy(ghost, DeploymentRequest(version: try ReleaseVersion("1"))) }),
                ("logs", { _ = try await agent.followLogs(of: ghost, lines: 1, version: nil) }),
                ("delete", { try await agent.delete(ghost) }),
            ]
            for (what, attempt) in attempts {
                let error = await #expect(throws: ServiceError.self, "\(what)") { try await attempt() }
                #expect(error?.kind == .unknownService, "\(what)")
            }
            #expect(await agent.runners.all().isEmpty, "no runner for a service that does not exist")
        }
    }

    @Test func aFirstUploadThatFailsLeavesNoServiceAndNoRunner() async throws {
        try await Self.withAgent { agent, _ in
            let refused = await #expect(throws: ReleaseError.self) { try await Self.upload(agent, "web", "1", digestOf: "something else") }
            #expect(refused?.kind == .digestMismatch)
            #expect(try await agent.services().isEmpty)
            #expect(await agent.runners.all().isEmpty)
            // A later good upload makes the service and its runner.
            try await Self.upload(agent, "web", "1")
            #expect(await agent.runners.all().map(\.name.rawValue) == ["web"])
        }
    }

    @Test(arguments: [
        (ServiceError(.unknownService, "x") as any Error, 404, "unknown_service"),
        (ServiceError(.unknownRelease, "x"), 404, "unknown_release"),
        (ScaleError(.invalidCount, "x"), 400, "invalid_instances"),
        (ScaleError(.noRelease, "x"), 409, "no_release"),
        (ScaleError(.instancesFailed, "x"), 502, "instances_failed"),
        (ScaleError(.socketFailed, "x"), 409, "socket_failed"),
        (DeploymentError(.invalidStrategy, "x"), 400, "invalid_strategy"),
        (DeploymentError(.deploymentRunning, "x"), 409, "deployment_running"),
        (DeploymentError(.nothingToRollBackTo, "x"), 409, "nothing_to_roll_back_to"),
        (DeploymentError(.unknownDeployment, "x"), 404, "unknown_deployment"),
        (LimitsError(.invalidLimits, "x"), 400, "invalid_limits"),
        (LimitsError(.notResized, "x"), 404, "not_resized"),
        (AutoscaleError(.invalidPolicy, "x"), 400, "invalid_policy"),
        (AutoscaleError(.notAutoscaled, "x"), 404, "not_autoscaled"),
        (LogsError(.tooManyFollowers, "x"), 429, "too_many_followers"),
        (ReleaseError(.unsafeTarball, "x"), 422, "unsafe_tarball"),
        (ReleaseError(.tooLarge, "x"), 413, "too_large"),
        (ReleaseError(.versionConflict, "x"), 409, "version_conflict"),
        (ReleaseError(.missingDigest, "x"), 400, "missing_digest"),
    ])
    func eachDomainErrorKindHasItsStatusAndCode(_ error: any Error, _ status: Int, _ code: String) throws {
        let failure = try #require(APIFailure(mapping: error))
        #expect(failure.status.code == status && failure.code == code && failure.message == "x")
    }
}
