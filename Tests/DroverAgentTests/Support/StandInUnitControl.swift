@testable import DroverAgent
import DroverSystemd
import Foundation
import Synchronization

/// A stand-in for systemd in in-process tests of decisions (what the agent refuses, what it
/// records, which runner exists), where a real manager would add nothing. Units start and stop
/// at once; nothing is executed. End-to-end behaviour is tested on real managers elsewhere.
final class StandInUnitControl: UnitControl {
    private let states = Mutex<[String: String]>([:])
    private let listeners = Mutex<[AsyncStream<UnitChange>.Continuation]>([])
    /// Every call, in order ("start web_1@1.service", "reload", …).
    let calls = Mutex<[String]>([])

    func listUnits(matching patterns: [String]) async throws -> [UnitListEntry] {
        states.withLock { states in
            states.filter { name, _ in patterns.contains { fnmatch($0, name, 0) == 0 } }
                .map { UnitListEntry(name: $0.key, description: "", loadState: "loaded", activeState: $0.value, subState: $0.value == "active" ? "running" : "dead") }
        }
    }

    func statuses(of units: [String]) async -> [String: UnitStatus] {
        var result: [String: UnitStatus] = [:]
        for unit in units { if let status = try? await status(of: unit) { result[unit] = status } }
        return result
    }

    func status(of unit: String) async throws -> UnitStatus {
        let state = states.withLock { $0[unit] } ?? "inactive"
        return UnitStatus(name: unit, activeState: state, subState: state == "active" ? "running" : "dead")
    }

    func startUnit(_ unit: String) async throws { set(unit, "active", call: "start") }
    func stopUnit(_ unit: String) async throws { set(unit, "inactive", call: "stop") }
    func resetFailed(_ unit: String) async throws { calls.withLock { $0.append("reset-failed \(unit)") } }
    func reload() async throws { calls.withLock { $0.append("reload") } }
    func setProperties(of unit: String, _ changes: [UnitPropertyChange]) async throws { calls.withLock { $0.append("set-properties \(unit)") } }

    func unitChanges() -> AsyncStream<UnitChange> {
        let (stream, continuation) = AsyncStream<UnitChange>.makeStream()
        listeners.withLock { $0.append(continuation) }
        return stream
    }

    private func set(_ unit: String, _ state: String, call: String) {
        states.withLock { $0[unit] = state }
        calls.withLock { $0.append("\(call) \(unit)") }
        for listener in listeners.withLock({ $0 }) { listener.yield(UnitChange(unit: unit, removed: false)) }
    }
}
