import DroverCore
import Foundation

/// Where a service's secret values are kept, so every retained release keeps the values it was
/// made with (a rollback brings its secrets back too): in system scope one file per name and
/// digest, encrypted with `systemd-creds` (the host's key, and TPM2 where present: the file is
/// useless on another machine); in user scope, where a user manager cannot decrypt
/// credentials, a directory of 0600 files per release. Outside every release, in a 0700 directory.
struct SecretFiles: Sendable {
    let files: ReleaseFiles
    let scope: Scope

    private func context(_ service: ServiceName, _ version: ReleaseVersion) -> UnitContext {
        UnitContext(service: service, version: version, scope: scope, releaseDirectory: "/", slotDirectory: "/",
                    secretsDirectory: files.secretsDirectory(service))
    }

    func path(_ service: ServiceName, _ version: ReleaseVersion, name: String, digest: String) -> String {
        context(service, version).secretFile(name, digest: digest).path
    }

    /// Writes the values whose files are missing; returns the paths it wrote (for the undo of
    /// a failed upload). Values are passed to systemd-creds on its standard input: never in
    /// an argument or the environment.
    func store(_ values: [String: [UInt8]], digests: [String: String], service: ServiceName, version: ReleaseVersion) async throws -> [String] {
        let directory = files.secretsDirectory(service)
        let releaseDirectory = context(service, version).userCredentialsDirectory
        let targets = values.keys.sorted().map { name in (name, values[name]!, path(service, version, name: name, digest: digests[name]!)) }
        let scope = self.scope
        return try await blockingIO {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            chmod(directory, 0o700)
            if scope == .user {
                try FileManager.default.createDirectory(atPath: releaseDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            var written: [String] = []
            do {
                for (name, value, path) in targets where !FileManager.default.fileExists(atPath: path) {
                    switch scope {
                    case .system: try SystemdCreds.encrypt(name: name, value: value, to: path)
                    case .user: try AtomicFile.write(Data(value), to: path, mode: 0o600)
                    }
                    written.append(path)
                }
            } catch {
                for path in written { unlink(path) }
                throw error
            }
            return written
        }
    }

    /// Whether the file of `name` with `digest` is there.
    func exists(_ service: ServiceName, _ version: ReleaseVersion, name: String, digest: String) async -> Bool {
        let path = path(service, version, name: name, digest: digest)
        return (try? await blockingIO { FileManager.default.fileExists(atPath: path) }) ?? false
    }

    func remove(_ paths: [String]) async {
        _ = try? await blockingIO {
            for path in paths { unlink(path) }
            // A release's own directory (user scope) goes too once empty.
            for directory in Set(paths.map { ($0 as NSString).deletingLastPathComponent }) { rmdir(directory) }
        }
    }

    /// Removes what no release in `kept` uses (after old releases were removed).
    func collect(_ service: ServiceName, keeping kept: [(version: ReleaseVersion, spec: ServiceSpec)]) async {
        let wanted = Set(kept.flatMap { release in
            release.spec.secrets.map { path(service, release.version, name: $0.key, digest: $0.value) }
                + (scope == .user && !release.spec.secrets.isEmpty ? [context(service, release.version).userCredentialsDirectory] : [])
        })
        let directory = files.secretsDirectory(service)
        _ = try? await blockingIO {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where !wanted.contains(directory + "/" + name) {
                try? FileManager.default.removeItem(atPath: directory + "/" + name)
            }
        }
    }

    /// Removes every secret of a deleted service.
    func removeAll(_ service: ServiceName) async {
        let directory = files.secretsDirectory(service)
        _ = try? await blockingIO { try? FileManager.default.removeItem(atPath: directory) }
    }
}
