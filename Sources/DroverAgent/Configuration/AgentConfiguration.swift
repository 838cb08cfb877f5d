import DroverCore
import DroverSystemd
import Foundation
import DroverTOML

/// Everything the agent needs to know about its host. Defaults follow DESIGN.md; an optional
/// TOML file (`/etc/drover/agent.toml`) overrides them, and command-line flags override both.
public struct AgentConfiguration: Sendable, Equatable {
    public var scope: Scope
    public var host: String
    public var port: Int
    /// SQLite state, releases, slots, staging.
    public var stateDirectory: String
    public var tokenFile: String
    /// Where unit files are written: `/etc/systemd/system`, or `$XDG_CONFIG_HOME/systemd/user`.
    public var unitDirectory: String
    /// How to reach systemd; nil picks the scope's default (see `defaultBusAddress`).
    public var busAddress: BusAddress?
    /// Largest artifact accepted, in bytes.
    public var maxUploadBytes: Int64
    /// Largest unpacked size of a tarball, in bytes (a guard against decompression bombs).
    public var maxUnpackedBytes: Int64
    /// Most entries (files, directories, links) a tarball may unpack to.
    public var maxUnpackedEntries: Int = 10_000
    /// Most instances one service may be scaled to.
    public var maxInstances: Int
    /// Ports handed to instances (`PORT`), one per slot, stable for the slot's life.
    public var portRange: ClosedRange<Int>
    /// Releases kept per service besides the current one; older ones are removed after a deploy.
    public var keepReleases: Int = 5
    /// Where to read instances' journal lines (for failure reasons); nil: the scope's journal.
    public var journalDirectory: String?
    /// Most log follows open at once (each holds a journal open); one more is refused with 429.
    public var maxLogFollowers: Int = 64
    /// Connections served at once; beyond it new ones wait in the listen backlog until one ends.
    public var maxConnections: Int = 512
    /// A connection that sends nothing the API can read for this long is closed: a TLS
    /// handshake or a request head that does not complete (slowloris), a request body that
    /// stops, a keep-alive connection left idle. Answers being written are never cut.
    public var idleTimeout: Duration = .seconds(15)
    /// A streamed answer (a log follow, a deployment's events, a run's output) whose client
    /// has taken none of it for this long while there was more to send is ended: a client
    /// that stops reading must not hold a follow's place and its lines forever.
    public var sendTimeout: Duration = .seconds(30)
    /// Wrong tokens a client address may present within a minute before it must wait a minute.
    public var authFailuresPerMinute: Int = 10
    /// The highest exposure (`systemd-analyze security`, 0–10) a release's unit may have in
    /// system scope, unless its manifest accepts a higher one (`accept_exposure`).
    public var maxExposure: Double = 5.0
    /// How often each service's reconciler rereads every unit and checks the unit files, on top
    /// of reacting to systemd's signals at once.
    public var reconcileInterval: Duration = .seconds(30)
    /// HTTPS (the default). Off, the API is plain HTTP, which the agent accepts on loopback only,
    /// unless `allowPlaintext` says a tunnel or a private link protects it.
    public var tls = true
    public var allowPlaintext = false
    /// A certificate and key of the operator's (e.g. from their CA); nil: the agent's own
    /// self-signed pair beside its token (`agent.crt`, `agent.key`), made on first start.
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// A CA whose certificates clients must present (mutual TLS); nil: no client certificate.
    public var tlsClientCA: String?

    /// The SQLite state: services, releases, events, tokens' hashes.
    public var storePath: String { stateDirectory + "/state.sqlite" }

    /// The certificate served: the configured one, or the self-made one beside the token file.
    public var certificatePath: String { tlsCertificate ?? configurationDirectory + "/agent.crt" }
    public var keyPath: String { tlsKey ?? configurationDirectory + "/agent.key" }
    /// Where the agent's secrets live: the token file's directory (`/etc/drover`, or the state
    /// directory with `--user`).
    public var configurationDirectory: String { (tokenFile as NSString).deletingLastPathComponent }

