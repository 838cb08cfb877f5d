import ArgumentParser
import Foundation

extension Drover {
    struct Validate: DroverCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the inventory and every manifest without touching a host (exit 2 on the first mistake).",
            discussion: "Example:\n  drover validate && drover deploy web")

        @OptionGroup var global: GlobalOptions

        mutating func run(terminal: Terminal) async throws {
            let context = try CommandContext(global, terminal: terminal)
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: global.deployDirectory)) ?? [])
                .filter { $0.hasSuffix(".toml") && $0 != "hosts.toml" && !$0.hasSuffix(".example.toml") }.sorted()
            var checked: [String] = []
            for file in files {
                let path = global.deployDirectory + "/" + file
                let text = try String(contentsOfFile: path, encoding: .utf8)
                let manifest = try Manifest.parse(text, file: path)
                _ = try context.inventory.resolve(manifest.hosts, in: path)
                // Every secret can be read (its value is not shown).
                _ = try manifest.resolvingSecrets(repository: context.repository)
                checked.append(manifest.service.rawValue)
            }
            if global.json {
                try context.printJSON(["inventory": [context.inventory.file], "hosts": context.inventory.hosts.map(\.name), "services": checked])
            } else {
                terminal.print("ok: \(context.inventory.file) (\(context.inventory.hosts.count) hosts), "
                               + (checked.isEmpty ? "no manifests in \(global.deployDirectory)" : "manifests: " + checked.joined(separator: ", ")))
            }
        }
    }
}
