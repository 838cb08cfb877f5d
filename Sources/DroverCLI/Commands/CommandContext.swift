import DroverClient
import DroverCore
import DroverTOML
import Foundation

/// What a command works with, built from the global options: the inventory, the manifests'
/// directory, and a client per host. Reading a file or a token happens here, once.
struct CommandContext: Sendable {
    let terminal: Terminal
    let global: Options
    let inventory: Inventory
    /// The service lease this command's changes are made under (`ServiceLease`).
    var leaseID: String?

    /// The global options' values.
    struct Options: Sendable {
        let hosts: String?
        let json: Bool
        let timeout: Double
        /// `--timeout` as given, if it was (exec reads it as the command's time limit).
        let givenTimeout: Double?
        let connectTimeout: Double
        let deployDirectory: String
    }

    init(_ global: GlobalOptions, terminal: Terminal) throws(InputError) {
        self.terminal = terminal
        self.global = Options(hosts: global.hosts, json: global.json, timeout: global.timeout ?? GlobalOptions.defaultTimeout, givenTimeout: global.timeout, connectTimeout: global.connectTimeout, deployDirectory: global.deployDirectory)
        let path = global.inventory ?? ProcessInfo.processInfo.environment["DROVER_INVENTORY"] ?? global.deployDirectory + "/hosts.toml"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw InputError(file: path, line: nil, key: nil,
                             problem: "cannot read the inventory (give one with --inventory or $DROVER_INVENTORY; deploy/hosts.example.toml shows the format)")
        }
        inventory = try Inventory.parse(text, file: path)
    }

    var timeout: Duration { .milliseconds(Int64(global.timeout * 1000)) }
    var connectTimeout: Duration { .milliseconds(Int64(global.connectTimeout * 1000)) }

    /// The repository: the directory that holds the manifests' directory.
    var repository: String {
        let deploy = URL(fileURLWithPath: global.deployDirectory).standardizedFileURL
        return deploy.deletingLastPathComponent().path
    }

    func manifestPath(_ service: String) -> String { global.deployDirectory + "/\(service).toml" }

    /// The manifest of `service`, if the repository has one.
    func manifest(_ service: ServiceName, required: Bool) throws(InputError) -> Manifest? {
        let path = manifestPath(service.rawValue)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            if required { throw InputError(file: path, line: nil, key: nil, problem: "no manifest for \(service) (write \(path); deploy/example.toml shows the format)") }
            return nil
        }
        return try Manifest.parse(text, file: path)
    }

    /// The hosts a command on `service` talks to: `--hosts` if given, else the manifest's
    /// `hosts`, else every host of the inventory.
    func hosts(for manifest: Manifest?) throws(InputError) -> [Inventory.Host] {
        var hosts = try inventory.resolve(manifest?.hosts ?? ["all"], in: manifest?.file ?? inventory.file)
        if let filter = global.hosts {
            let wanted = try inventory.resolve(filter.split(separator: ",").map { String($0).trimmingSpaces }, in: "--hosts")
            hosts = hosts.filter { host in wanted.contains { $0.name == host.name } }
            guard !hosts.isEmpty else {
                throw InputError(file: "--hosts", line: nil, key: nil, problem: "\(filter) selects none of the service's hosts (\(try inventory.resolve(manifest?.hosts ?? ["all"], in: inventory.file).map(\.name).joined(separator: ", ")))")
            }
        }
        return hosts
    }

    /// The client of a host whose agent is trusted: pinned, CA-verified, or plain on loopback.
    func client(for host: Inventory.Host) throws(InputError) -> AgentClient {
        guard let transport = host.transport else {
            throw InputError(file: inventory.file, line: host.line, key: "hosts.\(host.name)",
                             problem: "the certificate of host '\(host.name)' is not trusted yet: run `drover hosts trust \(host.name) --fingerprint sha256:…` "
                                 + "with the fingerprint install-agent.sh printed (or `drover-agent fingerprint` on the host), or without --fingerprint to check it by eye")
        }
        var client = AgentClient(host: host.name, baseURL: host.baseURL, token: try inventory.token(of: host), transport: transport,
                                 timeout: timeout, connectTimeout: connectTimeout)
        client.lease = leaseID
        return client
    }

    /// A release version given on the command line (`--to`, `--version`).
    func version(_ text: String, option: String) throws(InputError) -> ReleaseVersion {
        do {
            return try ReleaseVersion(text)
        } catch {
            throw InputError(file: option, line: nil, key: nil, problem: error.description)
        }
    }

    func service(_ name: String) throws(InputError) -> ServiceName {
        do {
            return try ServiceName(name)
        } catch {
            throw InputError(file: "command line", line: nil, key: nil, problem: error.description)
        }
    }

    /// Runs `body` for every host at once; results in the hosts' order.
    func eachHost<T: Sendable>(_ hosts: [Inventory.Host], _ body: @escaping @Sendable (Inventory.Host, AgentClient) async throws -> T)
        async throws -> [(host: Inventory.Host, result: Result<T, AgentClientError>)] {
        let clients = try hosts.map { host throws(InputError) in (host, try client(for: host)) }
        return try await withThrowingTaskGroup(of: (Int, Result<T, AgentClientError>).self) { group in
            for (index, (host, client)) in clients.enumerated() {
                group.addTask {
                    do {
                        return (index, .success(try await body(host, client)))
                    } catch let error as AgentClientError {
                        return (index, .failure(error))
                    }
                }
            }
            var results = [(host: Inventory.Host, result: Result<T, AgentClientError>)?](repeating: nil, count: hosts.count)
            for try await (index, result) in group { results[index] = (hosts[index], result) }
            return results.compactMap { $0 }
        }
    }

    static func errors<T>(in results: [(host: Inventory.Host, result: Result<T, AgentClientError>)]) -> [AgentClientError] {
        results.compactMap { if case .failure(let error) = $0.result { error } else { nil } }
    }

    /// The exit for results where some hosts failed: 3 if any was unreachable, else 1.
    static func failure(of errors: [AgentClientError]) -> CommandFailure? {
        guard !errors.isEmpty else { return nil }
        return CommandFailure(code: errors.contains(where: \.isUnreachable) ? ExitCodes.unreachable : ExitCodes.failed, message: "")
    }

    func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        terminal.print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// Ends a command that asked every host: names on stderr the hosts that failed, and
    /// exits 3 if one was unreachable, 1 if one refused, else returns.
    func finish<T>(_ results: [(host: Inventory.Host, result: Result<T, AgentClientError>)]) throws {
        let errors = Self.errors(in: results)
        reportFailures(errors)
        if let failure = Self.failure(of: errors) { throw failure }
    }

    /// Prints what happened on each host in a word (`deleted`, `unlocked`), or why not, as
    /// `--json` asks: the list shape, or a HOST RESULT table.
    func printOutcomes(_ results: [(host: Inventory.Host, result: Result<String, AgentClientError>)],
                       failure: (AgentClientError) -> String = { $0.category.rawValue }) throws {
        if global.json {
            try printJSON(results.map { HostReport($0.host.name, $0.result) })
            return
        }
        var table = Table(columns: ["HOST", "RESULT"])
        for (host, result) in results {
            switch result {
            case .success(let what): table.rows.append([host.name, what])
            case .failure(let error): table.rows.append([host.name, "\(failure(error)): \(error.message)"])
            }
        }
        terminal.print(table.render())
    }

    /// Says which hosts could not be reached or refused, one line each, on stderr.
    func reportFailures(_ errors: [AgentClientError]) {
        for error in errors {
            let what = switch error.category {
            case .unreachable: "unreachable: "
            case .denied: "denied: "
            case .untrusted: "untrusted: "
            case .failed: ""
            }
            terminal.note(terminal.styled("\(error.host): ", .red) + what + error.message)
        }
    }
}
