import DroverAPI
import DroverClient
import DroverCore
import Foundation

/// A service's lease on every host a command changes: taken before anything changes, renewed
/// while the command runs, released at its end (Ctrl-C included). A holder that dies stops
/// renewing, and the lease lapses by itself. Another operator's lease stops the command
/// before it changes anything, naming them.
enum ServiceLease {
    /// How long a lease holds without renewal, and how often it is renewed.
    static let ttlSeconds = 30
    static let renewal: Duration = .seconds(10)

    /// Who the operator is, for other operators: `user@machine`.
    static var holder: String {
        let user = ProcessInfo.processInfo.environment["USER"] ?? ProcessInfo.processInfo.userName
        var name = [UInt8](repeating: 0, count: 256)
        let machine = gethostname(&name, name.count - 1) == 0 ? String(decoding: name.prefix { $0 != 0 }, as: UTF8.self) : "unknown"
        return "\(user.isEmpty ? "unknown" : user)@\(machine)"
    }

    static func newID() -> String {
        (0..<12).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    /// Runs `body` holding the lease of `service` on `hosts` for `operation`; `body` gets a
    /// context whose clients carry the lease. Hosts that cannot be reached are left to `body`
    /// to report; a host where someone else holds the lease stops the command (exit 1).
    static func holding<T: Sendable>(_ operation: String, service: ServiceName, hosts: [Inventory.Host], context: CommandContext,
                                     message: String? = nil, _ body: (CommandContext) async throws -> T) async throws -> T {
        let request = LeaseRequest(id: newID(), holder: holder, operation: operation, message: message, ttlSeconds: ttlSeconds)
        let results = try await context.eachHost(hosts) { _, client in try await client.takeLease(service, request) }
        let taken = results.filter { if case .success = $0.result { true } else { false } }.map(\.host)
        let refusals = CommandContext.errors(in: results).filter { $0.code == "leased" }
        if !refusals.isEmpty {
            await release(request.id, service: service, on: taken, context: context)
            for refusal in refusals { context.terminal.note(context.terminal.styled("\(refusal.host): ", .red) + refusal.message) }
            let first = refusals[0].message.components(separatedBy: "; ").first ?? refusals[0].message
            throw CommandFailure(code: ExitCodes.failed, message: "\(first); nothing was changed")
        }
        var leased = context
        leased.leaseID = request.id
        let renewing = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: renewal)
                guard !Task.isCancelled else { return }
                _ = try? await context.eachHost(taken) { _, client in try await client.takeLease(service, request) }
            }
        }
        let outcome: Result<T, any Error>
        do {
            outcome = .success(try await body(leased))
        } catch {
            outcome = .failure(error)
        }
        renewing.cancel()
        await release(request.id, service: service, on: taken, context: context)
        return try outcome.get()
    }

    /// Releases the lease where it was taken. A host that does not answer (its agent
    /// restarting) is asked again for a few seconds, so that the next command is not refused
    /// by a lease nobody holds; after that the lease lapses by itself.
    private static func release(_ id: String, service: ServiceName, on hosts: [Inventory.Host], context: CommandContext) async {
        var pending = hosts
        let deadline = ContinuousClock.now + .seconds(10)
        while !pending.isEmpty {
            guard let results = try? await context.eachHost(pending, { _, client in try await client.releaseLease(service, id: id) }) else { return }
            pending = results.filter { if case .failure(let error) = $0.result { error.isUnreachable } else { false } }.map(\.host)
            guard !pending.isEmpty, ContinuousClock.now < deadline else { return }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }
}
