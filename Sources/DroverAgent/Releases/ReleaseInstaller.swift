import DroverAPI
import DroverCore
import Foundation
import NIOCore
import NIOPosix

/// Installs a release: streams, verifies, unpacks, renders its unit, reloads systemd,
/// records it. Uploading the same release again changes nothing (`created` is false); the
/// same version with other content is a conflict. On any failure nothing is left.
struct ReleaseInstaller {
    let context: AgentContext

    /// What an upload request carries besides its body.
    struct Upload: Sendable {
        var digestHeader: String?
        var specHeader: String?
        var contentLength: Int64?
        /// `Drover-Secrets`: the values of the spec's secrets.
        var secretsHeader: String? = nil
        /// Whether a secret may come this way: over TLS, or from this host (loopback).
        var confidential: Bool = true
    }

    /// Receives and unpacks outside the service's exclusive section (a long upload must not
    /// hold the service up); installs and records inside it, in `runner`.
    func install<Body: AsyncSequence & Sendable>(
        _ service: ServiceName, _ version: ReleaseVersion, _ upload: Upload, body: Body, runner: @Sendable () async -> ServiceRunner
    ) async throws -> (release: ReleaseInfo, created: Bool) where Body.Element == ByteBuffer {
        let (configuration, files, logger) = (context.configuration, context.files, context.logger)
        let digest = try ContentDigest.sha256(fromHeader: upload.digestHeader)
        let spec = try Self.spec(fromHeader: upload.specHeader, service: service)
        let secrets = try Self.secrets(fromHeader: upload.secretsHeader, spec: spec, service: service, confidential: upload.confidential)
        if let length = upload.contentLength, length > configuration.maxUploadBytes {
            throw ReleaseError(.tooLarge, "the artifact is \(length) bytes; the limit is \(configuration.maxUploadBytes) (max_upload_bytes)")
        }
        if let existing = try await sameOrConflicting(service, version, sha256: digest.hex, spec: spec) {
            return (existing, false)
        }

        let staged: ReleaseFiles.Staged
        do {
            staged = try await files.receive(body, expectedSHA256: digest, expectedLength: upload.contentLength,
                                             limit: configuration.maxUploadBytes)
        } catch {
            // A refused or cut-off upload is never silent: the operator sees which, and why.
            logger.warning("upload failed; nothing was kept", metadata: [
                "service": "\(service)", "version": "\(version)", "reason": "\(error)",
            ])
            throw error
        }
        // The staging directory goes before the answer, whatever the outcome.
        do {
            let result = try await installStaged(staged, service, version, spec: spec, secrets: secrets, runner: runner)
            await files.discard(staged.directory)
            return result
        } catch {
            await files.discard(staged.directory)
            throw error
        }
    }

    private func installStaged(_ staged: ReleaseFiles.Staged, _ service: ServiceName, _ version: ReleaseVersion, spec: ServiceSpec,
                               secrets: [String: [UInt8]], runner: @Sendable () async -> ServiceRunner) async throws -> (release: ReleaseInfo, created: Bool) {
        let (configuration, files, units, store, logger) = (context.configuration, context.files, context.units, context.store, context.logger)
        // Unpacking (libarchive, many files) blocks: it runs on the I/O thread pool.
        let (root, fileCount) = try await NIOThreadPool.singleton.runIfActive {
            try files.unpack(staged, spec: spec, maxUnpackedBytes: configuration.maxUnpackedBytes, maxEntries: configuration.maxUnpackedEntries)
        }
        let rendered = try units.render(spec, service: service, version: version)

        return try await runner().exclusively {
            if let existing = try await sameOrConflicting(service, version, sha256: staged.sha256, spec: spec) {
                return (existing, false)
            }
            let secretFiles = SecretFiles(files: files, scope: configuration.scope)
            for name in spec.secrets.keys.sorted() where secrets[name] == nil {
                guard await secretFiles.exists(service, version, name: name, digest: spec.secrets[name]!) else {
                    throw SecretError(.missing, "the spec names the secret \(name), but its value was not sent (drover deploy sends the manifest's [secrets]; over the API, the \(APIHeaders.secrets) header)")
                }
            }
            let writtenSecrets = try await secretFiles.store(secrets, digests: spec.secrets, service: service, version: version)
            do {
                try await files.install(root, service: service, version: version)
            } catch {
                await secretFiles.remove(writtenSecrets)
                throw error
            }
            do {
                try await units.write(rendered, service: service, version: version)
                if let limits = try await store.service(service)?.instanceLimits {
                    _ = try await units.writeLimitsDropIn(LiveResize.dropIn(spec, limits, service: service), service: service, version: version)
                }
                try await context.systemd.reload()
                let record = StateStore.ReleaseRecord(
                    service: service, version: version, sha256: staged.sha256, size: staged.size,
                    kind: staged.isGzip ? "tarball" : "binary", files: fileCount, spec: spec,
                    unitSHA256: rendered.templateSHA256, createdAt: Date()
                )
                try await store.addRelease(record)
                try await store.record("release.added", service: service, "release \(version) added (\(staged.size) bytes, sha256 \(staged.sha256))")
                logger.info("release added", metadata: ["service": "\(service)", "version": "\(version)", "bytes": "\(staged.size)"])
                let current = try await store.service(service)?.currentVersion == version
                return (record.info(current: current, scope: context.configuration.scope), true)
            } catch {
                // Undo: the host must look exactly as before the request.
                await secretFiles.remove(writtenSecrets)
                try? await files.removeRelease(service, version)
                try? await units.removeTemplate(service, version)
                if try await store.service(service) == nil { try? await units.removeSlice(service) }
                try? await context.systemd.reload()
                throw error
            }
        }
    }

