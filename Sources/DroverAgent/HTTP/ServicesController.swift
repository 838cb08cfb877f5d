import DroverAPI
import DroverCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The routes under `/v1` that need the token: services, releases, instances, events.
struct ServicesController {
    let agent: Agent

    func addRoutes(to group: RouterGroup<BasicRequestContext>) {
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
            try await json(try agent.releases(of: try serviceName(context)))
        }
        group.put("services/:service/releases/:version") { request, context in
            let service = try serviceName(context)
            let version = try releaseVersion(context)
            let upload = Agent.Upload(
                digestHeader: request.headers[HTTPField.Name(APIHeaders.contentDigest)!],
                specHeader: request.headers[HTTPField.Name(APIHeaders.spec)!],
                contentLength: request.headers[.contentLength].flatMap { Int64($0) }
            )
            let (release, created) = try await agent.upload(service, version, upload, body: request.body)
            return try json(release, status: created ? .created : .ok)
        }
        group.put("services/:service/scale") { request, context in
            let service = try serviceName(context)
            let scale = try await decode(ScaleRequest.self, from: request, context: context, invalidValue: "invalid_instances")
            return try json(try await agent.scale(service, to: scale.instances))
        }
        group.get("services/:service/autoscale") { _, context in
            try json(try await agent.autoscaleInfo(try serviceName(context)))
        }
        group.put("services/:service/autoscale") { request, context in
            let service = try serviceName(context)
            let policy = try await decode(AutoscalePolicy.self, from: request, context: context, invalidValue: "invalid_policy")
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
            let limits = try await decode(InstanceLimits.self, from: request, context: context, invalidValue: "invalid_limits")
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
            let deploy = try await decode(DeploymentRequest.self, from: request, context: context, invalidValue: "invalid_strategy")
            return try json(try await agent.deploy(service, deploy), status: .accepted)
        }
        group.post("services/:service/rollback") { request, context in
            let service = try serviceName(context)
            let rollback = try await decode(RollbackRequest.self, from: request, context: context, ifEmpty: RollbackRequest(),
                                        invalidValue: "invalid_strategy")
            return try json(try await agent.rollback(service, to: rollback.to, strategy: rollback.strategy), status: .accepted)
        }
        group.get("deployments/:id") { _, context in
            try await json(try agent.deployment(context.parameters.get("id") ?? ""))
        }
        group.get("deployments/:id/events") { _, context in
            let id = context.parameters.get("id") ?? ""
            let deployment = try await agent.deployment(id)
            return Response(status: .ok, headers: [.contentType: "application/x-ndjson"],
                            body: .ndjsonStream(DeploymentEventStream(agent: agent, deployment: deployment)))
        }
        group.get("events") { request, _ in
            let service = try request.uri.queryParameters["service"].map { try ServiceName(String($0)) }
            let limit = try queryInteger(request, "limit", in: 1...10_000) ?? 100
            let since = try queryInteger(request, "since", in: 0...Int.max).map(Int64.init)
            return try await json(try agent.events(of: service, after: since, limit: limit))
        }
        group.get("services/:service/logs") { request, context in
            let service = try serviceName(context)
            let lines = try queryInteger(request, "lines", in: 0...10_000) ?? 100
            let version = try request.uri.queryParameters["version"].map { try ReleaseVersion(String($0)) }
            let follow = try queryBoolean(request, "follow") ?? false
            let after = request.uri.queryParameters["after"].map(String.init)
            if let after, !LogEntry.isValidCursor(after) {
                throw APIFailure.badRequest("invalid_cursor", "after must be a journal cursor from a LogEntry's cursor (1 to 512 letters, digits, '=', ';', '_', '-')")
            }
            let headers: HTTPFields = [.contentType: "application/x-ndjson"]
            if follow {
                let follow = try await agent.followLogs(of: service, lines: lines, version: version, after: after)
                return Response(status: .ok, headers: headers, body: .ndjsonStream(follow.entries.map(ndjson), alongside: follow.keepUnitsCurrent))
            }
            let entries = try await agent.logs(of: service, lines: lines, version: version)
            var body = ByteBuffer()
            for entry in entries { body.writeImmutableBuffer(try ndjson(entry)) }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
        }
    }
}

// MARK: Helpers shared by the controllers

func serviceName(_ context: some RequestContext) throws -> ServiceName {
    let raw = context.parameters.get("service") ?? ""
    do {
        return try ServiceName(raw)
    } catch {
        throw APIFailure.badRequest("invalid_name", error.description)
    }
}

func releaseVersion(_ context: some RequestContext) throws -> ReleaseVersion {
    let raw = context.parameters.get("version") ?? ""
    do {
        return try ReleaseVersion(raw)
    } catch {
        throw APIFailure.badRequest("invalid_name", error.description)
    }
}

/// A JSON response with the API's encoding.
func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let body = try JSONEncoder.droverAPI.encode(value)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
}

/// Decodes a small JSON body, with an error that names the field. An empty body is
/// `ifEmpty` where the route has a default, else invalid. A body that is not the right shape
/// is `invalid_body`; a value out of its range is `invalidValue`, the route's own code.
func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext, ifEmpty: T? = nil,
                          invalidValue: String) async throws -> T {
    let body: ByteBuffer
    do {
        body = try await request.body.collect(upTo: 1 << 20)
    } catch is NIOTooManyBytesError {
        throw APIFailure(.contentTooLarge, "too_large", "a JSON body must be under 1 MiB")
    } catch {
        throw APIFailure.badRequest("truncated", "the connection ended before the request body was complete")
    }
    if body.readableBytes == 0, let ifEmpty { return ifEmpty }
    do {
        return try JSONDecoder.droverAPI.decode(T.self, from: Data(buffer: body))
    } catch let error as SpecError {
        throw APIFailure.badRequest(invalidValue, error.description)
    } catch {
        throw APIFailure.badRequest("invalid_body", "the JSON body is not valid: \(DecodingErrorText(error))")
    }
}

/// A whole-number query parameter within `range`, or nil when absent; anything else is a 400
/// that names the parameter and its range.
func queryInteger(_ request: Request, _ name: String, in range: ClosedRange<Int>) throws -> Int? {
    guard let raw = request.uri.queryParameters[name[...]] else { return nil }
    guard let value = Int(String(raw)), range.contains(value) else {
        throw APIFailure.badRequest("invalid_query", "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), not \"\(raw)\"")
    }
    return value
}

/// `true`/`false` (or `1`/`0`) query parameter, or nil when absent; anything else is a 400.
func queryBoolean(_ request: Request, _ name: String) throws -> Bool? {
    guard let raw = request.uri.queryParameters[name[...]] else { return nil }
    switch raw {
    case "true", "1": return true
    case "false", "0": return false
    default: throw APIFailure.badRequest("invalid_query", "\(name) must be true or false, not \"\(raw)\"")
    }
}

/// One NDJSON line.
@Sendable func ndjson<T: Encodable>(_ value: T) throws -> ByteBuffer {
    ByteBuffer(bytes: try JSONEncoder.droverAPI.encode(value) + Data("\n".utf8))
}
