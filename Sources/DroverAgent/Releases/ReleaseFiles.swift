import Crypto
import DroverCore
import Foundation
import NIOPosix
import NIOCore

/// The files of releases on disk, under the state directory:
///
///     staging/<random>/              uploads in progress (wiped at start-up)
///     services/<svc>/releases/<v>/   one immutable directory per release
///     services/<svc>/slots/<n>.env   each slot's PORT
///     secrets/<svc>/<NAME>.<digest>  each secret value a release names (0700 directory;
///                                    `.cred`, encrypted with systemd-creds, in system scope)
///
/// An upload is streamed into staging while it is counted and hashed, unpacked there, fsynced,
/// and only then renamed into place: a release directory is complete or absent.
public struct ReleaseFiles: Sendable {
    public let stateDirectory: String

    public init(stateDirectory: String) {
        self.stateDirectory = stateDirectory
    }

    var stagingDirectory: String { stateDirectory + "/staging" }
    /// The FIFOs one-off runs write their output into, while they run.
    var runsDirectory: String { stateDirectory + "/runs" }
    func serviceDirectory(_ service: ServiceName) -> String { stateDirectory + "/services/\(service)" }
    func releasesDirectory(_ service: ServiceName) -> String { serviceDirectory(service) + "/releases" }
    public func releaseDirectory(_ service: ServiceName, _ version: ReleaseVersion) -> String {
        releasesDirectory(service) + "/\(version)"
    }
    public func slotDirectory(_ service: ServiceName) -> String { serviceDirectory(service) + "/slots" }
    /// Apart from the release directories, which instances read: no instance reads this.
    public func secretsDirectory(_ service: ServiceName) -> String { stateDirectory + "/secrets/\(service)" }

