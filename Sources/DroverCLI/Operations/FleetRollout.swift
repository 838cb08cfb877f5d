import DroverAPI
import DroverClient
import DroverCore
import Foundation

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
            case deployed, upToDate = "up to date", failed, unreachable, reverted, revertFailed = "revert failed", notStarted = "not started"
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

    func run(_ hosts: [Inventory.Host], start: @escaping Start) async throws -> [Outcome] {
        var outcomes: [Outcome] = []
        var failed = false
        for batch in stride(from: 0, to: hosts.count, by: self.batch).map({ Array(hosts[$0..<min($0 + self.batch, hosts.count)]) }) {
            if failed {
                outcomes += batch.map { Outcome(host: $0.name, result: .notStarted, reason: "an earlier host failed") }
                continue
            }
            board.log(context.terminal.styled("→ ", .bold) + batch.map(\.name).joined(separator: ", "))
            let results = try await context.eachHost(batch) { host, client in try await self.roll(host, client, start: start) }
            board.finish()
            for (host, result) in results {
                switch result {
                case .success(let outcome): outcomes.append(outcome)
                case .failure(let error):
                    outcomes.append(Outcome(host: host.name, result: error.isUnreachable ? .unreachable : .failed, reason: error.message))
                }
            }
            failed = outcomes.contains { $0.result == .failed || $0.result == .unreachable }
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

    private func roll(_ host: Inventory.Host, _ client: AgentClient, start: Start) async throws -> Outcome {
        board.update(host.name, "starting")
        let (deployment, note) = try await start(host, client)
        guard let deployment else {
            board.log("\(host.name): \(note ?? "up to date")")
            board.update(host.name, "up to date")
            return Outcome(host: host.name, result: .upToDate, reason: note)
        }
        return try await follow(host, client, deployment)
    }

    /// Follows a deployment's events to its end, printing each as it happens; on a terminal,
    /// the host's line of the board shows its instances ready and the time so far.
    private func follow(_ host: Inventory.Host, _ client: AgentClient, _ deployment: DeploymentInfo) async throws -> Outcome {
        let terminal = context.terminal
        board.log("\(host.name): deployment \(deployment.id): \(deployment.fromVersion?.rawValue ?? "nothing") → \(deployment.toVersion), \(deployment.instances) instances")
        let clock = ContinuousClock(), started = clock.now
        let final = try await withThrowingTaskGroup(of: DeploymentInfo?.self) { group in
            group.addTask {
                var final = deployment
                for try await update in client.followDeployment(deployment.id) {
                    switch update {
                    case .event(let event):
                        let prefix = "deployment \(deployment.id): "
                        let message = event.message.hasPrefix(prefix) ? String(event.message.dropFirst(prefix.count)) : event.message
                        self.board.log("\(host.name): \(terminal.styled(event.kind, .dim)) \(message)")
                    case .finished(let info):
                        final = info
                    }
                }
                return final.isFinished ? final : try await client.deployment(deployment.id)
            }
            if board.isLive {
                group.addTask {
                    while !Task.isCancelled {
                        let ready = (try? await client.instances(of: self.service))?
                            .filter { $0.version == deployment.toVersion && $0.activeState == "active" }.count
                        self.board.update(host.name, "\(ready.map(String.init) ?? "?")/\(deployment.instances) ready  "
                                          + "\(Figures.seconds(clock.now - started))  → \(deployment.toVersion)")
                        try? await Task.sleep(for: .milliseconds(500))
                    }
                    return nil
                }
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            return deployment
        }
        let elapsed = Figures.seconds(clock.now - started)
        let succeeded = final.state == .succeeded
        board.update(host.name, (succeeded ? terminal.styled(final.state.rawValue, .green) : terminal.styled(final.state.rawValue, .red)) + " in \(elapsed)")
        board.log("\(host.name): " + (succeeded ? terminal.styled(final.state.rawValue, .green) : terminal.styled(final.state.rawValue, .red)) + " in \(elapsed)")
        return Outcome(host: host.name, result: succeeded ? .deployed : .failed, fromVersion: final.fromVersion?.rawValue,
                       toVersion: final.toVersion.rawValue, deployment: final.id, reason: final.reason)
    }

    /// The per-host summary, and the exit: 0 all done, 3 a host unreachable, 1 otherwise.
    static func report(_ outcomes: [Outcome], service: ServiceName, version: String?, context: CommandContext) throws {
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
        if outcomes.contains(where: { $0.result == .unreachable }) { throw CommandFailure(code: ExitCodes.unreachable, message: "") }
        if outcomes.contains(where: { ![.deployed, .upToDate].contains($0.result) }) {
            throw CommandFailure(code: ExitCodes.failed, message: "")
        }
    }
}
