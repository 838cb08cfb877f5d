import Foundation
import Hummingbird
import Logging

/// Turns every error into the API's JSON error shape: `AgentError`s as they are, Hummingbird's
/// own (404 for an unknown route, 405, …) with their status, and anything else into a 500
/// whose cause is logged (the response does not leak internals).
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as AgentError {
            throw error
        } catch let error as HTTPError {
            let code = error.status == .notFound ? "not_found" : "http_\(error.status.code)"
            throw AgentError(error.status, code, error.body ?? "\(error.status.reasonPhrase) (\(request.method) \(request.uri.path))")
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            throw AgentError(.internalServerError, "internal", "the agent failed: \(error) (details in its log)")
        }
    }
}
