import Foundation

/// `systemd-creds encrypt`, the one program the agent runs: systemd offers credential
/// encryption on the command line only (there is no D-Bus call for it). The value goes in on
/// standard input and never appears in an argument, the environment or a log line; its
/// output is written next to the target and renamed over it.
enum SystemdCreds {
    static let executable = "/usr/bin/systemd-creds"

    /// Encrypts `value` as the credential `name` into `path` (0600), with the host's key and
    /// its TPM2 when it has one (`--with-key=auto`). Blocking: run it on the I/O pool.
    static func encrypt(name: String, value: [UInt8], to path: String) throws {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw SecretError(.encryptionUnavailable, "\(executable) is not installed: the host cannot encrypt secrets (install systemd 250 or later)")
        }
        let temporary = path + ".tmp-\(getpid())"
        let (status, errors) = try run([executable, "encrypt", "--name=" + name, "--with-key=auto", "-", temporary], input: value)
        guard status == 0 else {
            unlink(temporary)
            throw SecretError(.encryptionFailed, "systemd-creds could not encrypt the secret \(name) (exit \(status)): \(errors.prefix(300))")
        }
        chmod(temporary, 0o600)
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw POSIXFailure("rename \(temporary)")
        }
    }

    /// Runs a program with `input` on its standard input; its exit status and standard error.
    private static func run(_ arguments: [String], input: [UInt8]) throws -> (Int32, String) {
        var inPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard pipe(&inPipe) == 0, pipe(&errPipe) == 0 else { throw POSIXFailure("pipe") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        for fd in inPipe + errPipe { posix_spawn_file_actions_addclose(&actions, fd) }
        var pid: pid_t = 0
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        // A minimal environment: nothing of the agent's is passed on.
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), strdup("LANG=C.UTF-8"), nil]
        defer { envp.forEach { free($0) } }
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, argv, envp)
        close(inPipe[0])
        close(errPipe[1])
        guard spawned == 0 else {
            close(inPipe[1]); close(errPipe[0])
            throw POSIXFailure("spawn \(arguments[0])")
        }
        var offset = 0
        while offset < input.count {
            let written = input.withUnsafeBytes { write(inPipe[1], $0.baseAddress! + offset, input.count - offset) }
            if written < 0 { if errno == EINTR { continue }; break }
            offset += written
        }
        close(inPipe[1])
        var errors = [UInt8](), buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(errPipe[0], &buffer, buffer.count)
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            if errors.count < 16_384 { errors += buffer[..<count] }
        }
        close(errPipe[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exit, String(decoding: errors, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
