import DroverTestbed
import Foundation

/// Requests a well-behaved HTTP client would never send, written byte by byte.
enum RawHTTP {
    /// Sends the start of a request and hangs up mid-body, as a dropped connection would.
    static func sendTruncated(port: Int, head: String, bodyBytes: Int) throws {
        let fd = try connectedLoopbackSocket(port: port)
        defer { close(fd) }
        try sendAll(fd, Data(head.utf8) + Data(repeating: 0x41, count: bodyBytes))
    }

    /// Sends `head` and `bodyBytes` of body, shuts down the sending side (a half-close: the
    /// body is now shorter than its Content-Length for good) and reads the whole answer.
    static func sendHalfClosed(port: Int, head: String, bodyBytes: Int) throws -> (status: Int, body: Data) {
        let fd = try connectedLoopbackSocket(port: port)
        defer { close(fd) }
        try sendAll(fd, Data(head.utf8) + Data(repeating: 0x41, count: bodyBytes))
        shutdown(fd, Int32(SHUT_WR))
        let text = try readAnswer(fd, timeoutSeconds: 30)
        guard let statusLine = text.split(separator: "\r\n").first, statusLine.hasPrefix("HTTP/1.1 "),
              let status = Int(statusLine.dropFirst(9).prefix(3)) else {
            throw AgentTestError("no HTTP answer after a half-close: \(text.prefix(200))")
        }
        let body = text.range(of: "\r\n\r\n").map { Data(text[$0.upperBound...].utf8) } ?? Data()
        return (status, body)
    }

    /// A GET with a bearer token from the loopback source address `source` (any 127.x.y.z:
    /// to the agent, a client of its own); the status and the `Retry-After` header.
    static func get(port: Int, path: String, token: String, from source: String) throws -> (status: Int, retryAfter: String?) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw AgentTestError("socket: errno \(errno)") }
        defer { close(fd) }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, source, &local.sin_addr)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr)
        let bound = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else { throw AgentTestError("bind \(source): errno \(errno)") }
        let connected = withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { throw AgentTestError("connect: errno \(errno)") }
        try sendAll(fd, Data("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n".utf8))
        let text = try readAnswer(fd, timeoutSeconds: 10)
        let lines = text.components(separatedBy: "\r\n")
        guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/1.1 "), let status = Int(statusLine.dropFirst(9).prefix(3)) else {
            throw AgentTestError("no HTTP answer: \(text.prefix(200))")
        }
        let retryAfter = lines.first { $0.lowercased().hasPrefix("retry-after:") }.map { String($0.dropFirst("retry-after:".count)).trimmingCharacters(in: .whitespaces) }
        return (status, retryAfter)
    }

    /// Everything the peer sends until it closes (or `timeoutSeconds` of silence), as text.
    private static func readAnswer(_ fd: Int32, timeoutSeconds: Int) throws -> String {
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var answer = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { break }
            answer.append(contentsOf: buffer[..<count])
        }
        return String(decoding: answer, as: UTF8.self)
    }

    private static func sendAll(_ fd: Int32, _ data: Data) throws {
        let sent = data.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == data.count else { throw AgentTestError("short send") }
    }
}
