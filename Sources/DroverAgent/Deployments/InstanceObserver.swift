import AsyncHTTPClient
import DroverCore
import DroverSystemd
import Foundation
import NIOCore

/// Turns what systemd (and each instance's health check) says into the planner's view:
/// `RolloutInstance`s with conditions and times. It remembers, across observations of one
/// rollout, when each instance was started and since when it has been healthy.
final class InstanceObserver: @unchecked Sendable {
    // @unchecked: used by one rollout task at a time, never concurrently.
    private let service: ServiceName
    private let systemd: SystemdClient
    private let journal: JournalReader
    private let origin = ContinuousClock.now
    /// Instances this rollout started, and when.
    private var startedAt: [String: Duration] = [:]
    /// When each instance was first seen (the deadline of one it did not start runs from here).
    private var firstSeen: [String: Duration] = [:]
    /// The last reason each instance was not healthy.
    private var notes: [String: String] = [:]
    private var healthySince: [String: Duration] = [:]
    private var everHealthy: Set<String> = []

    init(service: ServiceName, systemd: SystemdClient, journal: JournalReader) {
        self.service = service
        self.systemd = systemd
        self.journal = journal
    }

    var now: Duration { ContinuousClock.now - origin }

    /// Notes that the rollout started `unit` now (its deadline runs from here).
    func started(_ unit: String) {
        startedAt[unit] = now
        notes[unit] = nil
        healthySince[unit] = nil
        everHealthy.remove(unit)
    }

    /// Every instance of the service that runs, starts or failed, as the planner sees it.
    /// `specs` gives each version's spec (for its health check); `ports` each slot's port.
    func observe(specs: [ReleaseVersion: ServiceSpec], ports: [Int: Int], target: ReleaseVersion) async throws -> [RolloutInstance] {
        var instances: [RolloutInstance] = []
        let loaded = try await systemd.listUnits(matching: [UnitNames.instancePattern(service)])
        let statuses = await systemd.statuses(of: loaded.map(\.name))
        for unit in loaded {
            guard let parsed = UnitNames.parseInstance(unit.name), parsed.service == service,
                  let status = statuses[unit.name]
            else { continue }
            let ours = startedAt[unit.name] != nil
            // An inactive unit with a job queued (a start a superseded rollout left in flight)
            // holds its slot: skipping it would let another release start on the same port.
            if status.activeState == "inactive" && !ours && unit.jobID == 0 { continue }
            let seen = firstSeen[unit.name] ?? now
            firstSeen[unit.name] = seen
            let condition = unit.jobID != 0 && status.activeState == "inactive"
                ? RolloutInstance.Condition.starting
                : await condition(of: status, unit: unit.name, isNew: parsed.version == target,
                                  health: specs[parsed.version]?.health, port: ports[parsed.slot])
            instances.append(RolloutInstance(slot: parsed.slot, version: parsed.version,
                                             startedAt: startedAt[unit.name] ?? seen, condition: condition, note: notes[unit.name]))
        }
        return instances
    }

    private func condition(of status: UnitStatus, unit: String, isNew: Bool, health: ServiceSpec.HealthCheck?, port: Int?) async -> RolloutInstance.Condition {
        let ours = startedAt[unit] != nil
        switch status.activeState {
        case "failed":
            return .failed(reason: explain(Agent.failure(of: status), unit: unit))
        case "inactive":
            return .failed(reason: explain("stopped by itself (\(Agent.failure(of: status)))", unit: unit))
        case "active":
            if isNew, ours, let restarts = status.restartCount, restarts > 0 {
                return .failed(reason: explain("crashed and was restarted \(restarts) time(s)", unit: unit))
            }
            guard let health, let port else { return healthy(unit) }
            if let problem = await probe(health, port: port) {
                if everHealthy.contains(unit) && isNew {
                    return .failed(reason: explain("health check \(health.path) failed after passing: \(problem)", unit: unit))
                }
                healthySince[unit] = nil
                notes[unit] = "health check \(health.path): \(problem)"
                return .starting
            }
            return healthy(unit)
        default:
            if status.subState == "auto-restart", isNew, ours {
                return .failed(reason: explain("crashed and is being restarted (\(Agent.failure(of: status)))", unit: unit))
            }
            healthySince[unit] = nil
            notes[unit] = "\(status.activeState) (\(status.subState))\(status.statusText.map { ", status: \($0)" } ?? "")"
            return .starting
        }
    }

    private func healthy(_ unit: String) -> RolloutInstance.Condition {
        notes[unit] = nil
        let since = healthySince[unit] ?? now
        healthySince[unit] = since
        everHealthy.insert(unit)
        return .healthy(since: since)
    }

    /// nil when the check passes, else what went wrong.
    private func probe(_ health: ServiceSpec.HealthCheck, port: Int) async -> String? {
        do {
            let response = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)\(health.path)"),
                timeout: TimeAmount(Duration.seconds(clamping: health.timeoutSeconds))
            )
            let body = try await response.body.collect(upTo: 4096)
            guard (200..<300).contains(response.status.code) else {
                return "HTTP \(response.status.code) \(String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines))"
            }
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// A failure with the last lines the instance wrote, so the reason shows why it failed.
    private func explain(_ failure: String, unit: String) -> String {
        let lines = ((try? journal.entries(of: unit, last: 5)) ?? []).map(\.message).filter { !$0.isEmpty }
        return lines.isEmpty ? "\(unit): \(failure)" : "\(unit): \(failure); last lines: \(lines.joined(separator: " | "))"
    }
}
