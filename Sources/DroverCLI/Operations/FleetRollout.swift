import DroverAPI
import DroverClient
import DroverCore
import Foundation
import Synchronization

/// Rolls a change across hosts, batch after batch: each host's agent runs its own rolling
/// deployment; `drover` starts them, follows them live, and stops at the first host that
/// fails. Hosts already rolled are then rolled back to what they ran before (unless told
/// not to); hosts of later batches are never touched.
struct FleetRollout: Sendable {
    let context: CommandContext
    let service: ServiceName
    let batch: Int
    let revertOnFailure: Bool
    let board: ProgressBoard

    init(context: CommandContext, service: ServiceName, batch: Int, revertOnFailure: Bool) {
        self.context = context
        self.service = service
        self.batch = batch
        self.revertOnFailure = revertOnFailure
        self.board = ProgressBoard(terminal: context.terminal)
    }

    /// What happened on one host.
    struct Outcome: Encodable, Sendable {
        enum Result: String, Encodable, Sendable {
            case deployed, upToDate = "up to date", failed, unreachable, denied, untrusted, reverted, revertFailed = "revert failed", notStarted = "not started"
            /// Ctrl-C: this host's deployment goes on on its agent; drover stopped following it.
            case inProgress = "in progress"
            /// Ctrl-C before this host was started: it runs what it ran.
            case interrupted
            /// Its canaries run beside the old release, waiting for `drover promote`.
            case canary
            /// Not started: it rolls when the canary is promoted.
            case waiting = "waits for promote"

            init(_ category: AgentClientError.Category) {
                self = switch category {
                case .unreachable: .unreachable
                case .denied: .denied
                case .untrusted: .untrusted
                case .failed: .failed
                }
            }

            var isFailure: Bool { [.failed, .unreachable, .denied, .untrusted].contains(self) }
        }
        let host: String
        var result: Result
        var fromVersion: String?
        var toVersion: String?
        var deployment: String?
        var reason: String?
    }

    /// Starts the host's deployment (nil when the host is already where it should be).
    typealias Start = @Sendable (Inventory.Host, AgentClient) async throws -> (DeploymentInfo?, String?)

    /// What the rollout did, host by host, and whether Ctrl-C stopped it.
    struct Report: Sendable {
        var outcomes: [Outcome]
        var interrupted = false
    }

    /// What is known while batches roll, for a summary if Ctrl-C stops them halfway.
    private final class Progress: Sendable {
        struct Known {
            var finished: [String: Outcome] = [:]
            var following: [String: DeploymentInfo] = [:]
        }
        let known = Mutex(Known())
    }

    /// Rolls `hosts` batch by batch. The first Ctrl-C stops it at once: the host in flight
    /// goes on on its agent (its deployment is not drover's to cancel), later hosts are not
    /// started, nothing is reverted, and the report says where each host stands; a second
    /// Ctrl-C ends drover at once.
    func run(_ hosts: [Inventory.Host], start: @escaping Start) async throws -> Report {
        let progress = Progress()
        if let outcomes = try await CtrlC.stopping({ try await self.rollBatches(hosts, progress: progress, start: start) }) {
            return Report(outcomes: outcomes)
        }

        board.finish()
        let known = progress.known.withLock { $0 }
        let outcomes = hosts.map { host -> Outcome in
            if let outcome = known.finished[host.name] { return outcome }
            if let deployment = known.following[host.name] {
                return Outcome(host: host.name, result: .inProgress, fromVersion: deployment.fromVersion?.rawValue, toVersion: deployment.toVersion.rawValue,
                               deployment: deployment.id, reason: "goes on on its agent (deployment \(deployment.id)); see drover status \(service)")
            }
            return Outcome(host: host.name, result: .interrupted, reason: "not started: still runs what it ran")
        }
        let rolling = outcomes.filter { $0.result == .inProgress }.map(\.host)
        context.terminal.note(context.terminal.styled("interrupted: ", .yellow) + "no further host is started"
                              + (rolling.isEmpty ? "" : "; \(rolling.joined(separator: ", ")) go\(rolling.count == 1 ? "es" : "") on rolling on \(rolling.count == 1 ? "its agent" : "their agents")")
                              + "; nothing is reverted")
        return Report(outcomes: outcomes, interrupted: true)
    }

