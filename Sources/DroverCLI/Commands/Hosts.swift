import ArgumentParser
import DroverAPI
import DroverClient
import DroverCore
import DroverTOML
import Foundation

extension Drover {
    struct Hosts: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reach every agent of the inventory, or trust a host's certificate.",
            discussion: "Example:\n  drover hosts && drover hosts trust web-1 --fingerprint sha256:3f5c…",
            subcommands: [List.self, Trust.self],
            defaultSubcommand: List.self)
    }
}

extension Drover.Hosts {
    struct List: DroverCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reach every agent of the inventory: address, trust, version, scope, round trip.",
            discussion: "Exits 3 when a host cannot be reached, 1 when one is not trusted (or not pinned yet).\n\nExample:\n  drover hosts --hosts web")

        @OptionGroup var global: GlobalOptions

        struct Row: Encodable {
            let address: String
            let trust: String
            let version: String
            let scope: String
            let latencyMs: Double
        }

        mutating func run(terminal: Terminal) async throws {
            let context = try CommandContext(global, terminal: terminal)
            let hosts = try context.hosts(for: nil)
            let trusted = hosts.filter { $0.transport != nil }
            var results = try await context.eachHost(trusted) { host, client in
                let clock = ContinuousClock(), start = clock.now
                let health = try await client.health()
                return Row(address: host.baseURL, trust: Self.trust(of: host), version: health.version, scope: health.scope.rawValue,
                           latencyMs: ((clock.now - start).seconds * 10_000).rounded() / 10)
            }
            for host in hosts where host.transport == nil {
                results.append((host, .failure(AgentClientError(.untrusted, host: host.name,
                    message: "not trusted yet: run drover hosts trust \(host.name) --fingerprint <what install-agent.sh printed>"))))
            }
            results.sort { a, b in hosts.firstIndex { $0.name == a.host.name }! < hosts.firstIndex { $0.name == b.host.name }! }
            if global.json {
                try context.printJSON(results.map { HostReport($0.host.name, $0.result) })
            } else {
                var table = Table(columns: ["HOST", "ADDRESS", "TRUST", "STATUS", "VERSION", "SCOPE", "ROUND TRIP"])
                for (host, result) in results {
                    switch result {
                    case .success(let row):
                        table.rows.append([host.name, row.address, row.trust, "ok", row.version, row.scope, String(format: "%.1f ms", row.latencyMs)])
                    case .failure(let error):
                        table.rows.append([host.name, host.baseURL, Self.trust(of: host), error.category.rawValue, "-", "-", "-"])
                    }
                }
                terminal.print(table.render())
            }
            try context.finish(results)
        }

        /// How the host is recognised, short: the pin's first digits, "CA", "plain" or "-".
        static func trust(of host: Inventory.Host) -> String {
            switch host.transport {
            case .pinned(let fingerprint): String(fingerprint.description.prefix(19)) + "…"
            case .authority(_, let certificate, _): certificate == nil ? "CA" : "CA + client cert"
            case .plaintext: "plain (loopback)"
            case nil: "-"
            }
        }
    }

    /// SSH's known_hosts for agents: connect, show the certificate's fingerprint, and write it
    /// into the inventory once the operator confirms (or it equals `--fingerprint`). From then
    /// on every command refuses that host if it presents another certificate.
    struct Trust: DroverCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pin a host's certificate in the inventory (tls_fingerprint), after checking it.",
            discussion: """
                Compare the fingerprint shown with the one install-agent.sh printed, or that \
                `drover-agent fingerprint` prints on the host. With --fingerprint, it is compared \
                for you and nothing is asked. Exits 1 when the host presents another certificate.

                Example:
                  drover hosts trust web-1 --fingerprint sha256:3f5c…
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The host's name in the inventory.")
        var host: String

        @Option(help: ArgumentHelp("The fingerprint install-agent.sh printed: trust the host only if it presents this certificate.", valueName: "sha256:…"))
        var fingerprint: String?

        mutating func run(terminal: Terminal) async throws {
            let context = try CommandContext(global, terminal: terminal)
            guard let host = context.inventory.hosts.first(where: { $0.name == self.host }) else {
                _ = try context.inventory.resolve([self.host], in: "command line")
                throw InputError(file: context.inventory.file, line: nil, key: nil, problem: "'\(self.host)' is a group: trust its hosts one by one")
            }
            let expected: CertificateFingerprint?
            do throws(FingerprintError) {
                expected = try fingerprint.map { text throws(FingerprintError) in try CertificateFingerprint(parsing: text) }
            } catch {
                throw InputError(file: "--fingerprint", line: nil, key: nil, problem: error.description)
            }
            if host.transport == .plaintext {
                throw InputError(file: context.inventory.file, line: host.line, key: "hosts.\(host.name).plaintext",
                                 problem: "host '\(host.name)' is marked plaintext = true: remove it to use (and pin) the agent's certificate")
            }
            if case .authority = host.transport {
                throw InputError(file: context.inventory.file, line: host.line, key: "hosts.\(host.name).ca_file",
                                 problem: "host '\(host.name)' is verified by its CA (ca_file): a pin would not be used; remove ca_file to pin instead")
            }
            let address = URL(string: host.baseURL).map { "\($0.host ?? host.address):\($0.port ?? host.port)" } ?? host.address
            let presented: CertificateFingerprint
            do {
                presented = try await AgentClient(host: host.name, baseURL: host.baseURL, token: "", transport: host.transport ?? .plaintext,
                                                  timeout: context.timeout, connectTimeout: context.connectTimeout).presentedCertificate()
            } catch {
                throw CommandFailure(code: error.isUnreachable ? ExitCodes.unreachable : ExitCodes.failed, message: error.description)
            }
            if case .pinned(let pinned) = host.transport, pinned == presented, expected == nil || expected == presented {
                terminal.print("\(host.name) (\(address)) is already trusted: \(presented)")
                return
            }
            if let expected {
                guard expected == presented else {
                    throw CommandFailure(code: ExitCodes.failed, message:
                        "\(host.name) (\(address)) presents the certificate \(presented), not \(expected) as given: the inventory is unchanged. "
                        + "Check the fingerprint on the host (drover-agent fingerprint): if it differs, something else answers at \(address).")
                }
            } else {
                terminal.print("\(host.name) (\(address)) presents the certificate")
                terminal.print("  \(presented)")
                if case .pinned(let pinned) = host.transport {
                    terminal.print(terminal.styled("The inventory pins another one for it:", .red))
                    terminal.print("  \(pinned)")
                    terminal.print("Trust the new one only if you know why it changed (a reinstalled host, a new key).")
                }
                terminal.print("Check it against what install-agent.sh printed, or `drover-agent fingerprint` on the host.")
                guard isatty(STDIN_FILENO) == 1 else {
                    throw CommandFailure(code: ExitCodes.input, message:
                        "no terminal to confirm on: run it again with --fingerprint \(presented) once you have checked it on the host")
                }
                terminal.noteRaw("Trust it and write it to \(context.inventory.file)? [y/N] ")
                guard let answer = readLine(), ["y", "yes"].contains(answer.trimmingSpaces.lowercased()) else {
                    throw CommandFailure(code: ExitCodes.failed, message: "not trusted: the inventory is unchanged")
                }
            }
            try InventoryPin.write(presented, for: host.name, in: context.inventory.file)
            terminal.print("trusted \(host.name) (\(address)): wrote tls_fingerprint = \"\(presented)\" to \(context.inventory.file)")
        }
    }
}
