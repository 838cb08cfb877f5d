import ArgumentParser
import Foundation

/// Options every command takes, before or after its name.
public struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The inventory of hosts (default: $DROVER_INVENTORY, else deploy/hosts.toml).", valueName: "file"))
    var inventory: String?

    @Option(name: .long, help: ArgumentHelp("Only these hosts or groups, comma-separated.", valueName: "h1,h2"))
    var hosts: String?

    @Flag(name: .long, help: "Print JSON for scripts instead of tables (stable: see the README).")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for each agent's answer (default 30); for exec, how long the command may run (default 3600).", valueName: "seconds"))
    var timeout: Double?

    /// What `--timeout` means for an answer when it is not given.
    static let defaultTimeout: Double = 30

    @Option(name: .customLong("connect-timeout"), help: ArgumentHelp("Seconds to wait for each agent's connection: a host that is down is reported after this, not after --timeout.", valueName: "seconds"))
    var connectTimeout: Double = 5

    @Option(name: .customLong("deploy-dir"), help: ArgumentHelp("Where the manifests are.", valueName: "dir"))
    var deployDirectory: String = "deploy"

    public init() {}

    public func validate() throws {
        if let timeout, !(timeout.isFinite && timeout > 0 && timeout <= 86_400) {
            throw ValidationError("--timeout must be a number of seconds from 0 to 86400 (a day), not \(timeout)")
        }
        guard connectTimeout.isFinite, connectTimeout > 0, connectTimeout <= 600 else {
            throw ValidationError("--connect-timeout must be a number of seconds from 0 to 600, not \(connectTimeout)")
        }
    }
}
