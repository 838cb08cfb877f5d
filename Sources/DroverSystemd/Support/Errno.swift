#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Every libsystemd call returns a negative errno on failure; this turns it into a thrown
/// error naming the call, so no return value is silently ignored.
@discardableResult
func checked(_ call: StaticString, _ result: Int32, unit: String? = nil) throws(SystemdError) -> Int32 {
    guard result < 0 else { return result }
    throw SystemdError(.busFailure, unit: unit, message: "\(call) failed: \(errnoDescription(-result))")
}

/// `strerror` for a positive errno value.
func errnoDescription(_ errno: Int32) -> String {
    String(cString: strerror(errno))
}
