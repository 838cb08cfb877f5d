@testable import DroverAgent
import DroverCore
import DroverSystemd
import Foundation
import Synchronization
import Testing

/// The view's bookkeeping when systemd's answers and the runner's own changes cross. The
/// interleaving is what is under test, so systemd is a stand-in that can hold an answer back;
/// the view's behaviour against a real manager is covered end to end by the deployment suites.
@Suite struct UnitViewTests {
    /// A unit whose stop finished while a read asked before it was still under way must not
    /// come back from that read as active: a rolling deploy's sampler once saw count + surge + 1
    /// "active" instances, one of them already stopped.
    @Test func aStopThatFinishesDuringAReadDoesNotComeBackAsActive() async throws {
        let service = try ServiceName("web")
        let unit = UnitNames.instance(service, try ReleaseVersion("1"), slot: 1)
        let systemd = HeldUnitControl()
        systemd.states.withLock { $0[unit] = "active" }
        let view = UnitView(service: service, systemd: systemd)
        #expect(await view.instanceUnits().map(\.name) == [unit])

        // A read that asked while the unit was active, answered only after it stopped.
        await view.touched([unit])
        let (entered, enteredContinuation) = AsyncStream<Void>.makeStream()
        let (release, releaseContinuation) = AsyncStream<Void>.makeStream()
        systemd.hold.withLock { $0 = (entered: enteredContinuation, release: release) }
        let read = Task { await view.instanceUnits() }
        for await _ in entered { break }
        systemd.states.withLock { $0[unit] = "inactive" }
        await view.touched([], stopped: [unit])
        releaseContinuation.yield()
        _ = await read.value

        let after = await view.instanceUnits()
        #expect(after.isEmpty, "\(after.map { "\($0.name) \($0.activeState)" })")
    }
}

/// Units in the states a test sets; `statuses(of:)` reads them, then, when held, waits for
/// the test's word before answering with what it read.
private final class HeldUnitControl: UnitControl {
    let states = Mutex<[String: String]>([:])
    let hold = Mutex<(entered: AsyncStream<Void>.Continuation, release: AsyncStream<Void>)?>(nil)

    func listUnits(matching patterns: [String]) async throws -> [UnitListEntry] {
        states.withLock { states in
            states.filter { name, _ in patterns.contains { fnmatch($0, name, 0) == 0 } }
                .map { UnitListEntry(name: $0.key, description: "", loadState: "loaded", activeState: $0.value, subState: $0.value == "active" ? "running" : "dead") }
        }
    }

    func statuses(of units: [String]) async -> [String: UnitStatus] {
        var result: [String: UnitStatus] = [:]
        for unit in units { result[unit] = try? await status(of: unit) }
        if let held = hold.withLock({ hold in defer { hold = nil }; return hold }) {
            held.entered.yield()
            for await _ in held.release { break }
        }
        return result
    }

    func status(of unit: String) async throws -> UnitStatus {
        let state = states.withLock { $0[unit] } ?? "inactive"
        return UnitStatus(name: unit, activeState: state, subState: state == "active" ? "running" : "dead")
    }

    func startUnit(_ unit: String) async throws {}
    func stopUnit(_ unit: String) async throws {}
    func resetFailed(_ unit: String) async throws {}
    func reload() async throws {}
    func setProperties(of unit: String, _ changes: [UnitPropertyChange]) async throws {}
    func unitChanges() -> AsyncStream<UnitChange> { AsyncStream { $0.finish() } }
}
