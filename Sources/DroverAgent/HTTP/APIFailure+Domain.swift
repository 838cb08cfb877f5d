import DroverCore
import Foundation
import HTTPTypes

extension APIFailure {
    /// The status and stable code of each domain error's kind, or nil for an unexpected error
    /// (a 500). The one place where the domain's errors meet HTTP.
    init?(mapping error: any Error) {
        switch error {
        case let error as ServiceError:
            switch error.kind {
            case .unknownService: self.init(.notFound, "unknown_service", error.message)
            case .unknownRelease: self.init(.notFound, "unknown_release", error.message)
            }
        case let error as ScaleError:
            switch error.kind {
            case .invalidCount: self.init(.badRequest, "invalid_instances", error.message)
            case .noRelease: self.init(.conflict, "no_release", error.message)
            case .deploymentRunning: self.init(.conflict, "deployment_running", error.message)
            case .instancesFailed: self.init(.badGateway, "instances_failed", error.message)
            case .socketFailed: self.init(.conflict, "socket_failed", error.message)
            }
        case let error as DeploymentError:
            switch error.kind {
            case .invalidStrategy: self.init(.badRequest, "invalid_strategy", error.message)
            case .deploymentRunning: self.init(.conflict, "deployment_running", error.message)
            case .nothingToRollBackTo: self.init(.conflict, "nothing_to_roll_back_to", error.message)
            case .unknownDeployment: self.init(.notFound, "unknown_deployment", error.message)
            case .notCanary: self.init(.conflict, "not_canary", error.message)
            }
        case let error as LimitsError:
            switch error.kind {
            case .invalidLimits: self.init(.badRequest, "invalid_limits", error.message)
            case .notResized: self.init(.notFound, "not_resized", error.message)
            }
        case let error as AutoscaleError:
            switch error.kind {
            case .invalidPolicy: self.init(.badRequest, "invalid_policy", error.message)
            case .notAutoscaled: self.init(.notFound, "not_autoscaled", error.message)
            }
        case let error as LeaseError:
            switch error.kind {
            case .held: self.init(.conflict, "leased", error.message)
            case .notLeased: self.init(.notFound, "not_leased", error.message)
            }
        case let error as RunError:
            switch error.kind {
            case .invalidCommand: self.init(.badRequest, "invalid_command", error.message)
            case .noRelease: self.init(.conflict, "no_release", error.message)
            case .noReleaseCommand: self.init(.conflict, "no_release_command", error.message)
            }
        case let error as LogsError:
            switch error.kind {
            case .tooManyFollowers: self.init(.tooManyRequests, "too_many_followers", error.message)
            }
        case let error as ReleaseError:
            self.init(mapping: error)
        case let error as SecretError:
            let (status, code): (HTTPResponse.Status, String) = switch error.kind {
            case .invalidHeader: (.badRequest, "invalid_secrets")
            case .missing: (.unprocessableContent, "secret_missing")
            case .unexpected: (.unprocessableContent, "secret_unexpected")
            case .digestMismatch: (.unprocessableContent, "secret_digest_mismatch")
            case .tooLarge: (.contentTooLarge, "secret_too_large")
            case .insecureTransport: (.forbidden, "secret_needs_tls")
            case .encryptionUnavailable, .encryptionFailed: (.internalServerError, "secret_encryption_failed")
            }
            self.init(status, code, error.message)
        case let error as NameError:
            self.init(.badRequest, "invalid_name", error.description)
        case let error as SpecError:
            self.init(.badRequest, "invalid_spec", "spec \(error)")
        case let error as PortsExhausted:
            self.init(.serviceUnavailable, "no_ports", error.description)
        case let error as POSIXFailure where error.code == ENOSPC || error.code == EDQUOT:
            self.init(HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage"), "no_space",
                      "the agent's state directory is out of space (\(error.operation)); free some and try again")
        default:
            return nil
        }
    }

    private init(mapping error: ReleaseError) {
        let (status, code): (HTTPResponse.Status, String) = switch error.kind {
        case .missingDigest: (.badRequest, "missing_digest")
        case .invalidDigest: (.badRequest, "invalid_digest")
        case .invalidSpec: (.badRequest, "invalid_spec")
        case .truncated: (.badRequest, "truncated")
        case .tooLarge: (.contentTooLarge, "too_large")
        case .tooManyEntries: (.contentTooLarge, "too_many_entries")
        case .digestMismatch: (.unprocessableContent, "digest_mismatch")
        case .invalidTarball: (.unprocessableContent, "invalid_tarball")
        case .unsafeTarball: (.unprocessableContent, "unsafe_tarball")
        case .unpackFailed: (.unprocessableContent, "unpack_failed")
        case .binaryMissing: (.unprocessableContent, "binary_missing")
        case .binaryNotExecutable: (.unprocessableContent, "binary_not_executable")
        case .versionConflict: (.conflict, "version_conflict")
        case .specConflict: (.conflict, "spec_conflict")
        case .exposureTooHigh: (.unprocessableContent, "exposure_too_high")
        }
        self.init(status, code, error.message)
    }
}
