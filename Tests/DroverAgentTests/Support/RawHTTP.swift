import DroverTestbed
import Foundation

/// Sends the start of a request and hangs up mid-body, as a dropped connection would.
enum RawHTTP {
    static func sendTruncated(port: Int, head: String, bodyBytes: Int) throws {
        let fd = try connectedLoopbackSocket(port: port)
        defer { close(fd) }
        let data = Data(head.utf8) + Data(repeating: 0x41, count: bodyBytes)
        let sent = data.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == data.count else { throw AgentTestError("short send") }
    }
}
