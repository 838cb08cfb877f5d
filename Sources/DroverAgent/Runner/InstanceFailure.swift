import DroverSystemd

/// Why an instance is not running, in words: "exited with status 3", "killed by signal 9", …
enum InstanceFailure {
    static func describe(_ status: UnitStatus) -> String {
        let result = status.result ?? "unknown"
        switch (status.execMainCode, status.execMainStatus) {
        case (.exited?, let code?): return "\(result): exited with status \(code)"
        case (.killed?, let signal?), (.dumped?, let signal?): return "\(result): killed by signal \(signal)"
        default: return result
        }
    }
}