    /// Whether the listen address is reachable from this host only.
    public var listensOnLoopback: Bool { LoopbackAddress.contains(host) }

    /// The defaults of a scope, from the environment (`XDG_*`, `HOME`).
    public static func defaults(scope: Scope, environment: [String: String]) -> AgentConfiguration {
        switch scope {
        case .system:
            return AgentConfiguration(
                scope: .system, host: "127.0.0.1", port: 7070, stateDirectory: "/var/lib/drover",
                tokenFile: "/etc/drover/token", unitDirectory: "/etc/systemd/system", busAddress: nil,
                maxUploadBytes: 1 << 30, maxUnpackedBytes: 4 << 30, maxInstances: 100, portRange: 20000...29999
            )
        case .user:
            let home = environment["HOME"] ?? NSHomeDirectory()
            let state = (environment["XDG_STATE_HOME"] ?? home + "/.local/state") + "/drover"
            let config = environment["XDG_CONFIG_HOME"] ?? home + "/.config"
            return AgentConfiguration(
                scope: .user, host: "127.0.0.1", port: 7070, stateDirectory: state,
                tokenFile: state + "/token", unitDirectory: config + "/systemd/user", busAddress: nil,
                maxUploadBytes: 1 << 30, maxUnpackedBytes: 4 << 30, maxInstances: 100, portRange: 20000...29999
            )
        }
    }

    /// Where systemd is, when not configured: its private socket if we can reach it (a direct
    /// connection, no bus daemon needed), else the system or session bus.
    public func defaultBusAddress(environment: [String: String]) -> BusAddress {
        if let busAddress { return busAddress }
        switch scope {
        case .system:
            if access("/run/systemd/private", R_OK | W_OK) == 0 { return .systemdPrivate(runtimeDirectory: "/run") }
            return .system(environment: environment)
        case .user:
            if let runtime = environment["XDG_RUNTIME_DIR"], access(runtime + "/systemd/private", R_OK | W_OK) == 0,
               environment["DBUS_SESSION_BUS_ADDRESS"] == nil {
                return .systemdPrivate(runtimeDirectory: runtime)
            }
            return .session(environment: environment) ?? .systemdPrivate(runtimeDirectory: "/run/user/\(getuid())")
        }
    }

