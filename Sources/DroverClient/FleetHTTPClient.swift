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
    private static let clients = Mutex<[Duration: HTTPClient]>([:])

    public static func shared(connectTimeout: Duration = defaultConnectTimeout) -> HTTPClient {
        clients.withLock { clients in
            if let client = clients[connectTimeout] { return client }
            var configuration = HTTPClient.Configuration()
            configuration.timeout.connect = TimeAmount(connectTimeout)
            configuration.connectionPool.retryConnectionEstablishment = false
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[connectTimeout] = client
            return client
        }
    }
}
