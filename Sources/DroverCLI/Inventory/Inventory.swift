import DroverClient
import DroverCore
import DroverTOML
import Foundation

/// The hosts Drover deploys to, `deploy/hosts.toml`: each agent's name, address, port, how
/// it is recognised (the fingerprint of its certificate, or a CA), where its token comes from
/// (a file or an environment variable, never the file itself), and named groups of hosts.
/// `all` is every host, in the order written.
///
///     [hosts.web-1]
///     address = "10.0.0.11"
///     tls_fingerprint = "sha256:…"    # written by `drover hosts trust web-1`
///     token_file = "tokens/web-1"     # relative to this file
///     [groups]
///     web = ["web-1", "web-2"]
public struct Inventory: Sendable, Equatable {
    public var file: String
    public var hosts: [Host]
    public var groups: [String: [String]]

    public struct Host: Sendable, Equatable {
        public var name: String
        public var address: String
        public var port: Int
        public var token: TokenSource
        /// How the agent is recognised; nil until its certificate is trusted (`drover hosts trust`).
        public var transport: AgentTransport?
        /// The line of its `[hosts.NAME]` header, where `drover hosts trust` writes the pin.
        public var line: Int?

        /// `https://address:port` (`http://` for a loopback host marked `plaintext`), with IPv6
        /// addresses bracketed.
        public var baseURL: String {
            let host = address.contains(":") && !address.hasPrefix("[") ? "[\(address)]" : address
            return "\(transport?.scheme ?? "https")://\(host):\(port)"
        }

        /// Whether the address is this machine's loopback, where plain HTTP may be used.
        public var isLoopback: Bool { LoopbackAddress.contains(address) }
    }

    public enum TokenSource: Sendable, Equatable {
        case file(String)
        case environment(String)
    }

    public static func parse(_ text: String, file: String) throws(InputError) -> Inventory {
        var top = try TOMLReader.parse(text, file: file)
        guard var hostsTable = try top.table("hosts") else {
            throw top.error(nil, "no [hosts.NAME] table: list every agent with its address and token source")
        }
        let directory = (file as NSString).deletingLastPathComponent
        var hosts: [Host] = []
        for name in hostsTable.allKeys().sorted(by: { (top.line(of: ["hosts", $0]) ?? 0) < (top.line(of: ["hosts", $1]) ?? 0) }) {
            guard Self.isName(name) else {
                throw hostsTable.error(name, "host name '\(name)' must be letters, digits, '-', '_' and '.'")
            }
            guard var host = try hostsTable.table(name) else { continue }
            guard let address = try host.string("address"), !address.isEmpty else {
                throw host.error(nil, "host '\(name)' needs an 'address' (an IP address or a DNS name)")
            }
            let port = try host.integer("port", in: 1...65_535) ?? 7070
            let tokenFile = try host.string("token_file")
            let tokenEnvironment = try host.string("token_env")
            if host.table["token"] != nil {
                _ = host.value("token")
                throw host.error("token", "tokens are never written in the inventory: use 'token_file' or 'token_env'")
            }
            let transport = try Self.transport(of: &host, name: name, address: address)
            let token: TokenSource
            switch (tokenFile, tokenEnvironment) {
            case (let path?, nil): token = .file(path.hasPrefix("/") || directory.isEmpty ? path : directory + "/" + path)
            case (nil, let variable?): token = .environment(variable)
            case (nil, nil): throw host.error(nil, "host '\(name)' needs 'token_file' or 'token_env'")
            case (_?, _?): throw host.error("token_env", "host '\(name)' has both 'token_file' and 'token_env': keep one")
            }
            try host.finish()
            hosts.append(Host(name: name, address: address, port: port, token: token, transport: transport,
                              line: top.line(of: ["hosts", name])))
        }
        try hostsTable.finish()
        var groups: [String: [String]] = [:]
        if var groupsTable = try top.table("groups") {
            for name in groupsTable.allKeys() {
                guard let members = groupsTable.table[name]?.array.map({ $0.compactMap(\.string) }) else {
                    throw groupsTable.error(name, "group '\(name)' must be a list of host names")
                }
                for member in members where !hosts.contains(where: { $0.name == member }) {
                    let suggestion = Suggestion.closest(to: member, in: hosts.map(\.name)).map { " (did you mean '\($0)'?)" } ?? ""
                    throw groupsTable.error(name, "group '\(name)' names an unknown host '\(member)'\(suggestion)")
                }
                guard name != "all", !hosts.contains(where: { $0.name == name }) else {
                    throw groupsTable.error(name, "group '\(name)' has the name of a host (or 'all'): pick another")
                }
                groups[name] = members
            }
            try groupsTable.finish()
        }
        try top.finish()
        guard !hosts.isEmpty else { throw top.error("hosts", "the inventory lists no host") }
        return Inventory(file: file, hosts: hosts, groups: groups)
    }

