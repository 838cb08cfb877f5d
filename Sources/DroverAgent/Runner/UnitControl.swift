import DroverSystemd

/// What the agent asks of systemd, and no more: the seam where the runners' decisions meet
/// the manager. `SystemdClient` (sd-bus) is what the agent runs with and what every
/// end-to-end test drives; in-process tests of routing, error mapping and a runner's
/// decisions may put a stand-in here, where a real manager would add nothing.
protocol UnitControl: Sendable {
    /// Loaded units whose names match any of `patterns` (shell globs).
    func listUnits(matching patterns: [String]) async throws -> [UnitListEntry]
    /// The statuses of `units`; a unit that cannot be read is left out.
    func statuses(of units: [String]) async -> [String: UnitStatus]
    func status(of unit: String) async throws -> UnitStatus
    /// Starts `unit` and returns once its start job has finished (failed: throws).
    func startUnit(_ unit: String) async throws
    func stopUnit(_ unit: String) async throws
    /// `stopUnit`, calling `whenQueued` once systemd has taken the stop (the instance is on its
    /// way down) or the call failed; possibly more than once.
    func stopUnit(_ unit: String, whenQueued: @escaping @Sendable () -> Void) async throws
    func resetFailed(_ unit: String) async throws
    /// Reloads unit files (`daemon-reload`).
    func reload() async throws
    /// Changes resource limits of a running unit, without a restart.
    func setProperties(of unit: String, _ changes: [UnitPropertyChange]) async throws
    /// Every change of a unit, as systemd signals it.
    func unitChanges() -> AsyncStream<UnitChange>
}

extension UnitControl {
    /// For stand-ins whose stops take effect at once.
    func stopUnit(_ unit: String, whenQueued: @escaping @Sendable () -> Void) async throws {
        defer { whenQueued() }
        try await stopUnit(unit)
    }
}

extension SystemdClient: UnitControl {
    func listUnits(matching patterns: [String]) async throws -> [UnitListEntry] {
        try await listUnits(matching: patterns, states: [])
    }

    func startUnit(_ unit: String) async throws {
        try await startUnit(unit, mode: .replace)
    }

    func stopUnit(_ unit: String) async throws {
        try await stopUnit(unit, mode: .replace)
    }

    func stopUnit(_ unit: String, whenQueued: @escaping @Sendable () -> Void) async throws {
        try await stopUnit(unit, mode: .replace, whenQueued: whenQueued)
    }

    func setProperties(of unit: String, _ changes: [UnitPropertyChange]) async throws {
        try await setProperties(of: unit, changes, runtime: true)
    }
}
