import ArgumentParser
import DroverSystemd
import DroverTestbed
import Foundation

/// Drover's sd-bus client against `systemctl`, on a throwaway systemd user manager:
/// latency of one start, and wall time of many concurrent starts. Also compares one shared
/// connection with one connection per caller, the choice `SystemdClient` is built on.
struct SystemdBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "systemd",
        abstract: "Start latency and concurrent starts: Drover's sd-bus client vs systemctl."
    )

    @Option(help: "Starts measured for the single-unit latency, per tool.")
    var iterations = 50

    @Option(help: "Template instances started at once.")
    var instances = 100

    @Option(help: "Rounds of the concurrent start, per tool.")
    var rounds = 5

    func validate() throws {
        guard iterations > 0, instances > 0, rounds > 0 else {
            throw ValidationError("--iterations, --instances and --rounds must be positive")
        }
        guard getuid() == 0 else {
            throw ValidationError("the benchmark boots a throwaway systemd in its own cgroup and mount namespace: run it as root")
        }
    }

    func run() async throws {
        let manager = try await ThrowawayUserManager.boot(journal: false)
        do {
            try await measure(on: manager)
        } catch {
            await manager.shutdown()
            throw error
        }
        await manager.shutdown()
    }

    private func measure(on manager: ThrowawayUserManager) async throws {
        let systemd = try await SystemdClient.connect(to: manager.busAddress)
        try manager.installUnit("bench-one.service", contents: Self.unit)
        try manager.installUnit("bench-many@.service", contents: Self.unit)
        try await systemd.reload()
        let systemctl = Systemctl(environment: manager.systemctlEnvironment)
        let clock = ContinuousClock()

        printHeader()

        // 1. One unit: StartUnit until the job is done (the unit active), alternating tools.
        var viaClient = Timings(), viaSystemctl = Timings()
        for _ in 0..<iterations {
            viaClient.add(try await clock.measure { try await systemd.startUnit("bench-one.service") })
            try await systemd.stopUnit("bench-one.service")
            viaSystemctl.add(try await clock.measure { try await systemctl.run("start", "bench-one.service") })
            try await systemd.stopUnit("bench-one.service")
        }
        print("Start one unit until active (\(iterations) times each)")
        printRow("", "median ms", "p95 ms", "min ms", "max ms")
        for (name, timings) in [("sd-bus client", viaClient), ("systemctl --user start", viaSystemctl)] {
            printRow(name, timings.median.milliseconds, timings.p95.milliseconds, timings.min.milliseconds, timings.max.milliseconds)
        }
        print("speed-up (median): \(ratio(viaSystemctl.median, viaClient.median))x\n")

        // 2. Many template instances at once.
        let names = (1...instances).map { "bench-many@\($0).service" }
        var shared = Timings(), perCaller = Timings(), parallelSystemctl = Timings()
        for _ in 0..<rounds {
            shared.add(try await timedStartAll(names, systemd: systemd, clock: clock) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for name in names { group.addTask { try await systemd.startUnit(name) } }
                    try await group.waitForAll()
                }
            })
            perCaller.add(try await timedStartAll(names, systemd: systemd, clock: clock) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for name in names {
                        group.addTask {
                            let own = try await SystemdClient.connect(to: manager.busAddress)
                            try await own.startUnit(name)
                            await own.close()
                        }
                    }
                    try await group.waitForAll()
                }
            })
            parallelSystemctl.add(try await timedStartAll(names, systemd: systemd, clock: clock) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for name in names { group.addTask { try await systemctl.run("start", name) } }
                    try await group.waitForAll()
                }
            })
        }
        print("Start \(instances) template instances concurrently, wall time (\(rounds) rounds each)")
        printRow("", "median ms", "min ms", "max ms", "")
        for (name, timings) in [
            ("sd-bus, one shared connection", shared),
            ("sd-bus, one connection per call", perCaller),
            ("\(instances) parallel systemctl", parallelSystemctl),
        ] {
            printRow(name, timings.median.milliseconds, timings.min.milliseconds, timings.max.milliseconds, "")
        }
        print("speed-up vs systemctl (median): shared \(ratio(parallelSystemctl.median, shared.median))x,"
              + " per call \(ratio(parallelSystemctl.median, perCaller.median))x")
        await systemd.close()
    }

    /// Times `start`, then checks every instance is active and stops them all (untimed).
    private func timedStartAll(
        _ names: [String], systemd: SystemdClient, clock: ContinuousClock, _ start: () async throws -> Void
    ) async throws -> Duration {
        let elapsed = try await clock.measure(start)
        let active = try await systemd.listUnits(matching: ["bench-many@*.service"], states: ["active"])
        guard active.count == names.count else {
            throw ValidationError("only \(active.count) of \(names.count) instances became active")
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for name in names { group.addTask { try await systemd.stopUnit(name) } }
            try await group.waitForAll()
        }
        return elapsed
    }

    private func printHeader() {
        let info = ProcessInfo.processInfo
        let kernel = (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        print("drover-bench systemd — \(info.activeProcessorCount) CPUs, "
              + "\(info.physicalMemory >> 30) GiB, Linux \(kernel), throwaway systemd user manager\n")
    }

    private func printRow(_ name: String, _ a: String, _ b: String, _ c: String, _ d: String) {
        print("  " + name.padded(34) + a.padded(11) + b.padded(11) + c.padded(11) + d)
    }

    private func ratio(_ slow: Duration, _ fast: Duration) -> String {
        let fastSeconds = Double(fast.components.attoseconds) / 1e18 + Double(fast.components.seconds)
        let slowSeconds = Double(slow.components.attoseconds) / 1e18 + Double(slow.components.seconds)
        return fastSeconds > 0 ? String(format2: slowSeconds / fastSeconds, decimals: 1) : "∞"
    }

    /// A long-running process; `Type=exec` makes the start job wait until it has exec'd.
    static let unit = """
        [Service]
        Type=exec
        ExecStart=/bin/sleep infinity
        StandardOutput=null

        """
}

/// `systemctl --user` against the throwaway manager, for comparison only.
struct Systemctl: Sendable {
    let environment: [String: String]

    func run(_ arguments: String...) async throws {
        let child = try ChildProcess.spawn("/usr/bin/systemctl", ["--user"] + arguments, environment: environment)
        let status = await child.wait()
        guard status == 0 else {
            throw ValidationError("systemctl --user \(arguments.joined(separator: " ")) exited with \(status)")
        }
    }
}
