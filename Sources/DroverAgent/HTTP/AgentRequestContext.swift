import Hummingbird
import DroverCore
import NIOCore

/// The request context of the agent's routes: Hummingbird's basics, and the client's address
/// (for the authentication limiter and the events that say who changed what).
public struct AgentRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The client's IP address as text (`unknown` when the channel has none).
    var clientAddress: String { remoteAddress?.ipAddress ?? "unknown" }

    /// Whether the client is on this host (a loopback address).
    var fromLoopback: Bool {
        remoteAddress?.ipAddress.map { LoopbackAddress.contains($0) } ?? false
    }
}