    /// Applies the keys of an `agent.toml` file, read with the same reader as the CLI's
    /// manifests: a bad value or an unknown key is an error that names the file, the line
    /// and the key (with the nearest known key for a typo).
    public mutating func apply(tomlFile path: String) throws(ConfigurationError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError("cannot read \(path): \(error.localizedDescription)")
        }
        do throws(InputError) {
            var file = try TOMLReader.parse(text, file: path)
            func checked(_ key: String, _ apply: () throws(ConfigurationError) -> Void) throws(InputError) {
                do throws(ConfigurationError) { try apply() } catch { throw file.error(key, error.description) }
            }
            if let listen = try file.string("listen") { try checked("listen") { () throws(ConfigurationError) in try setListen(listen) } }
            if let value = try file.string("state_dir") { stateDirectory = value }
            if let value = try file.string("token_file") { tokenFile = value }
            if let value = try file.string("unit_dir") { unitDirectory = value }
            if let value = try file.string("bus") { busAddress = BusAddress(address: value, viaBusDaemon: true) }
            if let value = try file.integer("max_upload_bytes", in: 1...Int.max) { maxUploadBytes = Int64(value) }
            if let value = try file.integer("max_unpacked_bytes", in: 1...Int.max) { maxUnpackedBytes = Int64(value) }
            if let value = try file.integer("max_unpacked_entries", in: 1...10_000_000) { maxUnpackedEntries = value }
            if let value = try file.integer("max_instances", in: 1...Bounds.instances.upperBound) { maxInstances = value }
            if let range = try file.string("port_range") { try checked("port_range") { () throws(ConfigurationError) in try setPortRange(range) } }
            if let value = try file.integer("keep_releases", in: 1...1_000) { keepReleases = value }
            if let value = try file.string("journal_dir") { journalDirectory = value }
            if let value = try file.integer("reconcile_interval_seconds", in: 1...3_600) { reconcileInterval = .seconds(value) }
            if let value = try file.integer("max_log_followers", in: 1...4_096) { maxLogFollowers = value }
            if let value = try file.integer("auth_failures_per_minute", in: 1...100_000) { authFailuresPerMinute = value }
            if let value = try file.integer("max_connections", in: 8...100_000) { maxConnections = value }
            if let value = try file.integer("idle_timeout_seconds", in: 1...3_600) { idleTimeout = .seconds(value) }
            if let value = try file.integer("send_timeout_seconds", in: 1...3_600) { sendTimeout = .seconds(value) }
            if let value = try file.number("max_exposure", in: 0...10) { maxExposure = value }
            if let value = try file.bool("tls") { tls = value }
            if let value = try file.bool("allow_plaintext") { allowPlaintext = value }
            if let value = try file.string("tls_certificate") { tlsCertificate = value }
            if let value = try file.string("tls_key") { tlsKey = value }
            if let value = try file.string("tls_client_ca") { tlsClientCA = value }
            try file.finish()
        } catch {
            throw ConfigurationError(error.description)
        }
    }

    /// `ADDR:PORT`, e.g. `127.0.0.1:7070` or `[::1]:7070`.
    public mutating func setListen(_ value: String) throws(ConfigurationError) {
        guard let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]),
              (0...65535).contains(port)
        else { throw ConfigurationError("listen address \"\(value)\" must be ADDR:PORT, e.g. 127.0.0.1:7070") }
        var host = String(value[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ConfigurationError("listen address \"\(value)\" has no address part") }
        self.host = host
        self.port = port
    }

    /// `LOW-HIGH`, e.g. `20000-29999`.
    public mutating func setPortRange(_ value: String) throws(ConfigurationError) {
        let parts = value.split(separator: "-")
        guard parts.count == 2, let low = Int(parts[0]), let high = Int(parts[1]), 1024 <= low, low <= high, high <= 65535 else {
            throw ConfigurationError("port range \"\(value)\" must be LOW-HIGH within 1024-65535, e.g. 20000-29999")
        }
        portRange = low...high
    }

    /// Checks what must hold before the agent starts.
    public func validate() throws(ConfigurationError) {
        if !tls, !listensOnLoopback, !allowPlaintext {
            throw ConfigurationError("tls = false on \(host):\(port) would send the API token and every secret in clear text over the network: "
                + "remove tls = false (the agent serves HTTPS with its own certificate), listen on 127.0.0.1, "
                + "or, if a tunnel or a private link already protects that address, set allow_plaintext = true in agent.toml")
        }
        if (tlsCertificate == nil) != (tlsKey == nil) {
            throw ConfigurationError("tls_certificate and tls_key go together: set both (your own pair), or neither (the agent's self-signed pair)")
        }
        if tlsClientCA != nil, !tls {
            throw ConfigurationError("tls_client_ca needs TLS: remove tls = false")
        }
        guard maxUploadBytes > 0, maxUnpackedBytes > 0 else { throw ConfigurationError("upload limits must be positive") }
        guard maxUnpackedEntries > 0 else { throw ConfigurationError("max_unpacked_entries must be positive") }
        guard (1...Bounds.instances.upperBound).contains(maxInstances) else {
            throw ConfigurationError("max_instances must be between 1 and \(Bounds.instances.upperBound)")
        }
        for (name, path) in [("state directory", stateDirectory), ("unit directory", unitDirectory)] {
            do throws(SpecError) {
                try UnitRenderer.checkPlainPath(path, field: name)
            } catch {
                throw ConfigurationError("\(name) \(path) must be an absolute path of letters, digits, '/', '.', '_', '-' and '@' (it is written into unit files)")
            }
        }
    }
}

/// A configuration problem, said so that the operator can fix it.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
