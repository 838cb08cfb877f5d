import Hummingbird
import DroverCore
import NIOCore

/// The request context of the agent's routes: Hummingbird's basics, and the client's address
/// (for the authentication limiter and the events that say who changed what).
public struct AgentRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// The connection, for giving up on a client that stopped taking a streamed answer.
    private let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }

    /// Closes the connection of a client that stopped taking a streamed answer (see
    /// `ResponseBody.ndjsonStream`), saying why in the agent's log.
    var abandonConnection: @Sendable (StreamAbandoned) -> Void {
        { [channel, logger, clientAddress] reason in
            logger.notice("closing the connection of a client that stopped taking a streamed answer",
                          metadata: ["client": "\(clientAddress)", "reason": "\(reason)"])
            channel.close(promise: nil)
        }
    }

    /// The client's IP address as text (`unknown` when the channel has none).
    var clientAddress: String { remoteAddress?.ipAddress ?? "unknown" }

    /// Whether the client is on this host (a loopback address).
    var fromLoopback: Bool {
        remoteAddress?.ipAddress.map { LoopbackAddress.contains($0) } ?? false
    }
}
