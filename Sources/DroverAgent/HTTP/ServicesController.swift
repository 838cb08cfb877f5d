import DroverAPI
import DroverCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Services and their releases, instances, scale and logs, under `/v1` (the token is checked
/// before any of them).
struct ServicesController {
    typealias Context = AgentRequestContext
    let agent: Agent

    func addRoutes(to group: RouterGroup<Context>) {
        group.get("services", use: list)
        group.get("services/:service", use: show)
        group.delete("services/:service", use: delete)
        group.get("services/:service/releases", use: releases)
        group.put("services/:service/releases/:version", use: upload)
        group.get("services/:service/instances", use: instances)
        group.put("services/:service/scale", use: scale)
        group.get("services/:service/logs", use: logs)
    }

    @Sendable func list(_ request: Request, context: Context) async throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try await agent.servicesSnapshot().json)))
    }

    @Sendable func show(_ request: Request, context: Context) async throws -> Response {
        try json(try await agent.service(try serviceName(context)))
    }

    @Sendable func delete(_ request: Request, context: Context) async throws -> Response {
        try await agent.delete(try serviceName(context))
        return Response(status: .noContent)
    }

    @Sendable func releases(_ request: Request, context: Context) async throws -> Response {
        try json(try await agent.releases(of: try serviceName(context)))
    }

    @Sendable func upload(_ request: Request, context: Context) async throws -> Response {
        let service = try serviceName(context)
        let version = try releaseVersion(context)
        let upload = ReleaseInstaller.Upload(
            digestHeader: request.headers[HTTPField.Name(APIHeaders.contentDigest)!],
            specHeader: request.headers[HTTPField.Name(APIHeaders.spec)!],
            contentLength: request.headers[.contentLength].flatMap { Int64($0) },
            secretsHeader: request.headers[HTTPField.Name(APIHeaders.secrets)!],
            confidential: agent.servesTLS || context.fromLoopback
        )
        let (release, created) = try await agent.upload(service, version, upload, body: request.body)
        return try json(release, status: created ? .created : .ok)
    }

    @Sendable func instances(_ request: Request, context: Context) async throws -> Response {
        try json(try await agent.instances(of: try serviceName(context)))
    }

    @Sendable func scale(_ request: Request, context: Context) async throws -> Response {
        let service = try serviceName(context)
        try await agent.checkLease(service, id: request.leaseID)
        let scale = try await decode(ScaleRequest.self, from: request, context: context, invalidValue: "invalid_instances")
        return try json(try await agent.scale(service, to: scale.instances))
    }

    /// The last lines, or with `follow=true` a stream of them as they are written (resumed
    /// after a line's cursor with `after`).
    @Sendable func logs(_ request: Request, context: Context) async throws -> Response {
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
            return Response(status: .ok, headers: headers, body: .ndjsonStream(follow.entries.map(ndjson), limits: agent.streamLimits(),
                                                                                abandon: context.abandonConnection, alongside: follow.keepUnitsCurrent))
        }
        let entries = try await agent.logs(of: service, lines: lines, version: version)
        var body = ByteBuffer()
        for entry in entries { body.writeImmutableBuffer(try ndjson(entry)) }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }
}
