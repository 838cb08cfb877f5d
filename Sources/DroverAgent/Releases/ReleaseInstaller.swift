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
        let exposure = try await gate(rendered.template, spec: spec, service: service, version: version, staging: staged.directory)

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
                    unitSHA256: rendered.templateSHA256, createdAt: Date(), exposure: exposure?.score
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

    /// Scores the release's unit as `systemd-analyze security` does, and refuses it (system
    /// scope) above `max_exposure`, unless its spec accepts at least that score. A user
    /// manager enforces next to no sandbox: there the score is kept and shown, not enforced.
    private func gate(_ template: String, spec: ServiceSpec, service: ServiceName, version: ReleaseVersion, staging: String) async throws -> UnitExposure? {
        let (configuration, logger) = (context.configuration, context.logger)
        let name = UnitNames.template(service, version)
        let exposure = try await blockingIO { UnitExposure.score(unit: template, name: name, in: staging) }
        guard let exposure else {
            logger.warning("could not score the release's unit with systemd-analyze security; it is not gated", metadata: ["service": "\(service)", "version": "\(version)"])
            return nil
        }
        let allowed = max(configuration.maxExposure, spec.acceptExposure ?? 0)
        guard configuration.scope == .system, exposure.score > allowed else { return exposure }
        // What the manifest dropped: the checks this unit fails that the default sandbox passes.
        var defaults = spec
        defaults.sandbox = [:]
        let baselineText = try context.units.render(defaults, service: service, version: version).template
        let baseline = try await blockingIO { UnitExposure.score(unit: baselineText, name: name, in: staging) }
        let dropped = exposure.failed.filter { !(baseline?.failed.contains($0) ?? false) }
        let worst = (dropped.isEmpty ? exposure.failed : dropped).prefix(6).joined(separator: ", ")
        throw ReleaseError(.exposureTooHigh, "\(service) \(version)'s unit scores \(Self.format(exposure.score)) on systemd-analyze security's exposure scale (0 safe, 10 unsafe), "
            + "above this agent's max_exposure \(Self.format(configuration.maxExposure))"
            + (spec.acceptExposure.map { " and the \(Self.format($0)) its manifest accepts" } ?? "")
            + ". Its heaviest missing protections: \(worst). Keep the default sandbox (remove the [sandbox] changes that drop them), "
            + "or accept this score on purpose in the manifest: accept_exposure = \(Self.format(exposure.score))")
    }

    static func format(_ score: Double) -> String { String(format: "%.1f", score) }

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
