import DroverSystemd
import DroverTestbed
import Foundation
import Testing

/// A spawned child holds none of its parent's descriptors beyond 0, 1 and 2: a connection
/// (here a pipe) the parent closes is closed for its peer at once, however long the child lives.
@Suite(.timeLimit(.minutes(1)))
struct SpawnedDescriptorsTests {
    @Test func aChildDoesNotKeepItsParentsPipeOpen() async throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)  // no O_CLOEXEC, as SwiftNIO's sockets
        defer { close(ends[0]) }
        let child = try ChildProcess.spawn("/bin/sleep", ["30"])
        defer { kill(child.pid, SIGKILL); _ = child.poll() }
        close(ends[1])
        // With the write end inherited, the read end would see no end of file for 30 s.
        var reader = pollfd(fd: ends[0], events: Int16(POLLIN), revents: 0)
        #expect(poll(&reader, 1, 5_000) == 1, "the pipe's end is seen while the child runs")
        var byte: UInt8 = 0
        #expect(read(ends[0], &byte, 1) == 0, "end of file: the child holds no write end")
        #expect(child.isRunning)
        kill(child.pid, SIGKILL)
        _ = await child.wait()
    }
}
