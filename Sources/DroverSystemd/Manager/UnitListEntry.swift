/// One row of `ListUnitsByPatterns`: a unit systemd has loaded, with its states.
public struct UnitListEntry: Sendable, Equatable {
    public var name: String
    public var description: String
    public var loadState: String
    public var activeState: String
    public var subState: String
    /// The id of a job queued or running for the unit (0: none). An inactive unit with a
    /// start job is about to run: its slot is taken.
    public var jobID: UInt32 = 0

    public init(name: String, description: String, loadState: String, activeState: String, subState: String, jobID: UInt32 = 0) {
        self.name = name
        self.description = description
        self.loadState = loadState
        self.activeState = activeState
        self.subState = subState
        self.jobID = jobID
    }

    /// Running, starting, stopping, failed, or about to start: anything but idle.
    public var isInUse: Bool { activeState != "inactive" || jobID != 0 }
}

/// One row of `ListUnitFilesByPatterns`: a unit file on disk, loaded or not.
public struct UnitFileEntry: Sendable, Equatable {
    /// The file's full path.
    public var path: String
    /// `enabled`, `disabled`, `static`, `generated`, …
    public var state: String
}
