import DroverAgent
import DroverCore
import Foundation
import Testing

@Suite struct AgentConfigurationTests {
    /// Writes `text` to a temporary file for `body`, and removes it after.
    func withFile<T>(_ text: String, _ body: (String) throws -> T) throws -> T {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("drover-agent-\(UUID().uuidString).toml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        return try body(path)
    }

    @Test func defaultsFollowTheScope() {
        let system = AgentConfiguration.defaults(scope: .system, environment: [:])
        #expect(system.stateDirectory == "/var/lib/drover")
        #expect(system.tokenFile == "/etc/drover/token")
        #expect(system.unitDirectory == "/etc/systemd/system")
        #expect((system.host, system.port) == ("127.0.0.1", 7070))
        let user = AgentConfiguration.defaults(scope: .user, environment: ["HOME": "/home/ann", "XDG_STATE_HOME": "/st"])
        #expect(user.stateDirectory == "/st/drover")
        #expect(user.tokenFile == "/st/drover/token")
        #expect(user.unitDirectory == "/home/ann/.config/systemd/user")
    }

    @Test func aFileOverridesTheDefaults() throws {
        var configuration = AgentConfiguration.defaults(scope: .system, environment: [:])
        try withFile("""
            listen = "0.0.0.0:8080"
            state_dir = "/srv/drover"
            max_upload_bytes = 1048576
            max_instances = 8
            port_range = "40000-40099"
            """) { path in try configuration.apply(tomlFile: path) }
        #expect((configuration.host, configuration.port) == ("0.0.0.0", 8080))
        #expect(configuration.stateDirectory == "/srv/drover")
        #expect(configuration.maxUploadBytes == 1_048_576)
        #expect(configuration.maxInstances == 8)
        #expect(configuration.portRange == 40000...40099)
        try configuration.validate()
    }

    @Test(arguments: [
        ("colour = \"blue\"", ":1: unknown key 'colour'"),
        ("max_unpacked_entires = 5", "unknown key 'max_unpacked_entires' (did you mean 'max_unpacked_entries'?)"),
        ("max_instances = \"many\"", ":1: 'max_instances' must be a whole number, not the string \"many\""),
        ("max_instances = 0", "'max_instances' must be between 1 and"),
        ("keep_releases = 1\nlisten = \"localhost\"", ":2: listen address \"localhost\" must be ADDR:PORT"),
        ("listen = \"localhost\"", "must be ADDR:PORT"),
        ("port_range = \"80-90\"", "within 1024-65535"),
        ("listen = ", "agent-"),
    ])
    func badFilesSayWhatIsWrong(_ text: String, _ expected: String) throws {
        var configuration = AgentConfiguration.defaults(scope: .system, environment: [:])
        let error = try withFile(text) { path in
            #expect(throws: ConfigurationError.self) { try configuration.apply(tomlFile: path) }
        }
        #expect(error?.description.contains(expected) == true, "\(error?.description ?? "")")
    }

    @Test func statePathsThatWouldNeedQuotingInUnitFilesAreRefused() {
        var configuration = AgentConfiguration.defaults(scope: .system, environment: [:])
        configuration.stateDirectory = "/srv/my drover"
        let error = #expect(throws: ConfigurationError.self) { try configuration.validate() }
        #expect(error?.description.contains("state directory") == true)
    }
}
