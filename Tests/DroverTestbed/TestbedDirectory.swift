import Foundation

/// A new temporary directory named for this test process (`drover-testbed-<pid>-<label>-XXXXXX`):
/// if the process dies before removing it, the next test bed's sweep does.
public func makeTestbedDirectory(_ label: String) throws -> String {
    try ThrowawayUserManager.makeTemporaryDirectory(prefix: "\(ThrowawayUserManager.namePrefix)\(getpid())-\(label)")
}
