@testable import DroverAgent
import DroverCore
import DroverSystemd
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
        try await systemd.units.startUnit(unit)
        let view = UnitView(service: service, systemd: systemd)
        #expect(await view.instanceUnits().map(\.name) == [unit])

        // A read that asked while the unit was active, answered only after it stopped.
        await view.touched([unit])
        let (entered, enteredContinuation) = AsyncStream<Void>.makeStream()
        let (release, releaseContinuation) = AsyncStream<Void>.makeStream()
        systemd.hold.withLock { $0 = (entered: enteredContinuation, release: release) }
        let read = Task { await view.instanceUnits() }
        for await _ in entered { break }
        try await systemd.units.stopUnit(unit)
        await view.touched([], stopped: [unit])
        releaseContinuation.yield()
        _ = await read.value

        let after = await view.instanceUnits()
        #expect(after.isEmpty, "\(after.map { "\($0.name) \($0.activeState)" })")
    }
}

/// The stand-in for systemd whose `statuses(of:)`, when held, reads the states and then waits
/// for the test's word before answering with what it read.
private final class HeldUnitControl: UnitControl {
    let units = StandInUnitControl()
    let hold = Mutex<(entered: AsyncStream<Void>.Continuation, release: AsyncStream<Void>)?>(nil)

    func statuses(of names: [String]) async -> [String: UnitStatus] {
        let result = await units.statuses(of: names)
        if let held = hold.withLock({ hold in defer { hold = nil }; return hold }) {
            held.entered.yield()
            for await _ in held.release { break }
        }
        return result
    }

    func listUnits(matching patterns: [String]) async throws -> [UnitListEntry] { try await units.listUnits(matching: patterns) }
    func status(of unit: String) async throws -> UnitStatus { try await units.status(of: unit) }
    func startUnit(_ unit: String) async throws { try await units.startUnit(unit) }
    func stopUnit(_ unit: String) async throws { try await units.stopUnit(unit) }
    func resetFailed(_ unit: String) async throws {}
    func reload() async throws {}
    func setProperties(of unit: String, _ changes: [UnitPropertyChange]) async throws {}
    func unitChanges() -> AsyncStream<UnitChange> { AsyncStream { $0.finish() } }
}
