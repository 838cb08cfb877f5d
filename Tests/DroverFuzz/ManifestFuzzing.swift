import DroverCLI
import DroverCore

/// Any text as a manifest and as an inventory: parsed or refused with an `InputError`
/// naming the file, never a trap. An accepted manifest's spec passes the agent's validation
/// (what the CLI accepts, the agent must not refuse for a reason the CLI could have seen).
enum ManifestFuzzing {
    static func run(_ input: [UInt8]) {
        let text = input.text
        if let manifest = try? Manifest.parse(text, file: "deploy/web.toml") {
            do { try manifest.spec.validate() } catch { require(false, "the manifest was accepted with an invalid spec: \(error)") }
        }
        _ = try? Inventory.parse(text, file: "deploy/hosts.toml")
    }
}
