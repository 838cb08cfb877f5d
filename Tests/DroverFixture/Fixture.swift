import DroverSystemd
import Foundation
import Logging
import ServiceLifecycle

/// The service Drover's tests and benchmarks run under systemd. It speaks sd_notify through
/// Drover's own `SystemdNotifier` and `WatchdogService`, serves HTTP on `$PORT` (or on the
/// listening socket systemd passes, `$LISTEN_FDS`), and can misbehave on request:
///
///     --print LINE              write LINE to stdout at start (repeatable)
///     --exit-code N             exit with status N right after printing (fail at start)
///     --start-delay S           take S seconds to start (before listening and READY=1)
///     --ready-when-exists P     say STATUS=waiting and hold READY=1 back until file P exists
///     --never-ready             listen, but never send READY=1
///     --exit-after S            exit with status 1 after S seconds of running
///     --unhealthy-after S       answer /healthz with 503 after S seconds
///     --no-watchdog             never send WATCHDOG=1 (to be killed by WatchdogSec=)
///     --watchdog-check-fails    feed the watchdog only after a health check, which always fails
///
/// HTTP: `/healthz` (200 "ok", or 503), `/burn?ms=N` (N ms of CPU), `/hold?mb=N` (keep N MB
/// allocated), anything else: one line naming the instance
/// (`drover-fixture version=<v> instance=<i> port=<p> pid=<pid>`).
/// On SIGTERM it stops accepting, finishes the requests in hand, and exits.
@main
struct Fixture {
    static func main() async {
        do {
            try await run()
        } catch {
            FileHandle.standardError.write(Data("drover-fixture: \(error)\n".utf8))
            exit(2)
        }
    }

    static func run() async throws {
        let options = try Options(CommandLine.arguments.dropFirst())
        // Unbuffered writes: each line reaches the journal at once, even if we exit next.
        for line in options.lines { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        if let code = options.exitCode { exit(code) }
        if let delay = options.startDelay { try await Task.sleep(for: .seconds(delay)) }

        let notifier = SystemdNotifier()
        if let path = options.readyWhenExists {
            notifier.notify(.status("waiting for \(path)"))
            while !FileManager.default.fileExists(atPath: path) {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        let environment = ProcessInfo.processInfo.environment
        let server = try HTTPResponder.listening(environment: environment, unhealthyAfter: options.unhealthyAfter)
        if !options.neverReady { notifier.notify(.ready, .status("serving")) }

        let logger = Logger(label: "drover-fixture")
        var services: [any Service] = server.map { [$0] } ?? []
        if !options.feedWatchdog {
            services.append(UntilShutdown())
        } else if options.watchdogCheckFails {
            services.append(WatchdogService(logger: logger, check: { throw FixtureError("the health check fails, as asked") }))
        } else {
            services.append(WatchdogService(logger: logger))
        }
        if let seconds = options.exitAfter { services.append(ExitAfter(seconds: seconds)) }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm], logger: logger)
        try await group.run()
    }
}

/// Runs until graceful shutdown, doing nothing.
struct UntilShutdown: Service {
    func run() async throws {
        try? await gracefulShutdown()
    }
}

/// Ends the process with status 1 after a while: a service that crashes in production.
struct ExitAfter: Service {
    let seconds: Double
    func run() async throws {
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(seconds)) }
        if !Task.isCancelled { exit(1) }
    }
}

struct Options {
    var lines: [String] = []
    var exitCode: Int32?
    var startDelay: Double?
    var readyWhenExists: String?
    var neverReady = false
    var exitAfter: Double?
    var unhealthyAfter: Double?
    var feedWatchdog = true
    var watchdogCheckFails = false

    init<Arguments: Collection<String>>(_ arguments: Arguments) throws {
        var iterator = arguments.makeIterator()
        func value(for flag: String) throws -> String {
            guard let value = iterator.next() else { throw FixtureError("\(flag) needs a value") }
            return value
        }
        func seconds(for flag: String) throws -> Double {
            let text = try value(for: flag)
            guard let seconds = Double(text), seconds >= 0 else { throw FixtureError("\(flag) takes seconds, not \(text)") }
            return seconds
        }
        while let argument = iterator.next() {
            switch argument {
            case "--print": lines.append(try value(for: argument))
            case "--exit-code":
                let text = try value(for: argument)
                guard let code = Int32(text) else { throw FixtureError("--exit-code takes a number, not \(text)") }
                exitCode = code
            case "--start-delay": startDelay = try seconds(for: argument)
            case "--ready-when-exists": readyWhenExists = try value(for: argument)
            case "--never-ready": neverReady = true
            case "--exit-after": exitAfter = try seconds(for: argument)
            case "--unhealthy-after": unhealthyAfter = try seconds(for: argument)
            case "--no-watchdog": feedWatchdog = false
            case "--watchdog-check-fails": watchdogCheckFails = true
            default: throw FixtureError("unknown option \(argument)")
            }
        }
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
