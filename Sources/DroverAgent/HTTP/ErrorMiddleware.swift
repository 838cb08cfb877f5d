import DroverAPI
import DroverCore
import Foundation
import Hummingbird
import Logging

/// Turns every error into the API's JSON error shape, in one place: `APIFailure`s as they are;
/// the domain's own errors (a bad name, a bad spec, a refused artifact, a full disk) with the
/// status and code that `APIFailure(mapping:)` gives their kind, wherever they were thrown;
/// Hummingbird's (404 for an unknown route, 405, …) with their status; anything else into a 500 whose cause is logged under an id the
/// answer gives. No answer carries an internal path or error text: only the log does.
///
/// A method that a documented path does not take, or that no route takes at all (TRACE), is
/// 405 with `Allow`, not the router's 404.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: APIRoutes

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIFailure {
            throw error
        } catch let error as HTTPError where error.status == .notFound {
            let method = request.method.rawValue, allowed = routes.methods(for: request.uri.path)
            guard !routes.allMethods.contains(method) || (allowed.map { !$0.contains(method) } ?? false) else {
                throw APIFailure(error.status, "not_found", error.body ?? "no such route: \(request.method) \(request.uri.path)")
            }
            let allow = (allowed ?? []).joined(separator: ", ")
            var response = try json(APIErrorBody(code: "method_not_allowed",
                                                 message: "\(method) is not a method of \(request.uri.path)" + (allow.isEmpty ? "" : "; it takes \(allow)")),
                                    status: .methodNotAllowed)
            response.headers[.allow] = allow
            return response
        } catch let error as HTTPError {
            let code = error.status == .notFound ? "not_found" : "http_\(error.status.code)"
            throw APIFailure(error.status, code, error.body ?? "\(error.status.reasonPhrase) (\(request.method) \(request.uri.path))")
        } catch {
            if let mapped = APIFailure(mapping: error) { throw mapped }
            let id = UUID().uuidString.prefix(8).lowercased()
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)", "error_id": "\(id)"])
            throw APIFailure(.internalServerError, "internal",
                             "the agent could not complete this request; its log has the cause under error_id=\(id)")
        }
    }
}
