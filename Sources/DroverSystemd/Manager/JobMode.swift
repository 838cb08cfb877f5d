/// How systemd should queue a job relative to jobs already queued (`StartUnit`'s `mode`).
public enum JobMode: String, Sendable {
    /// Replace conflicting queued jobs (the default, as `systemctl start`).
    case replace
    /// Fail if the job conflicts with a queued one.
    case fail
    /// Ignore all dependencies of the unit.
    case ignoreDependencies = "ignore-dependencies"
    /// Ignore requirement dependencies, keep ordering.
    case ignoreRequirements = "ignore-requirements"
}
