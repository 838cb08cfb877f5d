import DroverAPI
import DroverCore
import Hummingbird

/// Deployments, rollbacks and the event log, under `/v1`.
struct DeploymentsController {
    typealias Context = AgentRequestContext
    let agent: Agent

    func addRoutes(to group: RouterGroup<Context>) {
        group.post("services/:service/deployments", use: deploy)
        group.post("services/:service/rollback", use: rollback)
        group.get("deployments/:id", use: show)
        group.get("deployments/:id/events", use: follow)
        group.post("deployments/:id/promote", use: promote)
        group.post("deployments/:id/abort", use: abort)
        group.get("events", use: events)
    }

    @Sendable func deploy(_ request: Request, context: Context) async throws -> Response {
        let service = try serviceName(context)
        try await agent.checkLease(service, id: request.leaseID)
        let deploy = try await decode(DeploymentRequest.self, from: request, context: context, invalidValue: "invalid_strategy")
        return try json(try await agent.deploy(service, deploy), status: .accepted)
    }

    @Sendable func rollback(_ request: Request, context: Context) async throws -> Response {
        let service = try serviceName(context)
        try await agent.checkLease(service, id: request.leaseID)
        let rollback = try await decode(RollbackRequest.self, from: request, context: context, ifEmpty: RollbackRequest(),
                                        invalidValue: "invalid_strategy")
        return try json(try await agent.rollback(service, to: rollback.to, strategy: rollback.strategy), status: .accepted)
    }

    /// A canary's promotion and abort are changes of its service: its lease applies.
    @Sendable func promote(_ request: Request, context: Context) async throws -> Response {
        let deployment = try await agent.deployment(context.parameters.get("id") ?? "")
        try await agent.checkLease(deployment.service, id: request.leaseID)
        return try json(try await agent.promote(deployment.id))
    }

    @Sendable func abort(_ request: Request, context: Context) async throws -> Response {
        let deployment = try await agent.deployment(context.parameters.get("id") ?? "")
        try await agent.checkLease(deployment.service, id: request.leaseID)
        return try json(try await agent.abort(deployment.id))
    }

    @Sendable func show(_ request: Request, context: Context) async throws -> Response {
        try json(try await agent.deployment(context.parameters.get("id") ?? ""))
    }

    /// The deployment's events as they are recorded, then its final state.
    @Sendable func follow(_ request: Request, context: Context) async throws -> Response {
        let deployment = try await agent.deployment(context.parameters.get("id") ?? "")
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson"],
                        body: .ndjsonStream(DeploymentEventStream(agent: agent, deployment: deployment), limits: agent.streamLimits(),
                                            abandon: context.abandonConnection))
    }

    @Sendable func events(_ request: Request, context: Context) async throws -> Response {
        let service = try request.uri.queryParameters["service"].map { try ServiceName(String($0)) }
        let limit = try queryInteger(request, "limit", in: 1...10_000) ?? 100
        let since = try queryInteger(request, "since", in: 0...Int.max).map(Int64.init)
        return try json(try await agent.events(of: service, after: since, limit: limit))
    }
}
