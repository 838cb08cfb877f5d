import DroverCore
import Hummingbird

/// Requires `Authorization: Bearer <token>` of a token whose scope allows the request, and
/// runs the request as that token's (`RequestOrigin`). A wrong token is 401; a client address
/// that guessed wrong too often is 429 with `Retry-After`; a token outside its scope is 403,
/// naming the scope needed.
struct TokenAuthMiddleware: RouterMiddleware {
    typealias Context = AgentRequestContext
    let tokens: AgentTokens

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let client = context.clientAddress
        let header = request.headers[.authorization]
        let prefix = "Bearer "
        let presented = header.flatMap { $0.hasPrefix(prefix) ? String($0.dropFirst(prefix.count)) : nil }
        switch try await tokens.authenticate(presented, client: client) {
        case .wait(let wait):
            let seconds = max(1, Int(wait.components.seconds) + (wait.components.attoseconds > 0 ? 1 : 0))
            throw APIFailure(.tooManyRequests, "too_many_failures",
                             "too many requests with a wrong token from \(client): try again in \(seconds) s",
                             headers: [.retryAfter: "\(seconds)"])
        case .refused:
            if header == nil {
                throw APIFailure(.unauthorized, "unauthorized", "this API needs \"Authorization: Bearer <token>\" (make one on the host: drover-agent token add NAME --scope read|deploy|admin)")
            }
            throw APIFailure(.unauthorized, "unauthorized", "the bearer token is not one of this agent's (unknown or revoked: drover-agent token list on the host shows them)")
        case .allowed(let name, let scope):
            let needed = TokenScope.needed(method: request.method.rawValue, path: request.uri.path)
            guard scope.allows(needed) else {
                throw APIFailure(.forbidden, "insufficient_scope",
                                 "the token '\(name)' has the scope \(scope.rawValue); \(request.method.rawValue) \(request.uri.path) needs \(needed.rawValue) "
                                     + "(make a token with it on the host: drover-agent token add NAME --scope \(needed.rawValue))")
            }
            return try await RequestOrigin.$current.withValue(RequestOrigin(token: name, client: client)) {
                try await next(request, context)
            }
        }
    }
}
