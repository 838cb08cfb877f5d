import DroverSystemd
import Foundation
import Synchronization

/// A child process started with `posix_spawn` and reaped with `waitpid` on its own PID.
///
/// Foundation's `Process` was seen missing the exit of one of several children running at
/// once (`isRunning` stayed true with the process long gone), so the test bed and the
/// benchmark spawn and reap their children themselves. Children start with the default
/// signal mask and handlers (Swift's worker threads block signals; that must not leak into
/// a systemd manager or a `systemctl`).
public final class ChildProcess: Sendable {
    public let pid: pid_t
    private let exitStatus = Mutex<Int32?>(nil)

    private init(pid: pid_t) {
        self.pid = pid
    }

    /// Starts `executable` with `arguments` (argv[0] excluded). `environment` nil inherits
    /// ours; `output` nil discards stdout and stderr, otherwise appends both to that file.
    public static func spawn(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, output: String? = nil
    ) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Not the tests' open connections: a client closing one must be seen closed by its agent.
        SpawnedDescriptors.closeAllButStandard(in: &actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = [executable] + arguments
        let envp = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let result = withCStringArray(argv) { argv in
            withCStringArray(envp) { envp in
                posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
            }
        }
        guard result == 0 else {
            throw TestbedError("cannot start \(executable): \(String(cString: strerror(result)))")
        }
        return ChildProcess(pid: pid)
    }

    /// The exit status if the child has ended (reaping it), nil while it runs. A child killed
    /// by a signal reports 128 + the signal number, as shells do.
    public func poll() -> Int32? {
        exitStatus.withLock { cached in
            if let cached { return cached }
            var status: Int32 = 0
            switch waitpid(pid, &status, WNOHANG) {
            case 0:
                return nil
            case pid:
                cached = Self.decode(status)
            default:
                cached = -1  // Not our child any more (reaped elsewhere): it has ended.
            }
            return cached
        }
    }

    public var isRunning: Bool { poll() == nil }

    /// Waits for the child to end, on a thread of its own (never blocking a Swift task's thread).
    public func wait() async -> Int32 {
        if let status = poll() { return status }
        let pid = self.pid
        let status: Int32 = await withCheckedContinuation { continuation in
            Thread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                continuation.resume(returning: Self.decode(status))
            }.start()
        }
        exitStatus.withLock { $0 = $0 ?? status }
        return status
    }

    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}

/// Calls `body` with a NULL-terminated array of C strings.
private func withCStringArray<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { pointers.forEach { free($0) } }
    return body(pointers)
}