    /// Creates the layout and forgets uploads a previous run did not finish.
    func prepare() async throws {
        let (staging, services) = (stagingDirectory, stateDirectory + "/services")
        try await blockingIO {
            try? FileManager.default.removeItem(atPath: staging)
            for directory in [staging, services] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o755])
            }
        }
    }

    /// An upload received into staging, verified, not yet in place.
    struct Staged: Sendable {
        let directory: String
        let artifact: String
        let sha256: String
        let size: Int64
        let isGzip: Bool
    }

    /// Streams `body` into a new staging directory, enforcing `limit` and checking the digest.
    func receive<Body: AsyncSequence>(
        _ body: Body, expectedSHA256: [UInt8], expectedLength: Int64?, limit: Int64
    ) async throws -> Staged where Body.Element == ByteBuffer {
        let directory = stagingDirectory + "/" + UUID().uuidString
        let artifact = directory + "/artifact"
        let fd = try await blockingIO {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
            let fd = open(artifact, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw POSIXFailure("open \(artifact)") }
            return fd
        }
        defer { close(fd) }
        do {
            // Chunks are gathered and written a MiB at a time, on the I/O pool.
            var pending = ByteBuffer()
            func flush() async throws {
                let chunk = pending
                pending.clear()
                try await blockingIO {
                    try chunk.withUnsafeReadableBytes { bytes in try AtomicFile.writeAll(fd, bytes, path: artifact) }
                }
            }
            var hasher = SHA256()
            var size: Int64 = 0
            var head: [UInt8] = []
            var chunks = body.makeAsyncIterator()
            while true {
                let next: ByteBuffer?
                do {
                    next = try await chunks.next()
                } catch {
                    // The connection failed or closed before the body was whole (e.g. a body
                    // shorter than its Content-Length, then a half-close): the client's doing.
                    let of = expectedLength.map { " of \($0)" } ?? ""
                    throw ReleaseError(.truncated, "received \(size)\(of) bytes before the connection ended: the upload was cut short")
                }
                guard let buffer = next else { break }
                size += Int64(buffer.readableBytes)
                guard size <= limit else {
                    throw ReleaseError(.tooLarge, "the artifact is larger than the limit of \(limit) bytes (max_upload_bytes)")
                }
                buffer.withUnsafeReadableBytes { bytes in
                    hasher.update(bufferPointer: bytes)
                    if head.count < 2 { head += bytes.prefix(2 - head.count) }
                }
                pending.writeImmutableBuffer(buffer)
                if pending.readableBytes >= 1 << 20 { try await flush() }
            }
            try await flush()
            if let expectedLength, size != expectedLength {
                throw ReleaseError(.truncated, "received \(size) of \(expectedLength) bytes: the upload was cut short")
            }
            let digest = Array(hasher.finalize())
            guard digest == expectedSHA256 else {
                throw ReleaseError(.digestMismatch, "the artifact's SHA-256 is \(digest.hex), but Content-Digest says \(expectedSHA256.hex): it was damaged or the wrong file was sent")
            }
            try await blockingIO {
                guard fsync(fd) == 0 else { throw POSIXFailure("fsync \(artifact)") }
            }
            return Staged(directory: directory, artifact: artifact, sha256: digest.hex, size: size,
                          isGzip: head == [0x1f, 0x8b])
        } catch {
            await discard(directory)
            throw error
        }
    }

    /// Lays the release out in `staged.directory/root` (the binary placed, or the tarball
    /// unpacked), checks the spec's binary is there and executable, and syncs it all to disk.
    /// Returns the release's root and its number of files.
    func unpack(_ staged: Staged, spec: ServiceSpec, maxUnpackedBytes: Int64, maxEntries: Int) throws -> (root: String, files: Int) {
        let root = staged.directory + "/root"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        let files: Int
        if staged.isGzip {
            files = try TarballExtractor.extract(staged.artifact, into: root, maxBytes: maxUnpackedBytes, maxEntries: maxEntries)
        } else {
            let binary = root + "/" + spec.binary
            try FileManager.default.createDirectory(atPath: (binary as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            guard rename(staged.artifact, binary) == 0, chmod(binary, 0o755) == 0 else { throw POSIXFailure("placing \(binary)") }
            files = 1
        }
        try checkExecutable(root: root, binary: spec.binary)
        try syncTree(root)
        return (root, files)
    }

    /// Moves an unpacked release into place (atomically, durably).
    func install(_ root: String, service: ServiceName, version: ReleaseVersion) async throws {
        let (parent, target) = (releasesDirectory(service), releaseDirectory(service, version))
        try await blockingIO {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            guard rename(root, target) == 0 else { throw POSIXFailure("rename \(root) to \(target)") }
            try AtomicFile.syncDirectory(parent)
        }
    }

    /// Removes a staging directory (before the request is answered: a refused upload leaves
    /// nothing behind).
    func discard(_ directory: String) async {
        _ = try? await blockingIO { try? FileManager.default.removeItem(atPath: directory) }
    }

    func removeRelease(_ service: ServiceName, _ version: ReleaseVersion) async throws {
        let path = releaseDirectory(service, version)
        try await blockingIO { try? FileManager.default.removeItem(atPath: path) }
    }

    func removeService(_ service: ServiceName) async throws {
        let path = serviceDirectory(service)
        try await blockingIO { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Release directories on disk, by service (to find ones the store does not know).
    func releasesOnDisk() async throws -> [(service: ServiceName, version: ReleaseVersion)] {
        try await blockingIO { [self] in
            let fm = FileManager.default
            var result: [(ServiceName, ReleaseVersion)] = []
            for serviceName in (try? fm.contentsOfDirectory(atPath: stateDirectory + "/services")) ?? [] {
                guard let service = try? ServiceName(serviceName) else { continue }
                for versionName in (try? fm.contentsOfDirectory(atPath: releasesDirectory(service))) ?? [] {
                    if let version = try? ReleaseVersion(versionName) { result.append((service, version)) }
                }
            }
            return result
        }
    }

    /// Writes `<slot>.env` (`PORT=<port>`) for each slot whose file is missing or differs.
    /// Slots keep their ports, so after the first scale this writes (and fsyncs) nothing.
    func writeSlotEnvironment(_ service: ServiceName, ports: [Int: Int]) async throws {
        let directory = slotDirectory(service)
        try await blockingIO {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            for (slot, port) in ports {
                let path = directory + "/\(slot).env", contents = Data("PORT=\(port)\n".utf8)
                if FileManager.default.contents(atPath: path) != contents { try AtomicFile.write(contents, to: path) }
            }
        }
    }

    private func checkExecutable(root: String, binary: String) throws {
        let path = root + "/" + binary
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw ReleaseError(.binaryMissing, "the release has no file \(binary) (the spec's binary): check the tarball's layout or the spec")
        }
        // The binary (after links) must be inside the release, too.
        let resolvedRoot = resolvedPath(root) ?? root
        let resolved = resolvedPath(path) ?? path
        guard resolved.hasPrefix(resolvedRoot + "/") else {
            throw ReleaseError(.unsafeTarball, "\(binary) resolves outside the release")
        }
        guard info.st_mode & 0o111 != 0 else {
            throw ReleaseError(.binaryNotExecutable, "\(binary) is not executable (chmod +x it before packing)")
        }
    }

    /// fsyncs every file and directory below `root` (deepest first), then `root` itself.
    private func syncTree(_ root: String) throws {
        let fm = FileManager.default
        let entries = (fm.enumerator(atPath: root)?.allObjects as? [String]) ?? []
        for entry in entries.reversed() {
            let path = root + "/" + entry
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG || (info.st_mode & S_IFMT) == S_IFDIR else { continue }
            let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 else { throw POSIXFailure("open \(path)") }
            defer { close(fd) }
            guard fsync(fd) == 0 else { throw POSIXFailure("fsync \(path)") }
        }
        try AtomicFile.syncDirectory(root)
    }
}