    private func rollBatches(_ hosts: [Inventory.Host], progress: Progress, start: @escaping Start) async throws -> [Outcome] {
        var outcomes: [Outcome] = []
        var failed = false
        for batch in stride(from: 0, to: hosts.count, by: self.batch).map({ Array(hosts[$0..<min($0 + self.batch, hosts.count)]) }) {
            if failed {
                outcomes += batch.map { Outcome(host: $0.name, result: .notStarted, reason: "an earlier host failed") }
                continue
            }
            board.log(context.terminal.styled("→ ", .bold) + batch.map(\.name).joined(separator: ", "))
            let results = try await context.eachHost(batch) { host, client in
                let outcome = try await self.roll(host, client, start: start, progress: progress)
                progress.known.withLock {
                    $0.finished[host.name] = outcome
                    $0.following[host.name] = nil
                }
                return outcome
            }
            try Task.checkCancellation()
            board.finish()
            for (host, result) in results {
                switch result {
                case .success(let outcome): outcomes.append(outcome)
                case .failure(let error):
                    let outcome = Outcome(host: host.name, result: .init(error.category), reason: error.message)
                    progress.known.withLock { $0.finished[host.name] = outcome }
                    outcomes.append(outcome)
                }
            }
            failed = outcomes.contains { $0.result.isFailure }
            // A canary waits for a promotion: later batches roll when it comes (drover promote).
            if !failed, outcomes.contains(where: { $0.result == .canary }) {
                let started = Set(outcomes.map(\.host))
                outcomes += hosts.filter { !started.contains($0.name) }.map {
                    Outcome(host: $0.name, result: .waiting, reason: "rolls when the canary is promoted (drover promote \(service))")
                }
                return outcomes
            }
        }
        guard failed, revertOnFailure else { return outcomes }
        // Roll back the hosts that took the change, to what each ran before.
        for index in outcomes.indices where outcomes[index].result == .deployed && outcomes[index].fromVersion == nil {
            outcomes[index].reason = "left on \(outcomes[index].toVersion ?? "the new release"): it ran nothing before"
        }
        let done = outcomes.filter { $0.result == .deployed && $0.fromVersion != nil }
        guard !done.isEmpty else { return outcomes }
        board.log(context.terminal.styled("← reverting ", .yellow) + done.map(\.host).joined(separator: ", "))
        let doneHosts = hosts.filter { host in done.contains { $0.host == host.name } }
        let reverts = try await context.eachHost(doneHosts) { host, client -> Outcome in
            let previous = try ReleaseVersion(done.first { $0.host == host.name }!.fromVersion!)
            let deployment = try await client.rollback(self.service, RollbackRequest(to: previous))
            return try await self.follow(host, client, deployment)
        }
        try Task.checkCancellation()
        board.finish()
        for (host, result) in reverts {
            guard let index = outcomes.firstIndex(where: { $0.host == host.name }) else { continue }
            switch result {
            case .success(let revert) where revert.result == .deployed:
                outcomes[index].result = .reverted
                outcomes[index].reason = "rolled back to \(revert.toVersion ?? "?") because another host failed"
            case .success(let revert):
                outcomes[index].result = .revertFailed
                outcomes[index].reason = revert.reason
            case .failure(let error):
                outcomes[index].result = .revertFailed
                outcomes[index].reason = error.description
            }
        }
        return outcomes
    }

    private func roll(_ host: Inventory.Host, _ client: AgentClient, start: Start, progress: Progress) async throws -> Outcome {
        board.update(host.name, "starting")
        let (deployment, note) = try await start(host, client)
        guard let deployment else {
            board.log("\(host.name): \(note ?? "up to date")")
            board.update(host.name, "up to date")
            return Outcome(host: host.name, result: .upToDate, reason: note)
        }
        progress.known.withLock { $0.following[host.name] = deployment }
        return try await follow(host, client, deployment)
    }

