import Crypto
import DroverCore
import Foundation

/// The unit files the agent owns in the manager's unit directory: one template per release
/// and one slice per service, written atomically and hashed so drift can be found.
struct UnitFiles: Sendable {
    let directory: String
    let scope: Scope
    let files: ReleaseFiles

    struct Rendered: Sendable {
        let template: String
        let slice: String
        /// The shared socket and its holder, for a service that `listen`s.
        let socket: (socket: String, holder: String)?
        var templateSHA256: String { SHA256.hash(data: Data(template.utf8)).hex }
    }

    /// Where a release lives on this host, as unit rendering needs it.
    func context(for service: ServiceName, version: ReleaseVersion) -> UnitContext {
        UnitContext(service: service, version: version, scope: scope,
                    releaseDirectory: files.releaseDirectory(service, version),
                    slotDirectory: files.slotDirectory(service), secretsDirectory: files.secretsDirectory(service))
    }

    func render(_ spec: ServiceSpec, service: ServiceName, version: ReleaseVersion) throws -> Rendered {
        let context = context(for: service, version: version)
        return Rendered(template: try UnitRenderer.template(for: spec, in: context),
                        slice: UnitRenderer.slice(for: spec, service: service),
                        socket: UnitRenderer.socket(for: spec, service: service).map {
                            ($0, UnitRenderer.socketHolder(service: service, scope: scope))
                        })
    }

    func templatePath(_ service: ServiceName, _ version: ReleaseVersion) -> String {
        directory + "/" + UnitNames.template(service, version)
    }

    func slicePath(_ service: ServiceName) -> String {
        directory + "/" + UnitNames.slice(service)
    }

    /// Writes a release's template and (unless `templateOnly`) its service's slice and socket
    /// units, which follow the release that wrote them last.
    func write(_ rendered: Rendered, service: ServiceName, version: ReleaseVersion, templateOnly: Bool = false) async throws {
        let (files, directory) = (files(of: rendered, service: service, version: version, templateOnly: templateOnly), self.directory)
        try await blockingIO {
            for (path, text) in files {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                try AtomicFile.write(Data(text.utf8), to: path)
            }
        }
    }

    /// Rewrites the files of `rendered` whose content on disk differs (edited) or that are
    /// missing (deleted), each checked just before it is written, and returns their unit
    /// names: a file deleted while another is restored is both restored and named.
    func restore(_ rendered: Rendered, service: ServiceName, version: ReleaseVersion, templateOnly: Bool = false) async throws -> [String] {
        let (files, directory) = (files(of: rendered, service: service, version: version, templateOnly: templateOnly), self.directory)
        return try await blockingIO {
            var restored: [String] = []
            for (path, text) in files where FileManager.default.contents(atPath: path) != Data(text.utf8) {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                try AtomicFile.write(Data(text.utf8), to: path)
                restored.append(String(path.split(separator: "/").last ?? ""))
            }
            return restored
        }
    }

    private func files(of rendered: Rendered, service: ServiceName, version: ReleaseVersion, templateOnly: Bool) -> [(path: String, text: String)] {
        var files = [(templatePath(service, version), rendered.template)]
        guard !templateOnly else { return files }
        files.append((slicePath(service), rendered.slice))
        if let (socket, holder) = rendered.socket {
            files.append((directory + "/" + UnitNames.socket(service), socket))
            files.append((directory + "/" + UnitNames.socketHolder(service), holder))
        }
        return files
    }

    func removeTemplate(_ service: ServiceName, _ version: ReleaseVersion) async throws {
        let (template, dropIn) = (templatePath(service, version), limitsDropInPath(service, version))
        try await blockingIO {
            unlink(template)
            unlink(dropIn)
            rmdir(template + ".d")
        }
    }

    /// Where a live resize of the service is written for one release's instances.
    func limitsDropInPath(_ service: ServiceName, _ version: ReleaseVersion) -> String {
        templatePath(service, version) + ".d/90-drover-limits.conf"
    }

    /// Writes the limits drop-in of a release; returns whether it changed.
    func writeLimitsDropIn(_ contents: String, service: ServiceName, version: ReleaseVersion) async throws -> Bool {
        let (path, dropInDirectory) = (limitsDropInPath(service, version), templatePath(service, version) + ".d")
        return try await blockingIO {
            guard FileManager.default.contents(atPath: path) != Data(contents.utf8) else { return false }
            try FileManager.default.createDirectory(atPath: dropInDirectory, withIntermediateDirectories: true)
            try AtomicFile.write(Data(contents.utf8), to: path)
            return true
        }
    }

    func removeSlice(_ service: ServiceName) async throws {
        let paths = [slicePath(service), directory + "/" + UnitNames.socket(service), directory + "/" + UnitNames.socketHolder(service)]
        try await blockingIO {
            for path in paths { unlink(path) }
        }
    }
}
