import DroverAPI
import DroverCore
import Foundation
import HTTPTypes
import Hummingbird

/// The routes under `/v1` that need the token: services, releases, instances, events.
struct ServicesController<Context: RequestContext> {
    let agent: Agent

    func addRoutes(to group: RouterGroup<Context>) {
        group.get("services") { _, _ in
            try json(try await agent.services())
        }
        group.get("services/:service") { _, context in
            try json(try await agent.service(try serviceName(context)))
        }
        group.delete("services/:service") { _, context in
            try await agent.delete(try serviceName(context))
            return Response(status: .noContent)
        }
        group.get("services/:service/releases") { _, context in
            try json(try agent.releases(of: try serviceName(context)))
        }
        group.put("services/:service/releases/:version") { request, context in
            let service = try serviceName(context)
            let version = try releaseVersion(context)
            let upload = Agent.Upload(
                digestHeader: request.headers[HTTPField.Name(APIHeaders.contentDigest)!],
                specHeader: request.headers[HTTPField.Name(APIHeaders.spec)!],
                contentLength: request.headers[.contentLength].flatMap { Int64($0) }
            )
            let (release, created) = try await mapReleaseErrors {
                try await agent.upload(service, version, upload, body: request.body)
            }
            return try json(release, status: created ? .created : .ok)
        }
        group.put("services/:service/scale") { request, context in
            let service = try serviceName(context)
            let scale = try await decode(ScaleRequest.self, from: request, context: context)
            return try json(try await agent.scale(service, to: scale.instances))
        }
        group.get("services/:service/autoscale") { _, context in
            try json(try await agent.autoscaleInfo(try serviceName(context)))
        }
        group.put("services/:service/autoscale") { request, context in
            let service = try serviceName(context)
            let policy = try await decode(AutoscalePolicy.self, from: request, context: context)
            return try json(try await agent.setAutoscale(service, policy))
        }
        group.delete("services/:service/autoscale") { _, context in
            try await agent.deleteAutoscale(try serviceName(context))
            return Response(status: .noContent)
        }
        group.get("services/:service/limits") { _, context in
            try json(try await agent.limits(of: try serviceName(context)))
        }
        group.put("services/:service/limits") { request, context in
            let service = try serviceName(context)
            let limits = try await decode(InstanceLimits.self, from: request, context: context)
            return try json(try await agent.setLimits(service, limits))
        }
        group.delete("services/:service/limits") { _, context in
            try await agent.deleteLimits(try serviceName(context))
            return Response(status: .noContent)
        }
        group.get("services/:service/instances") { _, context in
            try json(try await agent.instances(of: try serviceName(context)))
        }
        group.post("services/:service/deployments") { request, context in
            let service = try serviceName(context)
            let deploy = try await decode(DeploymentRequest.self, from: request, context: context)
            return try json(try await agent.deploy(service, deploy), status: .accepted)
        }
        group.post("services/:service/rollback") { request, context in
            let service = try serviceName(context)
            let rollback = try await decode(RollbackRequest.self, from: request, context: context, ifEmpty: RollbackRequest())
            return try json(try await agent.rollback(service, to: rollback.to, strategy: rollback.strategy), status: .accepted)
        }
        group.get("deployments/:id") { _, context in
            try json(try agent.deployment(context.parameters.get("id") ?? ""))
        }
        group.get("deployments/:id/events") { _, context in
            let id = context.parameters.get("id") ?? ""
            let deployment = try agent.deployment(id)
            return Response(status: .ok, headers: [.contentType: "application/x-ndjson"],
                            body: .init(asyncSequence: DeploymentEventStream(agent: agent, deployment: deployment)))
        }
        group.get("events") { request, _ in
            let service = try request.uri.queryParameters["service"].map { try ServiceName(String($0)) }
            let limit = request.uri.queryParameters["limit"].flatMap { Int(String($0)) } ?? 100
            return try json(try agent.events(of: service, limit: min(max(limit, 1), 10_000)))
        }
    }
}

// MARK: Helpers shared by the controllers

func serviceName(_ context: some RequestContext) throws -> ServiceName {
    let raw = context.parameters.get("service") ?? ""
    do {
        return try ServiceName(raw)
    } catch {
        throw AgentError.badRequest("invalid_name", error.description)
    }
}

func releaseVersion(_ context: some RequestContext) throws -> ReleaseVersion {
    let raw = context.parameters.get("version") ?? ""
    do {
        return try ReleaseVersion(raw)
    } catch {
        throw AgentError.badRequest("invalid_name", error.description)
    }
}

/// A JSON response with the API's encoding.
func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let body = try JSONEncoder.droverAPI.encode(value)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
}

/// Decodes a small JSON body, with an error that names the field. An empty body is
/// `ifEmpty` where the route has a default, else invalid.
func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext, ifEmpty: T? = nil) async throws -> T {
    let body: ByteBuffer
    do {
        body = try await request.body.collect(upTo: 1 << 20)
    } catch {
        throw AgentError(.contentTooLarge, "too_large", "a JSON body must be under 1 MiB")
    }
    if body.readableBytes == 0, let ifEmpty { return ifEmpty }
    do {
        return try JSONDecoder.droverAPI.decode(T.self, from: Data(buffer: body))
    } catch {
        throw AgentError.badRequest("invalid_body", "the JSON body is not valid: \(DecodingErrorText(error))")
    }
}

/// Maps the release store's errors to statuses, in one place.
func mapReleaseErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as ReleaseError {
        let status: HTTPResponse.Status = switch error.kind {
        case .invalid: .badRequest
        case .tooLarge: .contentTooLarge
        case .unprocessable: .unprocessableContent
        case .conflict: .conflict
        }
        throw AgentError(status, error.code, error.message)
    } catch let error as SpecError {
        throw AgentError.badRequest("invalid_spec", "spec \(error)")
    }
}
