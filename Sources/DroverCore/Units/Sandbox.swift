/// The sandbox every instance runs in by default (system scope), directive by directive.
///
/// It keeps `systemd-analyze security` at or below 2.0 ("OK") for a network service: a
/// dynamic user, a read-only system, no home, no devices, no privileges, a narrow set of
/// system calls and address families. A manifest relaxes it key by key (`sandbox` in the
/// spec), e.g. `MemoryDenyWriteExecute` for a JIT runtime.
public enum Sandbox {
    /// Directive → values (a directive may appear more than once, e.g. `SystemCallFilter`).
    public static let defaults: [(directive: String, values: [String])] = [
        ("DynamicUser", ["yes"]),
        ("ProtectSystem", ["strict"]),
        ("ProtectHome", ["yes"]),
        ("PrivateTmp", ["yes"]),
        ("PrivateDevices", ["yes"]),
        ("PrivateUsers", ["yes"]),
        ("NoNewPrivileges", ["yes"]),
        ("CapabilityBoundingSet", [""]),
        ("AmbientCapabilities", [""]),
        ("ProtectKernelTunables", ["yes"]),
        ("ProtectKernelModules", ["yes"]),
        ("ProtectKernelLogs", ["yes"]),
        ("ProtectControlGroups", ["yes"]),
        ("ProtectClock", ["yes"]),
        ("ProtectHostname", ["yes"]),
        ("ProtectProc", ["invisible"]),
        ("ProcSubset", ["pid"]),
        ("RestrictAddressFamilies", ["AF_INET AF_INET6 AF_UNIX"]),
        ("RestrictNamespaces", ["yes"]),
        ("RestrictRealtime", ["yes"]),
        ("RestrictSUIDSGID", ["yes"]),
        ("LockPersonality", ["yes"]),
        ("MemoryDenyWriteExecute", ["yes"]),
        ("SystemCallArchitectures", ["native"]),
        // setpriority is allowed back out of @resources: Swift's thread pool (libdispatch) sets
        // each worker's nice value and logs an error per thread when it cannot. Without
        // CAP_SYS_NICE (no capabilities here) and with the default LimitNICE, a process can
        // only lower its own priority with it, never raise it.
        ("SystemCallFilter", ["@system-service", "~@privileged @resources", "setpriority"]),
        // A call outside the filter fails with EPERM instead of killing the process (SIGSYS):
        // runtimes probe such calls and carry on.
        ("SystemCallErrorNumber", ["EPERM"]),
        ("DevicePolicy", ["closed"]),
        ("KeyringMode", ["private"]),
        ("RemoveIPC", ["yes"]),
        ("UMask", ["0077"]),
    ]

    /// The directives a spec may change. Anything else (`ExecStartPre`, `User`, …) is refused.
    public static let directives: Set<String> = Set(defaults.map(\.directive)).union([
        "PrivateNetwork", "IPAddressDeny", "IPAddressAllow", "ReadWritePaths", "ReadOnlyPaths",
        "InaccessiblePaths", "StateDirectory", "CacheDirectory", "LogsDirectory", "RuntimeDirectory",
    ])

    /// The defaults with a spec's changes applied, in a stable order.
    public static func directives(applying changes: [String: String?]) -> [(directive: String, value: String)] {
        var result: [(String, String)] = []
        for (directive, values) in defaults {
            if let change = changes[directive] {
                if let value = change { result.append((directive, value)) }
            } else {
                result += values.map { (directive, $0) }
            }
        }
        for (directive, change) in changes.sorted(by: { $0.key < $1.key }) where !defaults.contains(where: { $0.directive == directive }) {
            if let value = change { result.append((directive, value)) }
        }
        return result
    }
}
