import ArgumentParser
import DroverAgent
import DroverCore
import DroverSystemd
import Foundation
import Logging
import ServiceLifecycle

/// `drover-agent`: the per-host daemon (`drover-agent run`, the default), and the commands an
/// operator runs on the host beside it.
@main
struct DroverAgentCommand: AsyncParsableCommand {
    static let version = "0.1.0"
    static let configuration = CommandConfiguration(
        commandName: "drover-agent",
        abstract: "Install releases as versioned systemd units and run their instances, over an authenticated HTTPS API.",
        version: version,
        subcommands: [Run.self, Token.self, Fingerprint.self],
        defaultSubcommand: Run.self
    )
}

/// Where the agent's configuration comes from; shared by every subcommand so that each finds
/// the same files the running agent uses.
struct AgentOptions: ParsableArguments {
    @Flag(help: "Drive the calling user's systemd manager instead of the system manager.")
    var user = false

    @Option(help: "Address and port to listen on (default 127.0.0.1:7070).")
    var listen: String?

    @Option(name: .customLong("state-dir"), help: "State directory (default /var/lib/drover; with --user $XDG_STATE_HOME/drover).")
    var stateDirectory: String?

    @Option(name: .customLong("token-file"), help: "A plain token file of an earlier version, moved into the store (as a hash) on start (default /etc/drover/token; with --user <state-dir>/token). The TLS certificate and key are kept beside it.")
    var tokenFile: String?

    @Option(name: .customLong("unit-dir"), help: "Where to write unit files (default /etc/systemd/system; with --user $XDG_CONFIG_HOME/systemd/user).")
    var unitDirectory: String?

    @Option(help: "D-Bus address of the systemd manager (default: its private socket, else the system or session bus).")
    var bus: String?

    @Option(help: "Configuration file (default /etc/drover/agent.toml when it exists; flags win over it).")
    var config: String?

    /// Defaults of the scope, then the config file, then flags.
    func resolveConfiguration(environment: [String: String]) throws -> AgentConfiguration {
        var configuration = AgentConfiguration.defaults(scope: user ? .user : .system, environment: environment)
        let configFile = config ?? (FileManager.default.fileExists(atPath: "/etc/drover/agent.toml") && !user ? "/etc/drover/agent.toml" : nil)
        do throws(ConfigurationError) {
            if let configFile { try configuration.apply(tomlFile: configFile) }
            if let listen { try configuration.setListen(listen) }
            if let stateDirectory {
                configuration.stateDirectory = stateDirectory
                if tokenFile == nil && user { configuration.tokenFile = stateDirectory + "/token" }
            }
            if let tokenFile { configuration.tokenFile = tokenFile }
            if let unitDirectory { configuration.unitDirectory = unitDirectory }
            if let bus { configuration.busAddress = BusAddress(address: bus, viaBusDaemon: !bus.hasSuffix("/systemd/private")) }
            try configuration.validate()
        } catch {
            throw ValidationError(error.description)
        }
        return configuration
    }
}

extension DroverAgentCommand {
    /// Runs under systemd as `Type=notify`: it says READY=1 once its API listens, feeds the
    /// watchdog, reloads its certificate on SIGHUP, and stops gracefully on SIGTERM (the services
    /// it manages keep running: they are systemd's units, not its children).
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the agent (the default command).")

        @OptionGroup var options: AgentOptions

        func run() async throws {
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
                return handler
            }
            let logger = Logger(label: "drover-agent")
            let environment = ProcessInfo.processInfo.environment
            let configuration = try options.resolveConfiguration(environment: environment)

            let tls = configuration.tls ? try AgentTLS.load(configuration, logger: logger) : nil
            let address = configuration.defaultBusAddress(environment: environment)
            let systemd = try await SystemdClient.connect(to: address, logger: logger)
            let agent = try await Agent.start(configuration: configuration, systemd: systemd, logger: logger)

            let notifier = SystemdNotifier()
            let scheme = tls == nil ? "http" : "https"
            let application = try buildApplication(agent: agent, tls: tls, version: DroverAgentCommand.version, logger: logger) { port in
                var metadata: Logger.Metadata = ["address": "\(scheme)://\(configuration.host):\(port)", "scope": "\(configuration.scope)", "systemd": "\(address)"]
                if let tls { metadata["fingerprint"] = "\(tls.fingerprint)" }
                logger.info("listening", metadata: metadata)
                notifier.notify(.ready, .status("listening on \(scheme)://\(configuration.host):\(port)"))
            }
            let group = ServiceGroup(
                services: [application, ServiceRunners(agent: agent), CertificateReloader(tls: tls, logger: logger),
                           WatchdogService(logger: logger, check: { try await systemd.ping() })],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
            try await group.run()
            await systemd.close()
        }
    }

    /// Prints the fingerprint an inventory pins for this host (`tls_fingerprint`), from the
    /// certificate the agent serves. `install-agent.sh` prints it beside the inventory entry.
    struct Fingerprint: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the SHA-256 fingerprint of the agent's TLS certificate, to pin in the inventory.",
            discussion: "On the operator's machine: drover hosts trust HOST --fingerprint <this>")

        @OptionGroup var options: AgentOptions

        func run() throws {
            let configuration = try options.resolveConfiguration(environment: ProcessInfo.processInfo.environment)
            guard configuration.tls else { throw ValidationError("TLS is off in this agent's configuration (tls = false): there is no certificate to pin") }
            let path = configuration.certificatePath
            guard let pem = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("cannot read \(path): the agent makes it on its first start (is it installed and started?)")
            }
            print(try AgentTLS.fingerprint(ofPEM: pem, path: path))
        }
    }
}
