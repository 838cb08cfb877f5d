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
    }

    /// Receives and unpacks outside the service's exclusive section (a long upload must not
    /// hold the service up); installs and records inside it, in `runner`.
    func install<Body: AsyncSequence & Sendable>(
        _ service: ServiceName, _ version: ReleaseVersion, _ upload: Upload, body: Body, runner: @Sendable () async -> ServiceRunner
    ) async throws -> (release: ReleaseInfo, created: Bool) where Body.Element == ByteBuffer {
        let (configuration, files, logger) = (context.configuration, context.files, context.logger)
        let digest = try ContentDigest.sha256(fromHeader: upload.digestHeader)
        let spec = try Self.spec(fromHeader: upload.specHeader, service: service)
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
            let result = try await installStaged(staged, service, version, spec: spec, runner: runner)
            await files.discard(staged.directory)
            return result
        } catch {
            await files.discard(staged.directory)
            throw error
        }
    }

    private func installStaged(_ staged: ReleaseFiles.Staged, _ service: ServiceName, _ version: ReleaseVersion, spec: ServiceSpec,
                               runner: @Sendable () async -> ServiceRunner) async throws -> (release: ReleaseInfo, created: Bool) {
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
            try await files.install(root, service: service, version: version)
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
                return (record.info(current: current), true)
            } catch {
                // Undo: the host must look exactly as before the request.
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
        return existing.info(current: current)
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
