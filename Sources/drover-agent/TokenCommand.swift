import ArgumentParser
import DroverAgent
import DroverCore
import Foundation

extension DroverAgentCommand {
    /// The API's tokens, managed on the host (as root, beside the running agent): the store
    /// keeps each token's name, scope and SHA-256, never the token, and the agent reads it on
    /// every request, so a change holds at once without a restart.
    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make, list and revoke the API's tokens (named, scoped: read, deploy, admin).",
            discussion: """
                read: status, logs, history, metrics. deploy: also upload, deploy, rollback, scale, \
                autoscale, limits. admin: also delete services.

                Example:
                  drover-agent token add ci --scope deploy > ci.token
                """,
            subcommands: [Add.self, List.self, Revoke.self])
    }
}

extension DroverAgentCommand.Token {
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a token and print it, once: only its hash is kept.",
            discussion: "The token alone goes to standard output, for a file: drover-agent token add laptop --scope deploy > deploy/tokens/web-1")

        @OptionGroup var options: AgentOptions

        @Argument(help: "Its name, which history shows for every change made with it.")
        var name: String

        @Option(help: "read, deploy or admin.")
        var scope: String

        @Flag(help: "Replace a token of the same name (the old one stops working).")
        var replace = false

        @Flag(name: .customLong("if-missing"), help: "Make it only if no token has this name; else print nothing (for install scripts).")
        var ifMissing = false

        func validate() throws {
            if replace && ifMissing { throw ValidationError("--replace and --if-missing contradict each other: pick one") }
        }

        func run() async throws {
            let name = try parsedName(self.name)
            guard let scope = TokenScope(rawValue: scope) else {
                throw ValidationError("--scope \(scope) is not a scope: read, deploy or admin")
            }
            let store = try openStore(options)
            let token = AgentTokens.generate()
            guard try await store.addToken(name: name, scope: scope, hash: AgentTokens.hash(token), replacing: replace) else {
                if ifMissing { return }
                throw ValidationError("a token named '\(name)' exists: pick another name, or --replace it (its holder's token stops working)")
            }
            print(token)
            FileHandle.standardError.write(Data("drover-agent: made the \(scope.rawValue) token '\(name)'. It is shown this once; only its hash is kept.\n".utf8))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens: name, scope, made, last used (never the token).")

        @OptionGroup var options: AgentOptions

        @Flag(help: "JSON for scripts.")
        var json = false

        func run() async throws {
            let tokens = try await openStore(options).tokens()
            let formatter = ISO8601DateFormatter()
            if json {
                let rows = tokens.map { ["name": $0.name, "scope": $0.scope?.rawValue ?? "unreadable", "created": formatter.string(from: $0.createdAt),
                                         "lastUsed": $0.lastUsedAt.map(formatter.string(from:)) ?? ""] }
                print(String(decoding: try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
                return
            }
            guard !tokens.isEmpty else {
                print("no tokens: make one with drover-agent token add NAME --scope admin")
                return
            }
            let rows = [["NAME", "SCOPE", "MADE", "LAST USED"]] + tokens.map {
                [$0.name, $0.scope?.rawValue ?? "unreadable (grants nothing)", formatter.string(from: $0.createdAt), $0.lastUsedAt.map(formatter.string(from:)) ?? "never"]
            }
            let widths = (0..<4).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                print(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ").trimmingCharacters(in: .whitespaces))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token: the agent refuses it from its next request on.")

        @OptionGroup var options: AgentOptions

        @Argument(help: "The token's name (drover-agent token list).")
        var name: String

        func run() async throws {
            guard try await openStore(options).revokeToken(name) else {
                throw ValidationError("no token named '\(name)' (drover-agent token list shows them)")
            }
            FileHandle.standardError.write(Data("drover-agent: revoked '\(name)'\n".utf8))
        }
    }
}

private func parsedName(_ text: String) throws -> TokenName {
    do {
        return try TokenName(text)
    } catch {
        throw ValidationError(error.description)
    }
}

/// The running agent's store (the same SQLite file, which several processes may use at once).
private func openStore(_ options: AgentOptions) throws -> StateStore {
    let configuration = try options.resolveConfiguration(environment: ProcessInfo.processInfo.environment)
    do {
        try FileManager.default.createDirectory(atPath: configuration.stateDirectory, withIntermediateDirectories: true)
        return try StateStore(path: configuration.storePath)
    } catch {
        throw ValidationError("cannot open the agent's state \(configuration.storePath) (\(error)): run this as the agent's user (root for the system agent), with the agent's --user/--state-dir/--config if it has them")
    }
}
