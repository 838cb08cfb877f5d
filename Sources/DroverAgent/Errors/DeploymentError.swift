/// Why a deployment or rollback was refused, or a deployment not found.
public struct DeploymentError: DomainError {
    public enum Kind: Sendable, Hashable {
        case invalidStrategy
        /// Another deployment of the service is running, and the request does not supersede it.
        case deploymentRunning
        case nothingToRollBackTo
        case unknownDeployment
    }

    public let kind: Kind
    public let message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}
