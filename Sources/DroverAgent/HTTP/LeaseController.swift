import DroverAPI
import DroverCore
import HTTPTypes
import Hummingbird

/// A service's lease, under `/v1/services/:service/lease`: who is changing it on this host.
struct LeaseController {
    typealias Context = AgentRequestContext
    let agent: Agent

    func addRoutes(to group: RouterGroup<Context>) {
        group.get("services/:service/lease", use: show)
        group.put("services/:service/lease", use: take)
        group.delete("services/:service/lease", use: release)
    }

    @Sendable func show(_ request: Request, context: Context) async throws -> Response {
        try json(try await agent.lease(of: try serviceName(context)))
    }

    @Sendable func take(_ request: Request, context: Context) async throws -> Response {
        let service = try serviceName(context)
        let lease = try await decode(LeaseRequest.self, from: request, context: context, invalidValue: "invalid_lease")
        return try json(try await agent.takeLease(service, lease))
    }

    /// `?id=` the holder's lease; `?force=true` whoever's it is.
    @Sendable func release(_ request: Request, context: Context) async throws -> Response {
        let service = try serviceName(context)
        let force = try queryBoolean(request, "force") ?? false
        try await agent.releaseLease(service, id: request.uri.queryParameters["id"].map { String($0.prefix(64)) }, force: force)
        return Response(status: .noContent)
    }
}

extension Request {
    /// The lease a change says it is made under (`Drover-Lease`).
    var leaseID: String? {
        headers[HTTPField.Name(APIHeaders.lease)!].map { String($0.prefix(64)) }
    }
}
