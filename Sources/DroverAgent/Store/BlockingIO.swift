import NIOPosix

/// Runs blocking file work (writes, fsyncs, reads of unit files, SQLite's first open) on
/// NIO's thread pool for blocking I/O, never on one of the few cooperative threads that
/// every task of the agent shares.
func blockingIO<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await NIOThreadPool.singleton.runIfActive(body)
}
