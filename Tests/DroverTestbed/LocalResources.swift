import Foundation
import Synchronization

private let nextPort = Atomic<Int>(0)

/// A loopback TCP port nobody uses right now, from 15000–19999: below Linux's ephemeral range
/// (32768+), where a client's source port could take it between this check and its use, and
/// below the 20000+ ports agents hand to instances.
public func freeLoopbackPort() throws -> Int {
    for _ in 0..<5000 {
        let port = 15000 + (Int(getpid()) * 7 + nextPort.add(1, ordering: .relaxed).newValue) % 5000
        if isFree(port) { return port }
    }
    throw TestbedError("no free loopback port in 15000-19999")
}

private func isFree(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = loopback(port)
    return withSocketAddress(&address) { bind(fd, $0, $1) == 0 }
}

/// A TCP socket connected to 127.0.0.1:`port`, for tests that speak raw bytes; the caller closes it.
public func connectedLoopbackSocket(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw TestbedError("socket failed") }
    var address = loopback(port)
    guard withSocketAddress(&address, { connect(fd, $0, $1) }) == 0 else {
        close(fd)
        throw TestbedError("connect to 127.0.0.1:\(port) failed")
    }
    return fd
}

/// A TCP socket listening on 127.0.0.1:`port`, to hold a port taken; the caller closes it.
/// Close-on-exec, like every socket here: a process another test spawns meanwhile must not
/// inherit it and keep the port taken after the caller closed it.
public func listeningLoopbackSocket(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw TestbedError("socket failed") }
    var address = loopback(port)
    guard withSocketAddress(&address, { bind(fd, $0, $1) }) == 0, listen(fd, 8) == 0 else {
        close(fd)
        throw TestbedError("cannot listen on 127.0.0.1:\(port)")
    }
    return fd
}

private func loopback(_ port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

/// Whether a Unix stream socket at `path` accepts a connection now.
func acceptsConnections(_ path: String) -> Bool {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
    withUnsafeMutableBytes(of: &address.sun_path) { buffer in
        buffer.copyBytes(from: bytes)
    }
    return withSocketAddress(&address) { connect(fd, $0, $1) == 0 }
}

/// Calls `body` with `address` as the `sockaddr` pointer and length the socket calls take.
private func withSocketAddress<Address, Result>(_ address: inout Address, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
    withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<Address>.size)) }
    }
}

/// An executable of this package (`drover-agent`, `drover-fixture`), built in the same
/// directory as the running binary or one of its parents (test bundles sit one level down).
public func builtExecutable(_ name: String) -> String {
    if let path = ProcessInfo.processInfo.environment["DROVER_" + name.uppercased().replacingOccurrences(of: "-", with: "_")] {
        return path
    }
    let own = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var directory = URL(fileURLWithPath: own).deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path), directory.path != "/" {
        directory = directory.deletingLastPathComponent()
    }
    return directory.appendingPathComponent(name).path
}
