import ArgumentParser
import Crypto
import DroverAPI
import DroverClient
import DroverCore
import DroverTOML
import Foundation

extension Drover {
    struct Deploy: DroverCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build (if the manifest says how), upload to every host, then roll host batch by host batch.",
            discussion: """
                The version is derived from the artifact and the spec unless --version is given, so deploying \
                the same content again changes nothing. Uploads go to every host at once (hosts that hold the \
                release are skipped); then each batch of hosts runs a rolling deployment, followed live. At the \
                first host that fails, drover stops, rolls the hosts already done back to what they ran (unless \
                --no-revert), leaves the rest untouched, and prints a per-host summary with the reason.

                Example:
                  drover deploy web --batch 2
                """)

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The service (its manifest is deploy/<service>.toml).") var service: String
        @Option(help: "The version to deploy as (default: derived from the content).") var version: String?
        @Option(help: "Hosts deployed at once (default: the manifest's rollout.batch, else 1).") var batch: Int?
        @Flag(name: .customLong("no-revert"), help: "On failure, leave the hosts already done on the new version.") var noRevert = false
        @Option(name: [.customShort("m"), .long], help: "Why, for other operators (shown while this deploy holds the service).") var message: String?
        @Option(help: ArgumentHelp("Start this many instances of the new release on the first batch of hosts beside the old ones, and wait for drover promote (default: the manifest's rollout.canary).", valueName: "N")) var canary: Int?
        @Flag(name: .customLong("dry-run"), help: "Show what the deploy would change on each host, and change nothing.") var dryRun = false
        @Flag(name: .customLong("no-build"), help: "Use the artifact as it is: do not run the manifest's build.") var noBuild = false
        @Flag(name: .customLong("detailed-exitcode"), help: "With --dry-run: exit 2 when something would change, 0 when nothing would.") var detailedExitcode = false

        func validate() throws {
            if let batch, !(1...1_000).contains(batch) { throw ValidationError("--batch must be from 1 to 1000") }
            if detailedExitcode, !dryRun { throw ValidationError("--detailed-exitcode goes with --dry-run") }
            if let canary, !DeploymentStrategy.canaryRange.contains(canary) { throw ValidationError("--canary must be from 1 to \(DeploymentStrategy.canaryRange.upperBound)") }
        }

        mutating func run(terminal: Terminal) async throws {
            let context = try CommandContext(global, terminal: terminal)
            let name = try context.service(service)
            guard let manifest = try context.manifest(name, required: true) else { return }
            let hosts = try context.hosts(for: manifest)
            if dryRun {
                try await plan(name, manifest: manifest, hosts: hosts, context: context)
                return
            }
            // One operator at a time: the lease is taken before anything is built or changed.
            let command = self
            try await ServiceLease.holding("deploy", service: name, hosts: hosts, context: context, message: message) { context in
                try await command.deploy(name, manifest: manifest, hosts: hosts, context: context)
            }
        }

        /// `--dry-run`: builds (unless `--no-build`), derives the version, and shows what each
        /// host would change; uploads nothing, takes no lease, changes nothing.
        private func plan(_ name: ServiceName, manifest: Manifest, hosts: [Inventory.Host], context: CommandContext) async throws {
            if !noBuild { try await build(manifest, context: context) }
            let (_, digest, spec, _, release) = try artifactVersion(manifest, context: context)
            let plan = try await DeployPlan.make(name, version: release, digest: digest, spec: spec, manifest: manifest, hosts: hosts, context: context)
            if global.json {
                try context.printJSON(plan)
            } else {
                context.terminal.print(plan.render(terminal: context.terminal))
            }
            if plan.hosts.contains(where: { !$0.reachable }) { throw CommandFailure(code: ExitCodes.unreachable, message: "") }
            // As terraform plan -detailed-exitcode: 2 means "there are changes", not an error.
            if detailedExitcode, plan.changes { throw CommandFailure(code: 2, message: "") }
        }

        /// The artifact (its path and digest), the spec with its secrets' digests, the secrets'
        /// values, and the version they make. Read once: the version, the hosts' holdings and
        /// every upload use it. Secrets are read now; the spec names each by its digest, so a new
        /// value is a new version.
        private func artifactVersion(_ manifest: Manifest, context: CommandContext)
            throws -> (path: String, digest: ArtifactDigest, spec: ServiceSpec, secrets: [String: [UInt8]], version: ReleaseVersion) {
            let artifact = manifest.artifact.hasPrefix("/") ? manifest.artifact : context.repository + "/" + manifest.artifact
            guard FileManager.default.isReadableFile(atPath: artifact) else {
                throw InputError(file: manifest.file, line: nil, key: "artifact", problem: "artifact \(artifact) does not exist (build it first, or fix 'artifact')")
            }
            let digest = try ArtifactDigest(ofFile: artifact)
            let (spec, secrets) = try manifest.resolvingSecrets(repository: context.repository)
            let release = try version.map { try context.version($0, option: "--version") } ?? Self.contentVersion(digest, spec: spec)
            return (artifact, digest, spec, secrets, release)
        }

        private func deploy(_ name: ServiceName, manifest: Manifest, hosts: [Inventory.Host], context: CommandContext) async throws {
            let terminal = context.terminal
            if !noBuild { try await build(manifest, context: context) }
            let (artifact, digest, spec, secrets, release) = try artifactVersion(manifest, context: context)

            // 1. Upload everywhere first: a host that cannot take the release stops the deploy before any host changes.
            terminal.note(terminal.styled("↑ ", .bold) + "\(name) \(release) to \(hosts.map(\.name).joined(separator: ", "))")
            let uploading = try await CtrlC.stopping { try await context.eachHost(hosts) { host, client -> String in
                // Skipped only if the host holds this very content; the same version with other
                // content is uploaded, and the agent refuses it (409) with its reason.
                if let held = try? await client.releases(of: name),
                   held.contains(where: { $0.version == release && $0.sha256 == digest.hex && $0.spec == spec }) {
                    return "already holds \(release)"
                }
                let (info, created) = try await client.upload(name, release, file: artifact, spec: spec, digest: digest, secrets: secrets)
                let unencrypted = info.secretStorage == .file
                    ? "; its secrets are kept unencrypted (0600): a user manager cannot decrypt systemd credentials" : ""
                return (created ? "uploaded \(Figures.bytes(UInt64(max(0, info.size))))" : "already holds \(release)") + unencrypted
            } }
            guard let uploads = uploading else {
                // Uploads change nothing a host runs: a release that arrived waits unused.
                terminal.note(terminal.styled("interrupted: ", .yellow) + "during the upload; no host was changed")
                let outcomes = hosts.map { FleetRollout.Outcome(host: $0.name, result: .interrupted, toVersion: release.rawValue, reason: "not started: still runs what it ran") }
                try FleetRollout.report(.init(outcomes: outcomes, interrupted: true), service: name, version: release.rawValue, context: context)
                return
            }
            for (host, result) in uploads { if case .success(let what) = result { terminal.note("\(host.name): \(what)") } }
            let failedUploads = CommandContext.errors(in: uploads)
            if !failedUploads.isEmpty {
                context.reportFailures(failedUploads)
                let outcomes = uploads.map { host, result -> FleetRollout.Outcome in
                    guard case .failure(let error) = result else {
                        return FleetRollout.Outcome(host: host.name, result: .notStarted, toVersion: release.rawValue, reason: "not rolled: another host's upload failed")
                    }
                    return FleetRollout.Outcome(host: host.name, result: .init(error.category), toVersion: release.rawValue,
                                                reason: "upload: \(error.message)")
                }
                try FleetRollout.report(.init(outcomes: outcomes), service: name, version: release.rawValue, context: context)
                return
            }

            // 2. The release command (a migration), once, before any instance is replaced.
            if let phase = spec.release {
                guard try await runReleaseCommand(phase, release: release, hosts: hosts, context: context) else { return }
            }

            // 3. Roll, batch by batch.
            let batchSize = batch ?? manifest.rollout.batch
            let rollout = FleetRollout(context: context, service: name, batch: batchSize, revertOnFailure: !noRevert)
            // A canary runs on the first batch only; the hosts after it roll once it is promoted.
            var strategy = manifest.rollout.strategy
            if let canary { strategy.canary = canary }
            let canaryHosts = strategy.canary == nil ? [] : Set(hosts.prefix(batchSize).map(\.name))
            var plain = strategy
            (plain.canary, plain.autoPromoteSeconds) = (nil, nil)
            let (canaryRequest, request) = (DeploymentRequest(version: release, instances: manifest.instances, strategy: strategy),
                                            DeploymentRequest(version: release, instances: manifest.instances, strategy: plain))
            let report = try await rollout.run(hosts) { host, client in
                let info = try await client.service(name)
                let ready = info.instances.filter { $0.version == release && $0.state == .running }.count
                if info.currentVersion == release, info.desiredInstances == request.instances, ready == request.instances {
                    return (nil, "already runs \(release) with \(ready) instances")
                }
                return (try await client.deploy(name, canaryHosts.contains(host.name) ? canaryRequest : request), nil)
            }
            if report.outcomes.contains(where: { $0.result == .canary }) {
                terminal.note(terminal.styled("canary: ", .yellow) + "\(release) runs beside the old release on "
                              + report.outcomes.filter { $0.result == .canary }.map(\.host).joined(separator: ", ")
                              + ". Watch it (drover status \(name), drover logs \(name)), then: drover promote \(name)  or  drover abort \(name)")
            }
            // 4. The manifest's autoscaling, once every host runs the release.
            if let policy = manifest.autoscale, !report.interrupted, report.outcomes.allSatisfy({ $0.result == .deployed || $0.result == .upToDate }) {
                let results = try await context.eachHost(hosts) { _, client in try await client.setAutoscale(name, policy) }
                context.reportFailures(CommandContext.errors(in: results))
            }
            try FleetRollout.report(report, service: name, version: release.rawValue, context: context)
        }

        /// Runs the release's release command on the first host (or on every host, one after
        /// another), its output live on stderr; unless it already succeeded for this release
        /// (a redeploy of the same content). Returns false, having reported why, when it failed
        /// or was interrupted: then no host has changed.
        func runReleaseCommand(_ phase: ReleaseCommand, release: ReleaseVersion, hosts: [Inventory.Host], context: CommandContext) async throws -> Bool {
            let (terminal, name) = (context.terminal, try context.service(service))
            let targets = phase.on == .every ? hosts : [hosts[0]]
            if phase.on == .first {
                let held = try await context.eachHost(hosts) { _, client in try await client.releases(of: name).first { $0.version == release }?.releaseCommandAt }
                if let (host, at) = held.lazy.compactMap({ entry in (try? entry.result.get())?.flatMap { (entry.host, $0) } }).first {
                    terminal.note(terminal.styled("⚑ ", .bold) + "release command: already succeeded for \(release) on \(host.name) at \(ISO8601DateFormatter().string(from: at)); not run again")
                    return true
                }
            }
            for host in targets {
                terminal.note(terminal.styled("⚑ ", .bold) + "\(host.name): release command " + phase.command.joined(separator: " "))
                let follower = RunFollower(context: context, client: try context.client(for: host), service: name)
                let outcome: RunFollower.Outcome?
                do {
                    outcome = try await follower.run(RunRequest(releaseCommand: true, version: release)) { text in
                        terminal.noteRaw(terminal.styled("\(host.name) │ ", .dim) + text + (text.hasSuffix("\n") ? "" : "\n"))
                    }
                } catch let error as AgentClientError {
                    return try stopBeforeRolling(hosts, release: release, context: context, reason: "release command on \(host.name): \(error.message)",
                                                 code: error.isUnreachable ? ExitCodes.unreachable : ExitCodes.failed)
                }
                guard let outcome else {
                    return try stopBeforeRolling(hosts, release: release, context: context, reason: "interrupted during the release command; no host was changed",
                                                 code: ExitCodes.interrupted)
                }
                if outcome.skipped {
                    terminal.note("\(host.name): \(outcome.message ?? "already ran")")
                } else if outcome.succeeded {
                    terminal.note("\(host.name): release command " + terminal.styled("succeeded", .green))
                } else {
                    let last = outcome.lastLines.suffix(5)
                    return try stopBeforeRolling(hosts, release: release, context: context,
                                                 reason: "release command on \(host.name) \(outcome.message ?? "failed")"
                                                     + (last.isEmpty ? "" : "; last lines: " + last.joined(separator: " | ")),
                                                 code: ExitCodes.failed)
                }
            }
            return true
        }

        /// Ends a deploy before any host was rolled: every host still runs what it ran.
        private func stopBeforeRolling(_ hosts: [Inventory.Host], release: ReleaseVersion, context: CommandContext, reason: String, code: Int32) throws -> Bool {
            let outcomes = hosts.map { FleetRollout.Outcome(host: $0.name, result: code == ExitCodes.interrupted ? .interrupted : .notStarted, toVersion: release.rawValue,
                                                            reason: "not rolled: still runs what it ran") }
            if context.global.json {
                struct Summary: Encodable { let service: String; let version: String; let hosts: [FleetRollout.Outcome]; let error: String }
                try context.printJSON(Summary(service: service, version: release.rawValue, hosts: outcomes, error: reason))
            } else {
                var table = Table(columns: ["HOST", "RESULT", "FROM", "TO", "REASON"])
                for outcome in outcomes { table.rows.append([outcome.host, outcome.result.rawValue, "-", release.rawValue, outcome.reason ?? ""]) }
                context.terminal.print(table.render())
            }
            throw CommandFailure(code: code, message: reason)
        }

        /// Runs the manifest's `build` from the repository, its output on stderr.
        func build(_ manifest: Manifest, context: CommandContext) async throws {
            guard let command = manifest.build else { return }
            context.terminal.note(context.terminal.styled("⚙ ", .bold) + command)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", command]
            process.currentDirectoryURL = URL(fileURLWithPath: context.repository)
            process.standardOutput = FileHandle.standardError
            // Awaited, not waited for: no thread of the cooperative pool blocks on the build.
            let status: Int32 = try await withCheckedThrowingContinuation { finished in
                process.terminationHandler = { finished.resume(returning: $0.terminationStatus) }
                do { try process.run() } catch { finished.resume(throwing: error) }
            }
            guard status == 0 else {
                throw CommandFailure(code: ExitCodes.failed, message: "the build failed (exit \(status)): \(command)")
            }
        }

        /// A version that names the content: the artifact's SHA-256 and the spec, hashed
        /// together, so the same content is the same version on every host and a changed spec
        /// is a new one.
        static func contentVersion(_ artifact: ArtifactDigest, spec: ServiceSpec) throws -> ReleaseVersion {
            var hasher = SHA256()
            hasher.update(data: Data(artifact.sha256))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            hasher.update(data: try encoder.encode(spec))
            let hex = hasher.finalize().map { String(format: "%02x", $0) }.joined()
            return try ReleaseVersion(String(hex.prefix(12)))
        }
    }
}
