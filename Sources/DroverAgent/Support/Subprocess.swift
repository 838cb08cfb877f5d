import DroverSystemd
import Foundation

/// The few programs the agent runs (systemd-creds, systemd-analyze), with a minimal
/// environment (nothing of the agent's is passed on), input on standard input only, and
/// their output collected. Blocking: call it on the I/O pool.
enum Subprocess {
    /// Runs `arguments[0]` with `input` on its standard input; its exit status, standard
    /// output and standard error (each kept up to 256 KiB).
    static func run(_ arguments: [String], input: [UInt8] = []) throws -> (status: Int32, output: String, errors: String) {
        var inPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard pipe(&inPipe) == 0 else { throw POSIXFailure("pipe") }
        guard pipe(&outPipe) == 0 else { close(inPipe[0]); close(inPipe[1]); throw POSIXFailure("pipe") }
        guard pipe(&errPipe) == 0 else { (inPipe + outPipe).forEach { close($0) }; throw POSIXFailure("pipe") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        SpawnedDescriptors.closeAllButStandard(in: &actions)  // the pipes' ends and the agent's connections
        var pid: pid_t = 0
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), strdup("LANG=C.UTF-8"), strdup("SYSTEMD_COLORS=0"), nil]
        defer { envp.forEach { free($0) } }
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, argv, envp)
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        guard spawned == 0 else {
            close(inPipe[1]); close(outPipe[0]); close(errPipe[0])
            throw POSIXFailure("spawn \(arguments[0])")
        }
        // Small inputs and outputs: the input is written whole (a pipe holds 64 KiB), then both
        // outputs are read to their end, one after the other, with poll so neither fills up.
        var offset = 0
        while offset < input.count {
            let written = input.withUnsafeBytes { write(inPipe[1], $0.baseAddress! + offset, input.count - offset) }
            if written < 0 { if errno == EINTR { continue }; break }
            offset += written
        }
        close(inPipe[1])
        var collected: [[UInt8]] = [[], []]
        var open = [outPipe[0], errPipe[0]]
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while open.contains(where: { $0 >= 0 }) {
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), -1) >= 0 || errno == EINTR else { break }
            for index in fds.indices where fds[index].fd >= 0 && fds[index].revents != 0 {
                let count = read(fds[index].fd, &buffer, buffer.count)
                if count > 0 {
                    if collected[index].count < 262_144 { collected[index] += buffer[..<count] }
                } else if count == 0 || errno != EINTR {
                    close(fds[index].fd)
                    open[index] = -1
                }
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exit, String(decoding: collected[0], as: UTF8.self),
                String(decoding: collected[1], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
