import Foundation

/// Answers every HTTP request on `PORT` with one line naming this instance:
/// `drover-fixture version=<v> instance=<i> port=<p> pid=<pid>`. Enough for tests to see
/// which instance of which release answered; one connection at a time, `Connection: close`.
enum HTTPResponder {
    static func start(port: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FixtureError("socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 128) == 0 else {
            throw FixtureError("cannot listen on 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        let environment = ProcessInfo.processInfo.environment
        let line = "drover-fixture version=\(environment["DROVER_VERSION"] ?? "-") instance=\(environment["DROVER_INSTANCE"] ?? "-") port=\(port) pid=\(getpid())\n"
        let response = Data("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(line.utf8.count)\r\nConnection: close\r\n\r\n\(line)".utf8)
        Thread {
            while true {
                let client = accept(fd, nil, nil)
                guard client >= 0 else { continue }
                var buffer = [UInt8](repeating: 0, count: 8192)
                var received: [UInt8] = []
                while !received.containsHeaderEnd, received.count < 65536 {
                    let count = read(client, &buffer, buffer.count)
                    if count <= 0 { break }
                    received += buffer[0..<count]
                }
                response.withUnsafeBytes { _ = write(client, $0.baseAddress, $0.count) }
                close(client)
            }
        }.start()
    }
}

extension [UInt8] {
    var containsHeaderEnd: Bool {
        count >= 4 && (0...(count - 4)).contains { self[$0] == 13 && self[$0 + 1] == 10 && self[$0 + 2] == 13 && self[$0 + 3] == 10 }
    }
}
