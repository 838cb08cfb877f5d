import Glibc

/// What a spawned program inherits: only its standard input, output and error.
///
/// SwiftNIO opens its sockets without `SOCK_CLOEXEC`, so a child spawned while connections
/// are open would hold them: a client's connection closed by this process stays open in the
/// child (no FIN reaches the peer) until the child exits. A `systemctl` or a throwaway
/// systemd manager lives long enough for that to show.
public enum SpawnedDescriptors {
    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32

    /// Adds "close every descriptor from 3 up" to `actions`, after the actions added so far
    /// (the `dup2`s onto 0, 1 and 2 come first). Uses glibc's
    /// `posix_spawn_file_actions_addclosefrom_np` (2.34 and later; Swift's Glibc module does
    /// not declare it); where that is missing, the descriptors open now are marked
    /// close-on-exec instead.
    public static func closeAllButStandard(in actions: inout posix_spawn_file_actions_t) {
        if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
            let closeFrom = unsafeBitCast(symbol, to: CloseFrom.self)
            if closeFrom(&actions, 3) == 0 { return }
        }
        guard let directory = opendir("/proc/self/fd") else { return }
        defer { closedir(directory) }
        let own = dirfd(directory)
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let fd = Int32(name), fd > 2, fd != own else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }
}
