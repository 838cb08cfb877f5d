import DroverAPI
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging

/// Builds the agent's HTTP application; shared by `drover-agent` and the tests.
///
/// `GET /v1/health` answers without a token; every other route, `GET /metrics` included, needs
/// a token whose scope allows it (`TokenScope.needed`).
/// With `tls`, the API is HTTPS only: no plain HTTP listener exists beside it.
public func buildApplication(
    agent: Agent,
    tls: AgentTLS? = nil,
    version: String,
    logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) throws -> some ApplicationProtocol {
    let router = Router(context: AgentRequestContext.self)
    router.add(middleware: ErrorMiddleware(routes: APIRoutes()))
    router.get("/v1/health") { _, _ in
        // The API still answers while the agent stops (ServiceGroup stops it last); health
        // says the truth meanwhile.
        guard !agent.isStopping else { throw APIFailure(.serviceUnavailable, "stopping", "the agent is stopping; it answers again once it has restarted") }
        return try json(HealthResponse(status: "ok", version: version, scope: agent.configuration.scope,
                                metricsSource: agent.cgroups.source))
    }
    let api = router.group("v1").add(middleware: TokenAuthMiddleware(tokens: agent.tokens))
    ServicesController(agent: agent).addRoutes(to: api)
    ScalingController(agent: agent).addRoutes(to: api)
    DeploymentsController(agent: agent).addRoutes(to: api)
    RunsController(agent: agent).addRoutes(to: api)
    LeaseController(agent: agent).addRoutes(to: api)
    let document: Data
    do {
        document = try APIDocument.withLimits(maxInstances: agent.configuration.maxInstances)
    } catch {
        // Compiled in, so this is a build defect: serve it as written rather than nothing, and say so.
        logger.error("cannot fill this host's limits into openapi.json; serving it as written", metadata: ["error": "\(error)"])
        document = Data(APIDocument.bytes)
    }
    api.get("openapi.json") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: document)))
    }
    let exporter = MetricsExporter(agent: agent)
    router.group("metrics").add(middleware: TokenAuthMiddleware(tokens: agent.tokens)).get { _, _ in
        Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(bytes: try await exporter.scrape())))
    }

    let configuration = agent.configuration
    // Nothing from outside holds the agent: a connection that goes quiet before its request is
    // read (a stalled handshake, a header sent a byte at a time) is closed after the idle
    // timeout, and connections beyond the limit wait in the backlog. Headers are bounded by
    // the HTTP decoder's limits (80 KiB); bodies by each route's.
    let http1 = HTTPServerBuilder.http1(configuration: .init(idleTimeout: .seconds(configuration.idleTimeout.components.seconds)))
    return Application(
        router: router,
        server: try tls.map { try .tls(http1, tlsConfiguration: try $0.serverConfiguration()) } ?? http1,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "drover-agent",
                             availableConnectionsDelegate: MaximumAvailableConnections(configuration.maxConnections)),
        onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
        logger: logger
    )
}
