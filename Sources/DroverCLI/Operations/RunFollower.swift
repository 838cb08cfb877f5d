import DroverAPI
import DroverClient
import DroverCore
import Foundation
import Synchronization

/// Follows a one-off run on one host (`drover exec`, a deploy's release command): its output
/// as it comes, then how it ended. Ctrl-C stops the run on the host before drover exits.
struct RunFollower: Sendable {
    let context: CommandContext
    let client: AgentClient
    let service: ServiceName

    /// How a run ended, as drover reports it.
    struct Outcome: Encodable, Sendable {
        var host: String
        var service: String
        var id: String?
        var version: String?
        var unit: String?
        var result: String?
        var exitStatus: Int32?
        var signal: String?
        var message: String?
        var skipped = false
        /// The last lines it wrote, for a failure's message.
        var lastLines: [String] = []
        /// Everything it wrote (kept for `--json` only).
        var output: String?

        var succeeded: Bool { skipped || (result == "success" && exitStatus == 0) }
    }

    /// Runs `request`; `output` receives the command's text as it comes (nil: keep it for the
    /// outcome instead). Returns nil if Ctrl-C stopped it (the run is stopped on the host).
    func run(_ request: RunRequest, output: (@Sendable (String) -> Void)?) async throws -> Outcome? {
        let (client, service, host) = (client, service, client.host)
        let started = StartedID()
        let outcome = try await CtrlC.stopping {
            var outcome = Outcome(host: host, service: service.rawValue)
            var kept = output == nil ? "" : nil
            for try await update in client.run(service, request) {
                switch update.kind {
                case .started:
                    started.set(update.id)
                    (outcome.id, outcome.unit, outcome.version) = (update.id, update.unit, update.version?.rawValue)
                case .output:
                    let text = update.text ?? ""
                    outcome.lastLines.append(text.trimmingCharacters(in: .newlines))
                    if outcome.lastLines.count > 10 { outcome.lastLines.removeFirst() }
                    if let output { output(text) } else { kept?.append(text) }
                case .finished, .skipped:
                    outcome.id = update.id ?? outcome.id
                    outcome.version = update.version?.rawValue ?? outcome.version
                    (outcome.result, outcome.exitStatus, outcome.signal, outcome.message) = (update.result, update.exitStatus, update.signal, update.message)
                    outcome.skipped = update.kind == .skipped
                }
            }
            // Ctrl-C ends the answer early: that is an interruption, not an answer cut short.
            try Task.checkCancellation()
            outcome.output = kept
            return outcome
        }
        guard let outcome else {
            // Ctrl-C: the run is stopped on the host before drover exits (the closed stream
            // would stop it too, a second later).
            if let id = started.id { try? await client.stopRun(service, id: id) }
            context.terminal.note(context.terminal.styled("interrupted: ", .yellow) + "the run on \(host) was stopped")
            return nil
        }
        guard outcome.result != nil || outcome.skipped else {
            throw AgentClientError(.unreachable, host: host, message: "the run's answer ended before it said how the run ended; see drover history \(service) for what happened on the host", afterAnswer: true)
        }
        return outcome
    }

    private final class StartedID: Sendable {
        private let value = Mutex<String?>(nil)
        func set(_ id: String?) { value.withLock { $0 = id } }
        var id: String? { value.withLock { $0 } }
    }
}
