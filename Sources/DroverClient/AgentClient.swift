import AsyncHTTPClient
import DroverAPI
import DroverCore
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL

/// A typed client of one agent's API (`Sources/DroverAPI/openapi.json`), over AsyncHTTPClient
/// and the same wire types the agent serves, so client and server cannot disagree on a field.
/// Used by the `drover` CLI, the benchmarks and the tests. Every call has a timeout; every
/// failure is an `AgentClientError` naming the host.
public struct AgentClient: Sendable {
    public let host: String
    public let baseURL: String
    /// How the agent is reached and recognised: pinned, CA-verified, or plain on loopback.
    public let transport: AgentTransport
    let token: String
    /// The service lease this client's changes are made under (`Drover-Lease`), if any.
    public var lease: String?
    /// How long a whole call may take (uploads and streams have their own).
    public var timeout: Duration
    /// How long connecting may take: short, so a fleet command reports a silent host in
    /// seconds, whatever `timeout` long operations need.
    public let connectTimeout: Duration
    let http: HTTPClient

    /// `baseURL`'s scheme follows `transport`: a TLS transport always speaks HTTPS.
    public init(host: String, baseURL: String, token: String, transport: AgentTransport = .plaintext, timeout: Duration = .seconds(30),
                connectTimeout: Duration = FleetHTTPClient.defaultConnectTimeout, http: HTTPClient? = nil) {
        self.host = host
        var url = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        if transport != .plaintext, url.hasPrefix("http://") { url = "https://" + url.dropFirst("http://".count) }
        self.baseURL = url
        self.transport = transport
        self.token = token
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.http = http ?? FleetHTTPClient.shared(connectTimeout: connectTimeout)
    }

    /// `host:port` of the agent, for messages.
    public var address: String {
        let afterScheme = baseURL.range(of: "://").map { baseURL[$0.upperBound...] } ?? baseURL[...]
        return String(afterScheme.prefix { $0 != "/" })
    }

    // MARK: Routes

    public func health() async throws -> HealthResponse {
        try await get("/v1/health", authorized: false)
    }

    /// The fingerprint of the certificate the agent presents, whatever it is (for `drover hosts
    /// trust`, which shows it to be checked before it is pinned). No token is sent.
    public func presentedCertificate() async throws(AgentClientError) -> CertificateFingerprint {
        let target = authority()
        do {
            return try await CertificateProbe.fetch(host: target.host, port: target.port, pinned: nil, timeout: connectTimeout).fingerprint
        } catch {
            throw failure(error)
        }
    }

    public func services() async throws -> [ServiceInfo] { try await get("/v1/services") }
    public func service(_ name: ServiceName) async throws -> ServiceInfo { try await get("/v1/services/\(name)") }
    public func deleteService(_ name: ServiceName) async throws { try await send(.DELETE, "/v1/services/\(name)") }
    public func releases(of name: ServiceName) async throws -> [ReleaseInfo] { try await get("/v1/services/\(name)/releases") }
    public func instances(of name: ServiceName) async throws -> [InstanceInfo] { try await get("/v1/services/\(name)/instances") }

