import Foundation

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

/// True while `pid` is a live process (a zombie, killed but not yet reaped, counts as gone).
public func isProcessRunning(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")")
    else { return false }
    let state = stat[stat.index(after: close)...].split(separator: " ").first
    return state != "Z" && state != "X"
}
