import DroverCore

/// How a client reaches an agent and knows it is that agent. There is no "TLS without
/// verification": a host is either pinned, checked against a CA, or plain HTTP on loopback.
public enum AgentTransport: Sendable, Hashable {
    /// HTTPS to an agent whose certificate has this fingerprint, and no other (SSH's
    /// known_hosts: the agent's self-made certificate, trusted once by the operator).
    case pinned(CertificateFingerprint)
    /// HTTPS verified by a CA the team runs, host name included; with a client certificate
    /// when the agent requires one (mutual TLS).
    case authority(caFile: String, clientCertificate: String?, clientKey: String?)
    /// Plain HTTP: only to an agent on this machine's loopback.
    case plaintext

    public var scheme: String { self == .plaintext ? "http" : "https" }
}
