/// Awaits `condition` by checking it every `interval` until it holds or `timeout` passes.
/// For tests and the test bed: a condition awaited with a deadline, never a bare sleep.
/// Returns whether the condition held.
@discardableResult
public func waitUntil(
    timeout: Duration = .seconds(10),
    interval: Duration = .milliseconds(10),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while true {
        if try await condition() { return true }
        if clock.now >= deadline { return false }
        try? await Task.sleep(for: interval)
    }
}