    /// The release if it already exists with this content; a conflict if it exists with other content.
    private func sameOrConflicting(_ service: ServiceName, _ version: ReleaseVersion, sha256: String, spec: ServiceSpec) async throws -> ReleaseInfo? {
        let store = context.store
        guard let existing = try await store.release(service, version) else { return nil }
        guard existing.sha256 == sha256 else {
            throw ReleaseError(.versionConflict, "\(service) \(version) already exists with sha256 \(existing.sha256); a release never changes: upload it under a new version")
        }
        guard existing.spec == spec else {
            throw ReleaseError(.specConflict, "\(service) \(version) already exists with another spec; a release never changes: upload it under a new version")
        }
        let current = try await store.service(service)?.currentVersion == version
        return existing.info(current: current, scope: context.configuration.scope)
    }

    /// The secret values of the `Drover-Secrets` header, each checked against the spec's
    /// digest. No message names a value; a value never leaves this function but to its file.
    static func secrets(fromHeader header: String?, spec: ServiceSpec, service: ServiceName, confidential: Bool) throws(SecretError) -> [String: [UInt8]] {
        guard let header else { return [:] }
        guard confidential else {
            throw SecretError(.insecureTransport, "secrets are accepted over TLS or from this host only: this request came over plain HTTP from another host, so the values crossed the network in clear text. Rotate them, and turn TLS on (remove tls = false)")
        }
        guard header.utf8.count <= 4 * SecretDigest.maxValueBytes * 3, let json = Data(base64Encoded: header),
              let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            throw SecretError(.invalidHeader, "the \(APIHeaders.secrets) header must be base64 of a JSON object of names to base64 values")
        }
        var values: [String: [UInt8]] = [:]
        for (name, encoded) in object {
            guard let digest = spec.secrets[name] else {
                throw SecretError(.unexpected, "a value was sent for the secret \(name.unicodeScalars.prefix(64).filter { $0.isASCII && $0.value >= 0x20 }.map(String.init).joined()), which the spec does not name")
            }
            guard let text = encoded as? String, let value = Data(base64Encoded: text) else {
                throw SecretError(.invalidHeader, "the value of the secret \(name) in \(APIHeaders.secrets) is not base64")
            }
            guard value.count <= SecretDigest.maxValueBytes else {
                throw SecretError(.tooLarge, "the secret \(name) is \(value.count) bytes; at most \(SecretDigest.maxValueBytes)")
            }
            guard SecretDigest.of(service: service, name: name, value: Array(value)) == digest else {
                throw SecretError(.digestMismatch, "the value sent for the secret \(name) does not have the digest the spec names (\(digest)): the spec and the value must come from the same manifest")
            }
            values[name] = Array(value)
        }
        return values
    }

    /// The spec from the `Drover-Spec` header (base64 JSON), or the default: run the single
    /// uploaded file, named after the service.
    static func spec(fromHeader header: String?, service: ServiceName) throws(ReleaseError) -> ServiceSpec {
        guard let header, !header.isEmpty else { return ServiceSpec(binary: service.rawValue) }
        guard let json = Data(base64Encoded: header) else {
            throw ReleaseError(.invalidSpec, "the \(APIHeaders.spec) header must be base64-encoded JSON")
        }
        let spec: ServiceSpec
        do {
            spec = try JSONDecoder.droverAPI.decode(ServiceSpec.self, from: json)
        } catch {
            throw ReleaseError(.invalidSpec, "the \(APIHeaders.spec) header is not a valid spec: \(DecodingErrorText(error))")
        }
        do throws(SpecError) {
            try spec.validate()
        } catch {
            throw ReleaseError(.invalidSpec, "spec \(error)")
        }
        return spec
    }
}