    /// Uploads the file at `path` as a release, streamed from disk with its `Content-Digest`
    /// (`digest`, when the caller has it already, else read here). Returns the release and
    /// whether it was new (an identical upload is a no-op).
    /// `secrets`: the values of the secrets `spec` names (by digest); sent only over TLS or to
    /// an agent on this machine.
    public func upload(_ service: ServiceName, _ version: ReleaseVersion, file path: String, spec: ServiceSpec,
                       digest known: ArtifactDigest? = nil, secrets: [String: [UInt8]] = [:], timeout: Duration? = nil) async throws -> (release: ReleaseInfo, created: Bool) {
        let artifact = try known ?? ArtifactDigest(ofFile: path)
        let (digest, size) = (artifact.sha256, artifact.size)
        var request = request(.PUT, "/v1/services/\(service)/releases/\(version)")
        request.headers.add(name: APIHeaders.contentDigest, value: "sha-256=:" + Data(digest).base64EncodedString() + ":")
        request.headers.add(name: APIHeaders.spec, value: try JSONEncoder.droverAPI.encode(spec).base64EncodedString())
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        if !secrets.isEmpty {
            guard transport != .plaintext || LoopbackAddress.contains(authority().host) else {
                throw AgentClientError(.untrusted, host: host, message: "secrets are sent over TLS only (or to this machine): \(address) is reached over plain HTTP")
            }
            let object = secrets.mapValues { Data($0).base64EncodedString() }
            request.headers.add(name: APIHeaders.secrets, value: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).base64EncodedString())
        }
        request.body = .stream(FileChunks(path: path), length: .known(size))
        let (status, body) = try await execute(request, timeout: timeout ?? max(self.timeout, .seconds(600)))
        return (try decode(ReleaseInfo.self, body), status == .created)
    }

    public func scale(_ service: ServiceName, to instances: Int) async throws -> ScaleResult {
        try await send(.PUT, "/v1/services/\(service)/scale", ScaleRequest(instances: instances))
    }

    public func autoscale(of service: ServiceName) async throws -> AutoscaleInfo { try await get("/v1/services/\(service)/autoscale") }
    public func setAutoscale(_ service: ServiceName, _ policy: AutoscalePolicy) async throws -> AutoscaleInfo {
        try await send(.PUT, "/v1/services/\(service)/autoscale", policy)
    }
    public func deleteAutoscale(_ service: ServiceName) async throws { try await send(.DELETE, "/v1/services/\(service)/autoscale") }

    public func limits(of service: ServiceName) async throws -> InstanceLimitsInfo { try await get("/v1/services/\(service)/limits") }
    public func setLimits(_ service: ServiceName, _ limits: InstanceLimits) async throws -> InstanceLimitsInfo {
        try await send(.PUT, "/v1/services/\(service)/limits", limits)
    }
    public func deleteLimits(_ service: ServiceName) async throws { try await send(.DELETE, "/v1/services/\(service)/limits") }

    public func deploy(_ service: ServiceName, _ deployment: DeploymentRequest) async throws -> DeploymentInfo {
        try await send(.POST, "/v1/services/\(service)/deployments", deployment)
    }

    public func rollback(_ service: ServiceName, _ rollback: RollbackRequest) async throws -> DeploymentInfo {
        try await send(.POST, "/v1/services/\(service)/rollback", rollback)
    }

    public func deployment(_ id: String) async throws -> DeploymentInfo { try await get("/v1/deployments/\(id)") }

    /// Promotes a deployment waiting as a canary: its rollout goes on.
    public func promote(_ id: String) async throws -> DeploymentInfo { try await send(.POST, "/v1/deployments/\(id)/promote", [String: String]()) }

    /// Aborts a canary: its instances stop, the old release runs on.
    public func abort(_ id: String) async throws -> DeploymentInfo { try await send(.POST, "/v1/deployments/\(id)/abort", [String: String]()) }

    /// A deployment's events as they happen, then its final state.
    public func followDeployment(_ id: String) -> AsyncThrowingStream<DeploymentUpdate, any Error> {
        lines("/v1/deployments/\(id)/events") { data in
            if let event = try? JSONDecoder.droverAPI.decode(EventInfo.self, from: data) { return .event(event) }
            return .finished(try JSONDecoder.droverAPI.decode(DeploymentInfo.self, from: data))
        }
    }

    /// Events oldest first: the last `limit`, or the first `limit` after id `since`.
    public func events(of service: ServiceName?, since: Int64? = nil, limit: Int = 100) async throws -> [EventInfo] {
        var query = ["limit=\(limit)"]
        if let service { query.append("service=\(service)") }
        if let since { query.append("since=\(since)") }
        return try await get("/v1/events?" + query.joined(separator: "&"))
    }

    public func logs(of service: ServiceName, lines: Int, version: ReleaseVersion? = nil) async throws -> [LogEntry] {
        let (_, body) = try await execute(request(.GET, logsPath(service, lines: lines, version: version, follow: false)), timeout: timeout)
        return try body.split(separator: UInt8(ascii: "\n")).map { try decode(LogEntry.self, Data($0)) }
    }

    /// The last `lines` lines (or those after `cursor`, a `LogEntry.cursor` of an earlier
    /// follow), then new ones as they are written, until the task is cancelled or the agent
    /// stops.
    public func followLogs(of service: ServiceName, lines: Int, version: ReleaseVersion? = nil, after cursor: String? = nil) -> AsyncThrowingStream<LogEntry, any Error> {
        let path = logsPath(service, lines: lines, version: version, follow: true) + (cursor.map { "&after=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0) } ?? "")
        return self.lines(path) { try JSONDecoder.droverAPI.decode(LogEntry.self, from: $0) }
    }

    /// Runs a command once in a release's environment on this host (or the release's release
    /// command): `started`, its output as it comes, then `finished` (or `skipped`). Ending the
    /// stream early stops the run on the host.
    public func run(_ service: ServiceName, _ run: RunRequest) -> AsyncThrowingStream<RunUpdate, any Error> {
        let body = try? JSONEncoder.droverAPI.encode(run)
        return lines("/v1/services/\(service)/runs", method: .POST, body: body ?? Data("{}".utf8)) {
            try JSONDecoder.droverAPI.decode(RunUpdate.self, from: $0)
        }
    }

    /// Takes or renews a service's lease on this host; a lease someone else holds is a 409
    /// `leased` whose message names them.
    public func takeLease(_ service: ServiceName, _ lease: LeaseRequest) async throws -> LeaseInfo {
        try await send(.PUT, "/v1/services/\(service)/lease", lease)
    }

    public func lease(of service: ServiceName) async throws -> LeaseInfo { try await get("/v1/services/\(service)/lease") }

    /// Releases the lease `id` (or anyone's, with `force`).
    public func releaseLease(_ service: ServiceName, id: String?, force: Bool = false) async throws {
        var query = ["force=\(force)"]
        if let id { query.append("id=\(id.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? id)") }
        try await send(.DELETE, "/v1/services/\(service)/lease?" + query.joined(separator: "&"))
    }

    /// Stops a run under way (`DELETE …/runs/{id}`).
    public func stopRun(_ service: ServiceName, id: String) async throws {
        try await send(.DELETE, "/v1/services/\(service)/runs/\(id)")
    }

    public func metrics() async throws -> String {
        let (_, body) = try await execute(request(.GET, "/metrics"), timeout: timeout)
        return String(decoding: body, as: UTF8.self)
    }

    public enum DeploymentUpdate: Sendable {
        case event(EventInfo)
        case finished(DeploymentInfo)
    }

    // MARK: Plumbing

    private func logsPath(_ service: ServiceName, lines: Int, version: ReleaseVersion?, follow: Bool) -> String {
        "/v1/services/\(service)/logs?lines=\(lines)&follow=\(follow)" + (version.map { "&version=\($0)" } ?? "")
    }

    private func request(_ method: HTTPMethod, _ path: String, authorized: Bool = true) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if authorized { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let lease { request.headers.add(name: APIHeaders.lease, value: lease) }
        return request
    }

    private func get<T: Decodable>(_ path: String, authorized: Bool = true) async throws -> T {
        let (_, body) = try await execute(request(.GET, path, authorized: authorized), timeout: timeout)
        return try decode(T.self, body)
    }

    private func send<T: Decodable>(_ method: HTTPMethod, _ path: String, _ value: some Encodable) async throws -> T {
        var request = request(method, path)
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder.droverAPI.encode(value)))
        let (_, body) = try await execute(request, timeout: timeout)
        return try decode(T.self, body)
    }

    private func send(_ method: HTTPMethod, _ path: String) async throws {
        _ = try await execute(request(method, path), timeout: timeout)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T {
        do {
            return try JSONDecoder.droverAPI.decode(T.self, from: data)
        } catch {
            throw AgentClientError(.invalidResponse, host: host, message: "cannot read \(T.self): \(error)")
        }
    }

    /// Sends a request; returns the status and body of a 2xx, throws the agent's error otherwise.
    private func execute(_ request: HTTPClientRequest, timeout: Duration) async throws -> (HTTPResponseStatus, Data) {
        let response: HTTPClientResponse
        let body: ByteBuffer
        var request = request
        request.tlsConfiguration = try await tlsConfiguration()
        do {
            response = try await http.execute(request, timeout: TimeAmount(timeout))
            body = try await response.body.collect(upTo: 256 << 20)
        } catch let error as AgentClientError {
            throw error
        } catch {
            throw failure(error)
        }
        try check(response.status, body: Data(buffer: body))
        return (response.status, Data(buffer: body))
    }

    private func check(_ status: HTTPResponseStatus, body: Data) throws {
        guard !(200..<300).contains(status.code) else { return }
        if let error = try? JSONDecoder.droverAPI.decode(APIErrorBody.self, from: body) {
            throw AgentClientError(.agent(status: Int(status.code), code: error.error.code), host: host, message: error.error.message)
        }
        // Not a drover-agent's error: something else answered at that address (a proxy, another
        // server). Its body is not shown: a server that echoes requests would show the token.
        throw AgentClientError(.agent(status: Int(status.code), code: "http_\(status.code)"), host: host,
                               message: "\(address) answered HTTP \(status.code) \(status.reasonPhrase) without a drover-agent error; "
                                   + "is the inventory's address and port those of the agent?")
    }

    /// An NDJSON stream: one decoded value per line, until the agent ends it or the consumer stops.
    private func lines<T: Sendable>(_ path: String, method: HTTPMethod = .GET, body: Data? = nil,
                                    decode: @escaping @Sendable (Data) throws -> T) -> AsyncThrowingStream<T, any Error> {
        let request = {
            var request = self.request(method, path)
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            return request
        }()
        let (http, host, reason) = (http, host, { @Sendable (error: any Error) in self.reason(error) })
        return AsyncThrowingStream { continuation in
            let reader = Task {
                do {
                    let response: HTTPClientResponse
                    var request = request
                    request.tlsConfiguration = try await tlsConfiguration()
                    do {
                        response = try await http.execute(request, timeout: .hours(24 * 365))
                    } catch {
                        throw failure(error)
                    }
                    if !(200..<300).contains(response.status.code) {
                        try check(response.status, body: Data(buffer: try await response.body.collect(upTo: 1 << 20)))
                    }
                    var pending = Data()
                    for try await chunk in response.body {
                        pending.append(contentsOf: chunk.readableBytesView)
                        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                            let line = pending[pending.startIndex..<newline]
                            pending = Data(pending[(newline + 1)...])
                            if !line.isEmpty { continuation.yield(try decode(Data(line))) }
                        }
                    }
                    continuation.finish()
                } catch let error as AgentClientError {
                    continuation.finish(throwing: error)
                } catch is CancellationError {
                    continuation.finish()
                } catch is DecodingError {
                    continuation.finish(throwing: AgentClientError(.invalidResponse, host: host, message: "a line of \(path) is not what the API promises"))
                } catch {
                    continuation.finish(throwing: AgentClientError(.unreachable, host: host, message: "the stream broke: \(reason(error))", afterAnswer: true))
                }
            }
            continuation.onTermination = { _ in reader.cancel() }
        }
    }

    /// The TLS configuration of every request: nil for plain HTTP; for a pinned host, its
    /// certificate as the only root, fetched (and checked against the pin) once per process.
    private func tlsConfiguration() async throws(AgentClientError) -> TLSConfiguration? {
        let target = authority()
        do {
            return try await AgentTrust.configuration(for: transport, host: target.host, port: target.port, timeout: connectTimeout)
        } catch {
            throw failure(error)
        }
    }

    /// The host and port of `baseURL`, IPv6 brackets removed.
    private func authority() -> (host: String, port: Int) {
        let address = self.address
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            return (address, transport == .plaintext ? 80 : 443)
        }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    /// An error on the way to the agent, as the client reports it: a pin that does not match
    /// or a TLS handshake that fails is `untrusted`; anything else is `unreachable`.
    func failure(_ error: any Error) -> AgentClientError {
        switch error {
        case let error as AgentClientError:
            return error
        case let mismatch as CertificateProbe.Mismatch:
            return AgentClientError(.untrusted, host: host, message:
                "\(address) presented the certificate \(mismatch.presented), but the inventory pins \(mismatch.pinned) for \(host); nothing was sent to it. "
                + "If its certificate was replaced on purpose (a reinstalled host, a new key), check the new fingerprint on the host "
                + "(drover-agent fingerprint) and trust it again: drover hosts trust \(host) --fingerprint \(mismatch.presented). "
                + "If not, something else answers at that address.")
        case let noTLS as CertificateProbe.NoTLS:
            return AgentClientError(.untrusted, host: host, message:
                "\(address) accepted the connection but the TLS handshake failed (\(noTLS.underlying)): is the agent serving HTTPS there? "
                + "(an agent with tls = false serves plain HTTP, which drover uses for loopback addresses only)")
        case is NIOSSLError, is BoringSSLError, is NIOSSLExtraError:
            return AgentClientError(.untrusted, host: host, message:
                "TLS with \(address) failed (\(error)): "
                + (transport == .plaintext ? "" : "its certificate is not the one the inventory trusts for \(host), or it requires a client certificate"))
        default:
            return AgentClientError(.unreachable, host: host, message: reason(error))
        }
    }

    /// A connection failure in words (`ConnectionFailure`).
    func reason(_ error: any Error) -> String {
        ConnectionFailure(error).message(address: address, connectTimeout: connectTimeout, timeout: timeout)
    }
}
