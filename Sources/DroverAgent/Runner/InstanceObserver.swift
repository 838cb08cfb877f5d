import AsyncHTTPClient
import DroverCore
import DroverSystemd
import Foundation
import NIOCore

/// Turns what systemd (and each instance's health check) says into the planner's view:
/// `RolloutInstance`s with conditions and times. It remembers, across observations of one
/// rollout, when each instance was started, since when it has been healthy, and what its
/// health check said last (asked again every `health.intervalSeconds`, not at every look).
final class InstanceObserver: @unchecked Sendable {
    // @unchecked: used by one rollout task at a time, never concurrently.
    private let service: ServiceName
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
    /// Each unit's last health check: when, and its problem (nil: passed).
    private var lastProbe: [String: (at: Duration, problem: String?)] = [:]
    /// When the next health check of an instance being watched is due.
    private(set) var nextProbe: Duration?
    /// A new instance must pass a check at the end of this window too, not only at its start.
    private var minHealthy: Duration = .zero

    init(service: ServiceName, journal: JournalReader) {
        self.service = service
        self.journal = journal
    }

    var now: Duration { ContinuousClock.now - origin }

    /// Notes that the rollout started `unit` now (its deadline runs from here).
    func started(_ unit: String) {
        startedAt[unit] = now
        notes[unit] = nil
        healthySince[unit] = nil
        everHealthy.remove(unit)
        lastProbe[unit] = nil
    }

    /// Every instance of the service that runs, starts or failed, as the planner sees it, from
    /// the owner's view of its `units`. `specs` gives each version's spec (for its health
    /// check); `ports` each slot's port.
    func observe(units: [UnitStatus], specs: [ReleaseVersion: ServiceSpec], ports: [Int: Int], target: ReleaseVersion,
                 minHealthy: Duration) async -> [RolloutInstance] {
        self.minHealthy = minHealthy
        var instances: [RolloutInstance] = []
        nextProbe = nil
        for status in units {
            guard let parsed = UnitNames.parseInstance(status.name), parsed.service == service else { continue }
            let unit = status.name
            let seen = firstSeen[unit] ?? now
            firstSeen[unit] = seen
            let condition = await condition(of: status, unit: unit, isNew: parsed.version == target,
                                            health: specs[parsed.version]?.health, port: ports[parsed.slot])
            instances.append(RolloutInstance(slot: parsed.slot, version: parsed.version,
                                             startedAt: startedAt[unit] ?? seen, condition: condition, note: notes[unit]))
        }
        // One this rollout started that is gone from the view ran and ended by itself.
        let present = Set(units.map(\.name))
        for (unit, started) in startedAt where !present.contains(unit) {
            guard let parsed = UnitNames.parseInstance(unit) else { continue }
            instances.append(RolloutInstance(slot: parsed.slot, version: parsed.version, startedAt: started,
                                             condition: .failed(reason: await explain("stopped by itself", unit: unit)), note: notes[unit]))
        }
        return instances
    }

    /// Notes that the rollout stopped `unit` (it is not expected to run any more).
    func stopped(_ unit: String) {
        startedAt[unit] = nil
    }

    private func condition(of status: UnitStatus, unit: String, isNew: Bool, health: ServiceSpec.HealthCheck?, port: Int?) async -> RolloutInstance.Condition {
        let ours = startedAt[unit] != nil
        switch InstanceState(activeState: status.activeState, hasJob: status.jobID != 0) {
        case .failed:
            return .failed(reason: await explain(InstanceFailure.describe(status), unit: unit))
        case .idle:
            return .failed(reason: await explain("stopped by itself (\(InstanceFailure.describe(status)))", unit: unit))
        case .running:
            if isNew, ours, let restarts = status.restartCount, restarts > 0 {
                return .failed(reason: await explain("crashed and was restarted \(restarts) time(s)", unit: unit))
            }
            guard let health, let port else { return healthy(unit) }
            if let problem = await checkHealth(of: unit, health, port: port, isNew: isNew) {
                if everHealthy.contains(unit) && isNew {
                    return .failed(reason: await explain("health check \(health.path) failed after passing: \(problem)", unit: unit))
                }
                healthySince[unit] = nil
                notes[unit] = "health check \(health.path): \(problem)"
                return .starting
            }
            return healthy(unit)
        case .starting, .stopping:
            // Starting, restarting, stopping, or inactive with a start job queued (one a
            // superseded rollout left in flight: it holds its slot).
            if status.subState == "auto-restart", isNew, ours {
                return .failed(reason: await explain("crashed and is being restarted (\(InstanceFailure.describe(status)))", unit: unit))
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

    /// The unit's health: its last check while that is fresh, else a new one. A failing check
    /// of a new instance is asked again at the interval; a passing one too, so that one that
    /// fails after passing fails the rollout.
    private func checkHealth(of unit: String, _ health: ServiceSpec.HealthCheck, port: Int, isNew: Bool) async -> String? {
        var interval = Duration.seconds(clamping: health.intervalSeconds)
        if isNew { interval = min(interval, max(minHealthy, .milliseconds(50))) }
        let result: String?
        if let last = lastProbe[unit], now - last.at < interval {
            result = last.problem
        } else {
            result = await probe(health, port: port)
            lastProbe[unit] = (now, result)
        }
        let due = lastProbe[unit]!.at + interval
        nextProbe = min(nextProbe ?? due, due)
        return result
    }

    /// nil when the check passes, else what went wrong.
    private func probe(_ health: ServiceSpec.HealthCheck, port: Int) async -> String? {
        do {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(health.path)")
            // No kept-alive connection left behind: an instance that drains its connections on
            // SIGTERM would wait for this idle one (the fixture's stop took 5 s instead of ms).
            request.headers.add(name: "Connection", value: "close")
            let response = try await HTTPClient.shared.execute(
                request, timeout: TimeAmount(Duration.seconds(clamping: health.timeoutSeconds))
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
    private func explain(_ failure: String, unit: String) async -> String {
        await journal.withLastLines("\(unit): \(failure)", of: unit)
    }
}
