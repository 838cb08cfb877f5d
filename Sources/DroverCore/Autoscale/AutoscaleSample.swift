/// One instance's usage at one moment. Missing readings are nil (a dead metric source),
/// never zero; instances not yet ready are left out of the average.
public struct AutoscaleSample: Sendable, Equatable {
    public var ready: Bool
    /// CPU in use, in cores (a rate over the last interval).
    public var cpu: Double?
    public var memoryBytes: UInt64?

    public init(ready: Bool, cpu: Double?, memoryBytes: UInt64?) {
        self.ready = ready
        self.cpu = cpu
        self.memoryBytes = memoryBytes
    }
}
