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
        let (status, _, errors) = try Subprocess.run([executable, "encrypt", "--name=" + name, "--with-key=auto", "-", temporary], input: value)
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
}
