/// Request headers of the agent API beyond standard HTTP.
public enum APIHeaders {
    /// RFC 9530 digest of an uploaded artifact: `sha-256=:<base64 of the 32 bytes>:`.
    public static let contentDigest = "Content-Digest"
    /// The service spec (JSON, base64-encoded) a release is uploaded with. Optional: without
    /// it the release runs its single file with no arguments (a tarball needs one, to name
    /// its binary).
    public static let spec = "Drover-Spec"
}
