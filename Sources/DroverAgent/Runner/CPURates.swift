import DroverCore

/// CPU rates of instances for the API and `/metrics`: each reading is compared with the
/// previous one of the same unit, whoever asked for it. Units no longer listed are forgotten.
actor CPURates {
    private var meters: [ServiceName: CPURateMeter] = [:]
    private let epoch = ContinuousClock.now

    /// Rates in cores of the service's instances, given each one's cumulative CPU time (µs)
    /// and when it was read (a reading served twice is not a second measurement).
    func rates(of service: ServiceName, _ usage: [String: UInt64], at times: [String: ContinuousClock.Instant]) -> [String: Double] {
        let now = ContinuousClock.now
        var meter = meters[service] ?? CPURateMeter()
        var result: [String: Double] = [:]
        for (unit, microseconds) in usage {
            result[unit] = meter.rate(of: unit, microseconds: microseconds, at: (times[unit] ?? now) - epoch)
        }
        meter.keep(only: Set(usage.keys))
        meters[service] = meter
        return result
    }
}
