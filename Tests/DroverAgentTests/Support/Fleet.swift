import DroverTestbed
import Foundation
import Testing

/// Several hosts for tests of the `drover` CLI: each its own throwaway systemd manager (with a
/// journal) and its own agent serving HTTPS with its own certificate, and a repository
/// directory with `deploy/hosts.toml` naming them `host-1`, `host-2`, … each pinned to its
/// agent's fingerprint, as `drover hosts trust` writes it. Torn down whatever the test did.
struct Fleet: Sendable {
    let agents: [AgentProcess]
    /// The repository: `deploy/` holds the inventory and the manifests.
    let repository: String

    static func run(hosts count: Int, _ body: @Sendable (Fleet) async throws -> Void) async throws {
        try await HostCPUGate.shared.sharing {
            var managers: [ThrowawayUserManager] = []
            var agents: [AgentProcess] = []
            let repository = try makeTestbedDirectory("cli")
            do {
                try FileManager.default.createDirectory(atPath: repository + "/deploy", withIntermediateDirectories: true)
                for _ in 0..<count {
                    let manager = try await ThrowawayUserManager.boot()
                    managers.append(manager)
                    agents.append(try await AgentProcess.start(on: manager, tls: true, extraConfig: "journal_dir = \"\(manager.journalDirectory!)\""))
                }
                try FileManager.default.createDirectory(atPath: repository + "/deploy/tokens", withIntermediateDirectories: true)
                let inventory = try agents.enumerated().map { index, agent in
                    let name = "host-\(index + 1)"
                    guard FileManager.default.createFile(atPath: repository + "/deploy/tokens/\(name)", contents: Data((agent.token + "\n").utf8),
                                                         attributes: [.posixPermissions: 0o600]) else { throw AgentTestError("cannot write the token of \(name)") }
                    return "[hosts.\(name)]\naddress = \"127.0.0.1\"\nport = \(agent.port)\ntls_fingerprint = \"\(try agent.fingerprint())\"\n"
                        + "token_file = \"tokens/\(name)\"\n"
                }.joined(separator: "\n")
                try inventory.write(toFile: repository + "/deploy/hosts.toml", atomically: true, encoding: .utf8)
                try await body(Fleet(agents: agents, repository: repository))
            } catch {
                await tearDown(agents, managers, repository)
                throw error
            }
            await tearDown(agents, managers, repository)
        }
    }

    private static func tearDown(_ agents: [AgentProcess], _ managers: [ThrowawayUserManager], _ repository: String) async {
        for agent in agents { await agent.stop() }
        for manager in managers { await manager.shutdown() }
        try? FileManager.default.removeItem(atPath: repository)
    }

    /// What one run of `drover` printed, and how it ended.
    struct Run: CustomStringConvertible {
        let status: Int32
        let stdout: String
        let stderr: String
        var description: String { "exit \(status)\n--- stdout\n\(stdout)\n--- stderr\n\(stderr)" }

        func json<T: Decodable>(_ type: T.Type) throws -> T {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(T.self, from: Data(stdout.utf8))
        }

        /// Starts the built `drover` in `repository` without waiting for it; its stdout and
        /// stderr go to the returned file.
        static func startDrover(in repository: String, _ arguments: [String]) throws -> (process: ChildProcess, output: String) {
            let output = repository + "/.bg-\(UUID().uuidString.prefix(8))"
            let process = try ChildProcess.spawn(
                "/bin/sh", ["-c", "cd \"\(repository)\" && exec \"$0\" \"$@\"", droverPath] + arguments,
                environment: ["PATH": "/usr/bin:/bin", "HOME": repository, "LANG": "C.UTF-8", "NO_COLOR": "1"], output: output
            )
            return (process, output)
        }

        /// Runs the built `drover` in `repository`, as an operator would.
        static func drover(in repository: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> Run {
            let output = repository + "/.out-\(UUID().uuidString.prefix(8))"
            let child = try ChildProcess.spawn(
                "/bin/sh", ["-c", "cd \"\(repository)\" && exec \"$0\" \"$@\" 2>\"\(output).err\"", droverPath] + arguments,
                environment: ["PATH": "/usr/bin:/bin", "HOME": repository, "LANG": "C.UTF-8", "NO_COLOR": "1"].merging(environment) { $1 },
                output: output
            )
            let status = await child.wait()
            defer { unlink(output); unlink(output + ".err") }
            let run = Run(status: status, stdout: (try? String(contentsOfFile: output, encoding: .utf8)) ?? "",
                          stderr: (try? String(contentsOfFile: output + ".err", encoding: .utf8)) ?? "")
            // DROVER_TEST_TRANSCRIPT=FILE keeps what each command printed (the README's examples come from it).
            if let transcript = ProcessInfo.processInfo.environment["DROVER_TEST_TRANSCRIPT"],
               let handle = FileHandle(forWritingAtPath: transcript) ?? (FileManager.default.createFile(atPath: transcript, contents: nil) ? FileHandle(forWritingAtPath: transcript) : nil) {
                handle.seekToEndOfFile()
                handle.write(Data("$ drover \(arguments.joined(separator: " "))\n\(run.stderr)\(run.stdout)(exit \(status))\n\n".utf8))
                try? handle.close()
            }
            return run
        }
    }

    /// Runs the built `drover` in the repository, as an operator would.
    func drover(_ arguments: String...) async throws -> Run {
        try await Run.drover(in: repository, arguments)
    }

    /// Starts `drover` without waiting for it (e.g. `logs -f`); its stdout and stderr go to
    /// the returned file. The caller ends it by PID.
    func startDrover(_ arguments: String...) throws -> (process: ChildProcess, output: String) {
        try Run.startDrover(in: repository, arguments)
    }

    func writeManifest(_ service: String, _ text: String) throws {
        try text.write(toFile: repository + "/deploy/\(service).toml", atomically: true, encoding: .utf8)
    }
}

let droverPath = builtExecutable("drover")
