import DroverSystemd
import Foundation
import Logging
import ServiceLifecycle

/// The service Drover's tests run under systemd. It speaks sd_notify through Drover's own
/// `SystemdNotifier` and `WatchdogService`, so tests of readiness and the watchdog exercise
/// that code. Options (each optional):
///
///     --print LINE           write LINE to stdout at start (repeatable)
///     --exit-code N          exit with status N right after printing
///     --ready-when-exists P  say STATUS=waiting and hold READY=1 back until file P exists
///     --no-watchdog          never send WATCHDOG=1 (to be killed by WatchdogSec=)
///
/// Otherwise it answers HTTP on `$PORT` (if set), says READY=1 and runs until SIGTERM.
@main
struct Fixture {
    static func main() async throws {
        let options = try Options(CommandLine.arguments.dropFirst())
        // Unbuffered writes: each line reaches the journal at once, even if we exit next.
        for line in options.lines { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        if let code = options.exitCode { exit(code) }

        let notifier = SystemdNotifier()
        if let path = options.readyWhenExists {
            notifier.notify(.status("waiting for \(path)"))
            while !FileManager.default.fileExists(atPath: path) {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        if let port = ProcessInfo.processInfo.environment["PORT"].flatMap(Int.init) {
            try HTTPResponder.start(port: port)
        }
        notifier.notify(.ready, .status("serving"))

        let logger = Logger(label: "drover-fixture")
        let service: any Service = options.feedWatchdog ? WatchdogService(logger: logger) : UntilShutdown()
        let group = ServiceGroup(services: [service], gracefulShutdownSignals: [.sigterm], logger: logger)
        try await group.run()
    }
}

/// Runs until graceful shutdown, doing nothing.
struct UntilShutdown: Service {
    func run() async throws {
        try? await gracefulShutdown()
    }
}

struct Options {
    var lines: [String] = []
    var exitCode: Int32?
    var readyWhenExists: String?
    var feedWatchdog = true

    init<Arguments: Collection<String>>(_ arguments: Arguments) throws {
        var iterator = arguments.makeIterator()
        func value(for flag: String) throws -> String {
            guard let value = iterator.next() else { throw FixtureError("\(flag) needs a value") }
            return value
        }
        while let argument = iterator.next() {
            switch argument {
            case "--print": lines.append(try value(for: argument))
            case "--exit-code":
                let text = try value(for: argument)
                guard let code = Int32(text) else { throw FixtureError("--exit-code takes a number, not \(text)") }
                exitCode = code
            case "--ready-when-exists": readyWhenExists = try value(for: argument)
            case "--no-watchdog": feedWatchdog = false
            default: throw FixtureError("unknown option \(argument)")
            }
        }
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
