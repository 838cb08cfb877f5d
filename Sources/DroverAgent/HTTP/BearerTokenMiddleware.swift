import Hummingbird

/// Requires `Authorization: Bearer <token>` on every route it guards. The comparison takes the
/// same time whatever the input, so the token cannot be guessed byte by byte from timings.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: AgentToken

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw APIFailure(.unauthorized, "unauthorized", "this API needs \"Authorization: Bearer <token>\" (the token is in the agent's token file)")
        }
        let prefix = "Bearer "
        guard header.hasPrefix(prefix), token.matches(String(header.dropFirst(prefix.count))) else {
            throw APIFailure(.unauthorized, "unauthorized", "the bearer token is wrong")
        }
        return try await next(request, context)
    }
}
