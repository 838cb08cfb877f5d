import DroverAPI

/// The `--json` shapes of `drover`, as the README documents them, for tests that read them.
enum CLIOutput {
    /// One host of `status --json` (and the other per-host commands).
    struct HostStatus: Decodable {
        let host: String
        let reachable: Bool
        /// `unreachable`, `denied` or `failed`, when the host did not answer as asked.
        let failure: String?
        let error: String?
        let value: [ServiceInfo]?
    }

    /// `deploy --json` and `rollback --json`.
    struct DeploySummary: Decodable {
        struct Host: Decodable {
            let host: String
            let result: String
            let fromVersion: String?
            let toVersion: String?
            let reason: String?
        }
        let service: String
        let version: String?
        let hosts: [Host]
    }
}
