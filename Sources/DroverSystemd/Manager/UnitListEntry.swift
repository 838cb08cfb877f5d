/// One row of `ListUnitsByPatterns`: a unit systemd has loaded, with its states.
public struct UnitListEntry: Sendable, Equatable {
    public var name: String
    public var description: String
    public var loadState: String
    public var activeState: String
    public var subState: String
}

/// One row of `ListUnitFilesByPatterns`: a unit file on disk, loaded or not.
public struct UnitFileEntry: Sendable, Equatable {
    /// The file's full path.
    public var path: String
    /// `enabled`, `disabled`, `static`, `generated`, …
    public var state: String
}