    /// The hosts `names` stand for (host names or group names, `all` for every host), in
    /// inventory order, each once.
    public func resolve(_ names: [String], in file: String) throws(InputError) -> [Host] {
        var wanted = Set<String>()
        for name in names {
            if name == "all" {
                wanted.formUnion(hosts.map(\.name))
            } else if let members = groups[name] {
                wanted.formUnion(members)
            } else if hosts.contains(where: { $0.name == name }) {
                wanted.insert(name)
            } else {
                let suggestion = Suggestion.closest(to: name, in: hosts.map(\.name) + groups.keys.sorted()).map { " (did you mean '\($0)'?)" } ?? ""
                throw InputError(file: file, line: nil, key: "hosts", problem: "'\(name)' is neither a host nor a group of \(self.file)\(suggestion)")
            }
        }
        return hosts.filter { wanted.contains($0.name) }
    }

    /// The token of `host`, read now (a missing file or variable is an input error).
    public func token(of host: Host) throws(InputError) -> String {
        switch host.token {
        case .file(let path):
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw InputError(file: file, line: nil, key: "hosts.\(host.name).token_file",
                                 problem: "cannot read the token of host '\(host.name)' from \(path) (copy it from the agent's token file)")
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        case .environment(let variable):
            guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else {
                throw InputError(file: file, line: nil, key: "hosts.\(host.name).token_env",
                                 problem: "the token of host '\(host.name)' is read from $\(variable), which is not set")
            }
            return value.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// The host's `tls_fingerprint`, or its `ca_file` (with `client_certificate` and
    /// `client_key` for mutual TLS), or `plaintext = true` on loopback; nil when none is given.
    private static func transport(of host: inout TOMLReader, name: String, address: String) throws(InputError) -> AgentTransport? {
        let directory = (host.file as NSString).deletingLastPathComponent
        func path(_ key: String) throws(InputError) -> String? {
            guard let value = try host.string(key) else { return nil }
            return value.hasPrefix("/") || directory.isEmpty ? value : directory + "/" + value
        }
        let fingerprintText = try host.string("tls_fingerprint")
        let caFile = try path("ca_file")
        let clientCertificate = try path("client_certificate")
        let clientKey = try path("client_key")
        let plaintext = try host.bool("plaintext") ?? false
        if (clientCertificate == nil) != (clientKey == nil) {
            throw host.error(clientCertificate == nil ? "client_key" : "client_certificate", "client_certificate and client_key go together: set both, or neither")
        }
        if plaintext {
            guard fingerprintText == nil, caFile == nil else { throw host.error("plaintext", "host '\(name)' has plaintext = true and TLS settings: keep one") }
            guard LoopbackAddress.contains(address) else {
                throw host.error("plaintext", "plain HTTP would send the token in clear text to \(address): it is for an agent on this machine (127.0.0.1) only. "
                    + "Remove it and pin the agent's certificate: drover hosts trust \(name)")
            }
            return .plaintext
        }
        switch (fingerprintText, caFile) {
        case (let text?, nil):
            guard clientCertificate == nil else {
                throw host.error("client_certificate", "a client certificate goes with ca_file (a CA the team runs), not with tls_fingerprint")
            }
            do throws(FingerprintError) {
                return .pinned(try CertificateFingerprint(parsing: text))
            } catch {
                throw host.error("tls_fingerprint", error.description)
            }
        case (nil, let caFile?):
            return .authority(caFile: caFile, clientCertificate: clientCertificate, clientKey: clientKey)
        case (_?, _?):
            throw host.error("ca_file", "host '\(name)' has both tls_fingerprint and ca_file: keep the pin, or the CA")
        case (nil, nil):
            guard clientCertificate == nil else { throw host.error("client_certificate", "a client certificate goes with ca_file") }
            return nil
        }
    }

    static func isName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2D || c == 0x5F || c == 0x2E
        }
    }
}
