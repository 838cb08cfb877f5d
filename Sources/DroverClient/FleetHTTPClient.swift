import AsyncHTTPClient
import NIOCore
import Synchronization

/// The HTTP clients agents are reached with, made for a fleet: connecting has its own short
/// bound, and a failed connection is reported at once instead of retried until the request's
/// deadline (AsyncHTTPClient's default, which held `drover status` for its whole 30 s timeout
/// when a single agent was stopped). One client per connect timeout, for the process's life,
/// like `HTTPClient.shared`.
public enum FleetHTTPClient {
    public static let defaultConnectTimeout: Duration = .seconds(5)
    /// How long an idle connection to an agent is kept for the next request.
    public static let idleTimeoutSeconds: Int64 = 5
    private static let clients = Mutex<[Duration: HTTPClient]>([:])

    public static func shared(connectTimeout: Duration = defaultConnectTimeout) -> HTTPClient {
        clients.withLock { clients in
            if let client = clients[connectTimeout] { return client }
            var configuration = HTTPClient.Configuration()
            configuration.timeout.connect = TimeAmount(connectTimeout)
            configuration.connectionPool.retryConnectionEstablishment = false
            // Shorter than the agent's idle timeout (15 s by default): a kept connection the
            // agent closes just as it is used again fails its request ("I/O on closed channel").
            configuration.connectionPool.idleTimeout = .seconds(Self.idleTimeoutSeconds)
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[connectTimeout] = client
            return client
        }
    }
}
