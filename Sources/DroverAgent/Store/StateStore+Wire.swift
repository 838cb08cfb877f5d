import DroverAPI
import DroverCore

// Records as the API shows them: mapped here, and only here.

extension StateStore.ReleaseRecord {
    func info(current: Bool, scope: Scope) -> ReleaseInfo {
        ReleaseInfo(service: service, version: version, sha256: sha256, size: size,
                    kind: kind, files: files, createdAt: createdAt, current: current, spec: spec,
                    secretStorage: spec.secrets.isEmpty ? nil : (scope == .system ? .encrypted : .file), exposure: exposure, releaseCommandAt: releaseCommandAt)
    }
}
