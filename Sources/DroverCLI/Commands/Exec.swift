import ArgumentParser
import DroverAPI
import DroverClient
import DroverCore
import DroverTOML
import Foundation

extension Drover {
    /// `drover exec`: a command once, in the current release's environment on one host (its
    /// files, environment, secrets, limits and sandbox, a PORT of its own), its output streamed
    /// back and its exit status drover's.
    struct Exec: DroverCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a command once in a service's current release, on one of its hosts; its exit status is drover's.",
            discussion: """
                The command runs as a unit of its own with the release's files (its working \
                directory), environment, secrets, limits and sandbox, and a PORT no instance uses. \
                A first word with a '/' (./web, bin/task) is inside the release; a bare name is \
                found in systemd's PATH. Its output (stdout and stderr) streams back; --timeout \
                bounds it (default 3600 s); Ctrl-C stops it on the host. Needs a deploy token, \
                and is recorded in the host's history with the token's name. No terminal is \
                attached: interactive consoles are not supported.

                Exit: the command's status; 128+N when killed by signal N; 1 when it could not \
                start or hit its time limit; 2 bad input; 3 the host was unreachable.

                Example:
                  drover exec web -- ./web console --check
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The service.") var service: String
        @Option(help: ArgumentHelp("The host to run on (default: the service's first host).", valueName: "host")) var host: String?
        @Option(help: ArgumentHelp("The release to run in (default: the current one).", valueName: "version")) var version: String?
        @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.") var command: [String] = []

        func validate() throws {
            guard !command.isEmpty else { throw ValidationError("give the command after --, like: drover exec web -- ./web migrate") }
        }

        mutating func run(terminal: Terminal) async throws {
            let context = try CommandContext(global, terminal: terminal)
            let name = try context.service(service)
            let hosts = try context.hosts(for: try context.manifest(name, required: false))
            let target: Inventory.Host
            if let host {
                guard let chosen = hosts.first(where: { $0.name == host }) else {
                    throw InputError(file: "--host", line: nil, key: nil, problem: "\(host) is not one of \(name)'s hosts (\(hosts.map(\.name).joined(separator: ", ")))")
                }
                target = chosen
            } else {
                target = hosts[0]
            }
            let timeout = context.global.givenTimeout.map { Int(max(1, min(86_400, $0.rounded(.up)))) }
            let request = RunRequest(command: command, version: try version.map { try context.version($0, option: "--version") }, timeoutSeconds: timeout)
            let follower = RunFollower(context: context, client: try context.client(for: target), service: name)
            let outcome: RunFollower.Outcome?
            let stream: (@Sendable (String) -> Void)? = global.json ? nil : { @Sendable text in terminal.raw(text) }
            do {
                outcome = try await follower.run(request, output: stream)
            } catch let error as AgentClientError {
                context.reportFailures([error])
                let code: Int32 = error.isUnreachable ? ExitCodes.unreachable : (error.code == "invalid_command" ? ExitCodes.input : ExitCodes.failed)
                throw CommandFailure(code: code, message: "")
            }
            guard let outcome else { throw CommandFailure(code: ExitCodes.interrupted, message: "") }
            if global.json {
                try context.printJSON(outcome)
            } else {
                terminal.note(terminal.styled("\(target.name): ", outcome.succeeded ? .green : .red)
                              + "run \(outcome.id ?? "?") of \(name) \(outcome.version ?? "") \(outcome.message ?? "")")
            }
            if outcome.succeeded { return }
            if let status = outcome.exitStatus, status != 0, outcome.result == "exit-code" { throw CommandFailure(code: status, message: "") }
            if let signal = outcome.signal, let number = Self.signalNumbers[signal] { throw CommandFailure(code: 128 + number, message: "") }
            throw CommandFailure(code: ExitCodes.failed, message: "")
        }

        static let signalNumbers: [String: Int32] = ["SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGABRT": 6, "SIGKILL": 9, "SIGSEGV": 11, "SIGPIPE": 13, "SIGTERM": 15]
    }
}
