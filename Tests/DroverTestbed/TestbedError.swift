/// Why the test bed could not boot or tear down a manager.
public struct TestbedError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
