import DroverCLI
import DroverClient
import DroverCore
import DroverTOML
import Testing

@Suite struct InventoryTests {
    static let text = """
        [hosts.web-1]
        address = "10.0.0.11"
        tls_fingerprint = "sha256:3F:5C:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD"
        token_file = "tokens/web-1"

        [hosts.web-2]
        address = "::1"
        port = 7071
        plaintext = true
        token_env = "WEB2_TOKEN"

        [hosts.db-1]
        address = "db.internal"
        ca_file = "ca.pem"
        client_certificate = "/etc/drover/client.pem"
        client_key = "/etc/drover/client.key"
        token_file = "/etc/drover/db-1.token"

        [hosts.new-1]
        address = "10.0.0.12"
        token_env = "NEW_TOKEN"

        [groups]
        web = ["web-1", "web-2"]
        """

    @Test func hostsGroupsAndTokenSources() throws {
        let inventory = try Inventory.parse(Self.text, file: "deploy/hosts.toml")
        #expect(inventory.hosts.map(\.name) == ["web-1", "web-2", "db-1", "new-1"], "in the order written")
        #expect(inventory.hosts[0].token == .file("deploy/tokens/web-1"), "relative to the inventory")
        #expect(inventory.hosts[1].token == .environment("WEB2_TOKEN"))
        #expect(inventory.hosts[0].baseURL == "https://10.0.0.11:7070")
        #expect(inventory.hosts[0].transport == .pinned(try CertificateFingerprint(parsing: "sha256:3f5c00112233445566778899aabbccddeeff00112233445566778899aabbccdd")),
                "OpenSSL's colon form is read too")
        #expect(inventory.hosts[1].baseURL == "http://[::1]:7071", "plain HTTP on loopback only")
        #expect(inventory.hosts[2].baseURL == "https://db.internal:7070")
        #expect(inventory.hosts[2].transport == .authority(caFile: "deploy/ca.pem", clientCertificate: "/etc/drover/client.pem", clientKey: "/etc/drover/client.key"))
        #expect(inventory.hosts[3].transport == nil && inventory.hosts[3].baseURL == "https://10.0.0.12:7070", "not trusted yet; never plain")
        #expect(try inventory.resolve(["web"], in: "x").map(\.name) == ["web-1", "web-2"])
        #expect(try inventory.resolve(["db-1", "web-1"], in: "x").map(\.name) == ["web-1", "db-1"])
        #expect(try inventory.resolve(["all"], in: "x").count == 4)
        let unknown = try #require(throws: InputError.self) { try inventory.resolve(["web-3"], in: "deploy/web.toml") }
        #expect(unknown.description.contains("did you mean 'web-1'?"))
    }

    static let mistakes: [(String, String, Int?, String)] = [
        ("inline token", "[hosts.a]\naddress = \"x\"\ntoken = \"secret\"\n", 3, "never written in the inventory"),
        ("no token source", "[hosts.a]\naddress = \"x\"\n", 1, "needs 'token_file' or 'token_env'"),
        ("both token sources", "[hosts.a]\naddress = \"x\"\ntoken_file = \"t\"\ntoken_env = \"T\"\n", 4, "keep one"),
        ("no address", "[hosts.a]\ntoken_env = \"T\"\n", 1, "needs an 'address'"),
        ("bad port", "[hosts.a]\naddress = \"x\"\nport = 70000\ntoken_env = \"T\"\n", 3, "between 1 and 65535"),
        ("typo", "[hosts.a]\naddress = \"x\"\ntoken_env = \"T\"\nprot = 7070\n", 4, "did you mean 'port'?"),
        ("plain HTTP off loopback", "[hosts.a]\naddress = \"10.0.0.1\"\ntoken_env = \"T\"\nplaintext = true\n", 4, "drover hosts trust a"),
        ("plain HTTP to a name that only looks like loopback", "[hosts.a]\naddress = \"127.attacker.example\"\ntoken_env = \"T\"\nplaintext = true\n", 4, "drover hosts trust a"),
        ("a short fingerprint", "[hosts.a]\naddress = \"x\"\ntoken_env = \"T\"\ntls_fingerprint = \"sha256:abcd\"\n", 4, "64 hex digits"),
        ("a pin and a CA", "[hosts.a]\naddress = \"x\"\ntoken_env = \"T\"\ntls_fingerprint = \"sha256:\(String(repeating: "ab", count: 32))\"\nca_file = \"ca\"\n", 5, "keep the pin, or the CA"),
        ("a client key without its certificate", "[hosts.a]\naddress = \"x\"\ntoken_env = \"T\"\nca_file = \"ca\"\nclient_key = \"k\"\n", 5, "go together"),
        ("group with an unknown host", "[hosts.a]\naddress = \"x\"\ntoken_env = \"T\"\n[groups]\nweb = [\"b\"]\n", 5, "unknown host 'b'"),
        ("no hosts", "[groups]\n", nil, "no [hosts.NAME] table"),
    ]

    @Test(arguments: mistakes.map(\.0))
    func mistakesNameFileAndLine(_ name: String) throws {
        let (_, text, line, words) = try #require(Self.mistakes.first { $0.0 == name })
        let error = try #require(throws: InputError.self) { try Inventory.parse(text, file: "deploy/hosts.toml") }
        #expect(error.file == "deploy/hosts.toml" && error.line == line, "\(error)")
        #expect(error.description.contains(words), "\(error)")
    }
}