    /// Follows a deployment's events to its end, printing each as it happens; on a terminal,
    /// the host's line of the board shows its instances ready and the time so far.
    private func follow(_ host: Inventory.Host, _ client: AgentClient, _ deployment: DeploymentInfo) async throws -> Outcome {
        let terminal = context.terminal
        board.log("\(host.name): deployment \(deployment.id): \(deployment.fromVersion?.rawValue ?? "nothing") → \(deployment.toVersion), \(deployment.instances) instances")
        let clock = ContinuousClock(), started = clock.now
        // Progress comes with the deployment's events (deployment.progress), not from asking
        // the host again and again: on a terminal it is the host's line of the board.
        var final = deployment
        // A canary without auto-promotion is followed until it waits; drover promote goes on.
        let stopAtCanary = deployment.strategy.canary != nil && deployment.strategy.autoPromoteSeconds == nil
        // A promoted canary's stream starts with what happened before the promotion: shown already.
        let shownBefore = deployment.updatedAt.addingTimeInterval(-0.002)
        for try await update in client.followDeployment(deployment.id) {
            switch update {
            case .event(let event) where event.time < shownBefore:
                continue
            case .event(let event) where stopAtCanary && event.kind == "deployment.canary":
                let prefix = "deployment \(deployment.id): "
                let message = event.message.hasPrefix(prefix) ? String(event.message.dropFirst(prefix.count)) : event.message
                board.update(host.name, terminal.styled("canary", .yellow) + " in \(Figures.seconds(clock.now - started))")
                board.log("\(host.name): " + terminal.styled("canary", .yellow) + " \(message)")
                return Outcome(host: host.name, result: .canary, fromVersion: deployment.fromVersion?.rawValue, toVersion: deployment.toVersion.rawValue,
                               deployment: deployment.id, reason: message)
            case .event(let event):
                let prefix = "deployment \(deployment.id): "
                let message = event.message.hasPrefix(prefix) ? String(event.message.dropFirst(prefix.count)) : event.message
                if event.kind == "deployment.progress", board.isLive {
                    board.update(host.name, "\(message)  \(Figures.seconds(clock.now - started))")
                } else {
                    board.log("\(host.name): \(terminal.styled(event.kind, .dim)) \(message)")
                }
            case .finished(let info):
                final = info
            }
        }
        if !final.isFinished { final = try await client.deployment(deployment.id) }
        let elapsed = Figures.seconds(clock.now - started)
        let succeeded = final.state == .succeeded
        board.update(host.name, (succeeded ? terminal.styled(final.state.rawValue, .green) : terminal.styled(final.state.rawValue, .red)) + " in \(elapsed)")
        board.log("\(host.name): " + (succeeded ? terminal.styled(final.state.rawValue, .green) : terminal.styled(final.state.rawValue, .red)) + " in \(elapsed)")
        return Outcome(host: host.name, result: succeeded ? .deployed : .failed, fromVersion: final.fromVersion?.rawValue,
                       toVersion: final.toVersion.rawValue, deployment: final.id, reason: final.reason)
    }

    /// The per-host summary, and the exit: 0 all done, 130 interrupted, 3 a host unreachable,
    /// 1 otherwise.
    static func report(_ report: Report, service: ServiceName, version: String?, context: CommandContext) throws {
        let outcomes = report.outcomes
        if context.global.json {
            struct Summary: Encodable { let service: String; let version: String?; let hosts: [Outcome] }
            try context.printJSON(Summary(service: service.rawValue, version: version, hosts: outcomes))
        } else {
            var table = Table(columns: ["HOST", "RESULT", "FROM", "TO", "REASON"])
            for outcome in outcomes {
                table.rows.append([outcome.host, outcome.result.rawValue, outcome.fromVersion ?? "-", outcome.toVersion ?? "-", outcome.reason ?? ""])
            }
            context.terminal.print(table.render())
        }
        if report.interrupted { throw CommandFailure(code: ExitCodes.interrupted, message: "") }
        if outcomes.contains(where: { $0.result == .unreachable }) { throw CommandFailure(code: ExitCodes.unreachable, message: "") }
        if outcomes.contains(where: { ![.deployed, .upToDate, .canary, .waiting].contains($0.result) }) {
            throw CommandFailure(code: ExitCodes.failed, message: "")
        }
    }
}
