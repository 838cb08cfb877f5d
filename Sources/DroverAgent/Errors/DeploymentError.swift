/// Why a deployment or rollback was refused, or a deployment not found.
public typealias DeploymentError = DomainError<DeploymentErrorKind>

public enum DeploymentErrorKind: Sendable, Hashable {
    case invalidStrategy
    /// Another deployment of the service is running, and the request does not supersede it.
    case deploymentRunning
    case nothingToRollBackTo
    case unknownDeployment
    /// Promote or abort asked of a deployment that is not a canary.
    case notCanary
}
