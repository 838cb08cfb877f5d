/// The ranges the agent accepts for numbers that come from outside: requests, manifests and
/// stored records. Each number is checked against its range once, where it is decoded, so
/// arithmetic on it later cannot overflow or trap. `openapi.json` states the same ranges (a
/// test keeps the two equal).
public enum Bounds {
    /// Instances of one service on one host; also the ceiling of `max_instances`.
    public static let instances: ClosedRange<Int> = 0...10_000
    /// Instances added or removed by one autoscaling step, or surged during a rollout.
    public static let step: ClosedRange<Int> = 1...10_000
    /// A memory amount (a limit or a target): 1 MiB to 1 PiB.
    public static let memoryBytes: ClosedRange<UInt64> = (1 << 20)...(1 << 50)
    /// A `CPUQuota=`, in percent of one CPU: up to 1000 CPUs.
    public static let cpuPercent: ClosedRange<Int> = 1...100_000
    /// A CPU target, in cores: one thousandth of a core up to 1000 cores.
    public static let cpuCores: ClosedRange<Double> = 0.001...1_000
    /// A duration in seconds given in JSON: up to one day.
    public static let seconds: ClosedRange<Double> = 0...86_400
}
