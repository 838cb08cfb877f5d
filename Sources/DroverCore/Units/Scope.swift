/// Which systemd manager Drover drives: the system manager (root, real hosts) or a user
/// manager (one user's services; also how the fast tests run).
public enum Scope: String, Codable, Sendable {
    case system, user
}
