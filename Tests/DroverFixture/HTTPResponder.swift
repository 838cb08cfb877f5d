import Foundation
import ServiceLifecycle
import Synchronization

/// A small HTTP/1.1 server on blocking sockets: one thread accepts, one thread per connection
/// answers (so a slow `/burn` never holds up others). On graceful shutdown it stops accepting
/// and waits for the requests in hand, so a rolling deploy drops nothing.
final class HTTPResponder: Service, Sendable {
    private let listeners: [Int32]
    private let identity: String
    private let healthyUntil: ContinuousClock.Instant?
    private let state = Mutex(State())
    private struct State {
        var stopping = false
        var inFlight = 0
        var held: [[UInt8]] = []
    }

    /// Listens on the socket systemd passed (`LISTEN_FDS`, fd 3: the service's shared traffic)
    /// and on 127.0.0.1:`$PORT` (this instance alone: where Drover's health checks ask).
    /// Returns nil when there is neither (no HTTP then).
    static func listening(environment: [String: String], unhealthyAfter: Double?) throws -> HTTPResponder? {
        let version = environment["DROVER_VERSION"] ?? "-", instance = environment["DROVER_INSTANCE"] ?? "-"
        let healthyUntil = unhealthyAfter.map { ContinuousClock.now + .seconds($0) }
        var listeners: [Int32] = []
        if environment["LISTEN_FDS"] == "1", environment["LISTEN_PID"] == String(getpid()) { listeners.append(3) }
        let port = environment["PORT"].flatMap(Int.init)
        if let port { listeners.append(try bindLoopback(port: port)) }
        guard !listeners.isEmpty else { return nil }
        let identity = "version=\(version) instance=\(instance) port=\(port.map(String.init) ?? "socket") pid=\(getpid())"
        return HTTPResponder(listeners: listeners, identity: identity, healthyUntil: healthyUntil)
    }

    private static func bindLoopback(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FixtureError("socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(clamping: port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 128) == 0 else {
            throw FixtureError("cannot listen on 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        return fd
    }

    private init(listeners: [Int32], identity: String, healthyUntil: ContinuousClock.Instant?) {
        // Non-blocking: instances sharing a socket all wake for one connection and one wins;
        // a blocking accept would leave the others stuck, with a request counted in flight.
        for listener in listeners { _ = fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) | O_NONBLOCK) }
        self.listeners = listeners
        self.identity = identity
        self.healthyUntil = healthyUntil
        Thread { [self] in acceptLoop() }.start()
    }

    /// Runs until graceful shutdown, then drains: however long the requests in hand take, as a
    /// well-behaved service does. systemd's `TimeoutStopSec=` is the bound, not a guess here.
    func run() async throws {
        try? await gracefulShutdown()
        state.withLock { $0.stopping = true }
        while state.withLock({ $0.inFlight > 0 }) {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    private func acceptLoop() {
        var descriptors = listeners.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        while !state.withLock({ $0.stopping }) {
            guard poll(&descriptors, nfds_t(descriptors.count), 50) > 0 else { continue }
            for index in descriptors.indices where descriptors[index].revents & Int16(POLLIN) != 0 {
                // Count the request before accepting, so shutdown cannot slip in between.
                let admitted = state.withLock { state -> Bool in
                    guard !state.stopping else { return false }
                    state.inFlight += 1
                    return true
                }
                guard admitted else { return }
                let client = accept(descriptors[index].fd, nil, nil)
                guard client >= 0 else {
                    state.withLock { $0.inFlight -= 1 }
                    continue
                }
                Thread { [self] in
                    answer(client)
                    close(client)
                    state.withLock { $0.inFlight -= 1 }
                }.start()
            }
        }
    }

    private func answer(_ client: Int32) {
        var buffer = [UInt8](repeating: 0, count: 8192)
        var received: [UInt8] = []
        while !received.containsHeaderEnd, received.count < 65536 {
            let count = read(client, &buffer, buffer.count)
            if count <= 0 { return }
            received += buffer[0..<count]
        }
        let requestLine = String(decoding: received.prefix { $0 != 13 }, as: UTF8.self)
        let target = requestLine.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
        let (status, body) = respond(to: target)
        let head = "HTTP/1.1 \(status)\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
        let response = Array((head + body).utf8)
        response.withUnsafeBytes { _ = write(client, $0.baseAddress, $0.count) }
    }

    private func respond(to target: String) -> (String, String) {
        let path = target.split(separator: "?").first.map(String.init) ?? target
        let number = target.split(separator: "=").last.flatMap { Int($0) } ?? 0
        switch path {
        case "/healthz":
            if let healthyUntil, ContinuousClock.now >= healthyUntil { return ("503 Service Unavailable", "unhealthy\n") }
            return ("200 OK", "ok\n")
        case "/burn":
            // N ms of CPU time (this thread's clock), however long that takes on a busy host.
            let end = threadCPUTime() + Double(number) / 1000
            var x: UInt64 = 1
            while threadCPUTime() < end { for _ in 0..<10_000 { x = x &* 6364136223846793005 &+ 1 } }
            return ("200 OK", "burned \(number) ms (\(x % 2))\n")
        case "/hold":
            let block = [UInt8](repeating: 1, count: number << 20)
            state.withLock { $0.held.append(block) }
            return ("200 OK", "holding \(state.withLock { $0.held.reduce(0) { $0 + $1.count } } >> 20) MB\n")
        case _ where path.hasPrefix("/credential/"):
            // A systemd credential, as a service reads it: from $CREDENTIALS_DIRECTORY. Only a
            // checksum of it is answered (the test knows the value; nothing here shows it).
            let name = String(path.dropFirst("/credential/".count))
            guard let directory = ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"] else { return ("404 Not Found", "no CREDENTIALS_DIRECTORY\n") }
            guard !name.contains("/"), let data = FileManager.default.contents(atPath: directory + "/" + name) else {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
                return ("404 Not Found", "no credential \(name) in \(directory) (\(names.sorted().joined(separator: ", ")))\n")
            }
            return ("200 OK", "fnv1a64=\(String(fnv1a64(Array(data)), radix: 16)) bytes=\(data.count)\n")
        default:
            return ("200 OK", "drover-fixture \(identity)\n")
        }
    }
}

/// FNV-1a, 64 bits: a checksum the tests compute too (no crypto library in the fixture).
func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
    var hash: UInt64 = 0xcbf29ce484222325
    for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100000001b3 }
    return hash
}

/// CPU time used by the calling thread, in seconds.
private func threadCPUTime() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

extension [UInt8] {
    var containsHeaderEnd: Bool {
        count >= 4 && (0...(count - 4)).contains { self[$0] == 13 && self[$0 + 1] == 10 && self[$0 + 2] == 13 && self[$0 + 3] == 10 }
    }
}
