/// Where a release lives on this host: what unit rendering needs beyond the spec.
public struct UnitContext: Sendable, Equatable {
    public var service: ServiceName
    public var version: ReleaseVersion
    public var scope: Scope
    /// The release's root directory (absolute).
    public var releaseDirectory: String
    /// Holds `<slot>.env` for each slot (its `PORT`), shared by every release of the service.
    public var slotDirectory: String

    public init(service: ServiceName, version: ReleaseVersion, scope: Scope, releaseDirectory: String, slotDirectory: String) {
        self.service = service
        self.version = version
        self.scope = scope
        self.releaseDirectory = releaseDirectory
        self.slotDirectory = slotDirectory
    }
}
