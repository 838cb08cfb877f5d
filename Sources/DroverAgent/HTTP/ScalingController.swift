import DroverAPI
import DroverCore
import Hummingbird

/// A service's autoscaling policy and live resize, under `/v1/services/:service`.
struct ScalingController {
    typealias Context = AgentRequestContext
    let agent: Agent

    func addRoutes(to group: RouterGroup<Context>) {
        group.get("services/:service/autoscale", use: autoscale)
        group.put("services/:service/autoscale", use: setAutoscale)
        group.delete("services/:service/autoscale", use: deleteAutoscale)
        group.get("services/:service/limits", use: limits)
        group.put("services/:service/limits", use: setLimits)
        group.delete("services/:service/limits", use: deleteLimits)
    }

    @Sendable func autoscale(_ request: Request, context: Context) async throws -> Response {
        try json(try await agent.autoscaleInfo(try serviceName(context)))
    }

    @Sendable func setAutoscale(_ request: Request, context: Context) async throws -> Response {
        let service = try serviceName(context)
        try await agent.checkLease(service, id: request.leaseID)
        let policy = try await decode(AutoscalePolicy.self, from: request, context: context, invalidValue: "invalid_policy")
        return try json(try await agent.setAutoscale(service, policy))
    }

    @Sendable func deleteAutoscale(_ request: Request, context: Context) async throws -> Response {
        let service = try serviceName(context)
        try await agent.checkLease(service, id: request.leaseID)
        try await agent.deleteAutoscale(service)
        return Response(status: .noContent)
    }

    @Sendable func limits(_ request: Request, context: Context) async throws -> Response {
        try json(try await agent.limits(of: try serviceName(context)))
    }

    @Sendable func setLimits(_ request: Request, context: Context) async throws -> Response {
        let service = try serviceName(context)
        let limits = try await decode(InstanceLimits.self, from: request, context: context, invalidValue: "invalid_limits")
        return try json(try await agent.setLimits(service, limits))
    }

    @Sendable func deleteLimits(_ request: Request, context: Context) async throws -> Response {
        try await agent.deleteLimits(try serviceName(context))
        return Response(status: .noContent)
    }
}
