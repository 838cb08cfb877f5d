/// Where a release lives on this host: what unit rendering needs beyond the spec.
public struct UnitContext: Sendable, Equatable {
    public var service: ServiceName
    public var version: ReleaseVersion
    public var scope: Scope
    /// The release's root directory (absolute).
    public var releaseDirectory: String
    /// Holds `<slot>.env` for each slot (its `PORT`), shared by every release of the service.
    public var slotDirectory: String
    /// Holds the service's secrets: one encrypted file per name and digest
    /// (`NAME.<digest>.cred`) in system scope; one directory of 0600 files per release
    /// (`<version>/NAME`) in user scope.
    public var secretsDirectory: String

    public init(service: ServiceName, version: ReleaseVersion, scope: Scope, releaseDirectory: String, slotDirectory: String,
                secretsDirectory: String = "/nonexistent") {
        self.service = service
        self.version = version
        self.scope = scope
        self.releaseDirectory = releaseDirectory
        self.slotDirectory = slotDirectory
        self.secretsDirectory = secretsDirectory
    }

    /// Where the secret `name` with `digest` is kept for this release, and whether it is encrypted.
    public func secretFile(_ name: String, digest: String) -> (path: String, encrypted: Bool) {
        scope == .system ? (secretsDirectory + "/\(name).\(digest).cred", true) : (userCredentialsDirectory + "/\(name)", false)
    }

    /// In user scope, the release's own `$CREDENTIALS_DIRECTORY`.
    public var userCredentialsDirectory: String { secretsDirectory + "/\(version)" }
}
