import DroverAPI
import DroverCore
import Hummingbird

/// One-off runs in a release's environment, under `/v1`: a deploy's release command, or
/// `drover exec`. A `deploy` token's job (POST and DELETE both need it).
struct RunsController {
    typealias Context = AgentRequestContext
    let agent: Agent

    func addRoutes(to group: RouterGroup<Context>) {
        group.post("services/:service/runs", use: run)
        group.delete("services/:service/runs/:id", use: stop)
    }

    /// Checks the request (refusals are plain errors), then streams the run: `started`, its
    /// output, `finished`. A client that goes away stops the run on the host.
    @Sendable func run(_ request: Request, context: Context) async throws -> Response {
        let service = try serviceName(context)
        let run = try await decode(RunRequest.self, from: request, context: context, invalidValue: "invalid_command")
        let prepared = try await agent.runs.prepare(service, run)
        // A blank line after a second of silence: a client gone (Ctrl-C) is noticed within it.
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson"],
                        body: .ndjsonStream(agent.runs.run(prepared).map(ndjson), limits: agent.streamLimits(heartbeat: .seconds(1)),
                                            abandon: context.abandonConnection))
    }

    @Sendable func stop(_ request: Request, context: Context) async throws -> Response {
        let service = try serviceName(context)
        let id = context.parameters.get("id") ?? ""
        guard await agent.runs.stop(service, id: id) else {
            throw APIFailure(.notFound, "unknown_run", "no run \(id.prefix(64)) of \(service) is under way on this host")
        }
        return Response(status: .noContent)
    }
}
