import ArgumentParser
import DroverTOML
import Foundation

/// `drover`: deploys, rolls back, scales and watches services on hosts running drover-agent.
/// Stateless: the agents hold the state; the repository holds the manifests (`deploy/`) and
/// the inventory (`deploy/hosts.toml`).
public struct Drover: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "drover",
        abstract: "Deploy, roll back, scale and watch services on hosts that run drover-agent.",
        discussion: """
            Reads deploy/<service>.toml (one manifest per service) and an inventory of hosts \
            (deploy/hosts.toml, or --inventory / $DROVER_INVENTORY), and talks to every agent.

            Exit codes: 0 ok, 1 an operation failed, 2 a usage or input error, 3 a host was unreachable, 130 interrupted (Ctrl-C).

            Example:
              drover deploy web && drover status web
            """,
        subcommands: [
            Hosts.self, Deploy.self, Promote.self, Abort.self, Rollback.self, Scale.self, Autoscale.self, Limits.self, Exec.self, Status.self, Logs.self,
            History.self, Releases.self, Lock.self, Unlock.self, Delete.self, Validate.self,
        ]
    )

    @OptionGroup public var global: GlobalOptions

    public init() {}

    /// Runs a command line and returns its exit code; everything is written to `terminal`.
    /// The `drover` executable and the tests both come through here.
    public static func run(_ arguments: [String], terminal: Terminal = .standard()) async -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            if var command = command as? any DroverCommand {
                try await command.run(terminal: terminal)
            } else if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
            return 0
        } catch let failure as CommandFailure {
            if !failure.message.isEmpty { terminal.note(terminal.styled("error: ", .red) + failure.message) }
            return failure.code
        } catch let error as InputError {
            terminal.note(terminal.styled("error: ", .red) + error.description)
            return ExitCodes.input
        } catch {
            let code = exitCode(for: error).rawValue
            let text = code == 0 ? exampleLast(fullMessage(for: error)) : fullMessage(for: error)
            if code == 0 { terminal.print(text) } else { terminal.note(text) }
            return code == 0 ? 0 : (code == 64 || code == 1 ? ExitCodes.input : code)
        }
    }
}

extension Drover {
    /// Help ends with the command's example, where a reader who scrolled to the options
    /// finds it (ArgumentParser prints the discussion, which holds it, before the usage).
    static func exampleLast(_ help: String) -> String {
        guard let example = help.range(of: "\nExample:\n"),
              let usage = help.range(of: "\nUSAGE:", range: example.upperBound..<help.endIndex) else { return help }
        let block = help[example.lowerBound..<usage.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
        let rest = help[..<example.lowerBound] + help[usage.lowerBound...]
        return rest.trimmingCharacters(in: .newlines) + "\n\n" + block + "\n"
    }
}

/// A `drover` subcommand: runs against a `Terminal` so tests can read what it printed.
protocol DroverCommand: AsyncParsableCommand {
    mutating func run(terminal: Terminal) async throws
}

extension DroverCommand {
    public mutating func run() async throws {
        try await run(terminal: .standard())
    }
}

/// The exit codes pipelines branch on.
public enum ExitCodes {
    public static let ok: Int32 = 0
    public static let failed: Int32 = 1
    public static let input: Int32 = 2
    public static let unreachable: Int32 = 3
    /// Ctrl-C stopped a fleet operation (128 + SIGINT, as shells report it).
    public static let interrupted: Int32 = 130
}

/// A command that ended without success, with its code; the message (if any) goes to stderr.
struct CommandFailure: Error {
    let code: Int32
    let message: String
}
