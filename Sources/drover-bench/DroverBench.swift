import ArgumentParser

/// Benchmarks print figures side by side; they pass or fail nothing. Run them in release:
/// `swift run -c release drover-bench systemd`.
@main
struct DroverBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drover-bench",
        abstract: "Measure Drover against the plain tools it replaces.",
        subcommands: [SystemdBenchmark.self, AgentBenchmark.self, RolloutBenchmark.self, ScaleBenchmark.self, CLIBenchmark.self, ReadsBenchmark.self,
                      MemoryBenchmark.self, LoadBenchmark.self]
    )
}
