/// Request headers of the agent API beyond standard HTTP.
public enum APIHeaders {
    /// RFC 9530 digest of an uploaded artifact: `sha-256=:<base64 of the 32 bytes>:`.
    public static let contentDigest = "Content-Digest"
    /// The service spec (JSON, base64-encoded) a release is uploaded with. Optional: without
    /// it the release runs its single file with no arguments (a tarball needs one, to name
    /// its binary).
    public static let spec = "Drover-Spec"
    /// The values of the secrets the spec names: base64 of a JSON object, name to base64 of
    /// the value. Sent with the upload (over TLS, or from the agent's own host), checked against
    /// the spec's digests, and kept by the agent as systemd credentials, never in its store.
    public static let secrets = "Drover-Secrets"
    /// The id of the service's lease (`PUT …/lease`) that a change is made under. While a
    /// lease is held, deploys, rollbacks, promotions and scaling without its id are refused.
    public static let lease = "Drover-Lease"
}
