import AsyncHTTPClient
import DroverAPI
import DroverSystemd
import DroverTestbed
import Foundation
import Testing

/// `Units/drover-agent.service`, run for real: the built agent as a unit of a throwaway
/// manager (adapted for user scope), restarted by systemd after a crash.
@Suite(.userManager, .timeLimit(.minutes(10)))
struct AgentUnitTests {
    /// The repository's unit file, with ExecStart pointing at the built agent in user scope.
    static func adaptedUnit(state: String, port: Int, manager: ThrowawayUserManager) throws -> String {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Units/drover-agent.service").standardized.path
        let original = try String(contentsOfFile: path, encoding: .utf8)
        var lines: [String] = []
        for line in original.split(separator: "\n", omittingEmptySubsequences: false) {
            switch line.split(separator: "=").first {
            case "ExecStart":
                lines.append("ExecStart=\(agentPath) --user --listen 127.0.0.1:\(port) --state-dir \(state) "
                             + "--unit-dir \(manager.unitDirectory) --bus \(manager.busAddress.address)")
            case "StateDirectory", "ConfigurationDirectory": continue  // system-scope directories
            // The hardening needs a system manager (mount namespaces, devices, the host's paths):
            // the booted hosts run the unit as installed, with all of it.
            case "ReadWritePaths", "ExecStartPre", "BindPaths", "DeviceAllow", "PrivateDevices", "PrivateTmp", "PrivateMounts",
                 "ProtectSystem", "ProtectHome", "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
                 "ProtectControlGroups", "ProtectClock", "ProtectHostname", "CapabilityBoundingSet", "AmbientCapabilities":
                continue
            case "RestartSec": lines.append("RestartSec=100ms")
            default: lines.append(String(line))
            }
        }
        return lines.joined(separator: "\n")
    }

    @Test func runsAsANotifyUnitAndSurvivesBeingKilled() async throws {
        let bed = try Bed.require()
        let state = bed.manager.root + "/unit-agent"
        let port = try freeLoopbackPort()
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let token = try AgentProcess.writeTokenFile(in: state)
        try bed.manager.installUnit("drover-agent.service", contents: try Self.adaptedUnit(state: state, port: port, manager: bed.manager))
        try await bed.systemd.reload()

        // Type=notify: the start job ends with READY=1, which the agent sends once it listens.
        try await bed.systemd.startUnit("drover-agent.service")
        // HTTPS by default, with the certificate the agent made on this first start.
        let agent = try AgentProcess.attach(manager: bed.manager, stateDirectory: state, port: port, token: token, tls: true)
        #expect(try await agent.request(.GET, "/v1/health", authorized: false).status == .ok, "the API answers as soon as the unit is active")
        let first = try await bed.systemd.status(of: "drover-agent.service")
        #expect(first.isActive)
        #expect(first.statusText == "listening on https://127.0.0.1:\(port)")

        let service = uniqueService("managed")
        #expect(try await agent.upload(service, "1", artifact: AgentLifecycleTests.fixture, spec: #"{"binary": "web", "type": "notify"}"#).status == .created)
        let instances = try await agent.scale(service, to: 2).decode(ScaleResult.self).instances

        kill(try #require(first.mainPID), SIGKILL)
        let restarted = await waitUntil(timeout: .seconds(20)) {
            guard let status = try? await bed.systemd.status(of: "drover-agent.service") else { return false }
            return status.isActive && status.restartCount == 1 && status.mainPID != first.mainPID
        }
        #expect(restarted, "systemd restarts the agent after SIGKILL")
        #expect(try await agent.request(.GET, "/v1/health", authorized: false).status == .ok, "the same certificate after the restart")
        let after = try await agent.request(.GET, "/v1/services/\(service)/instances").decode([InstanceInfo].self)
        #expect(after.map(\.mainPID) == instances.map(\.mainPID), "the managed instances were not touched")

        // Stopping the agent leaves the services running.
        try await bed.systemd.stopUnit("drover-agent.service")
        for instance in instances { #expect(isProcessRunning(instance.mainPID!)) }
    }
}
