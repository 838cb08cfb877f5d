import DroverAPI
import DroverCore
import Foundation
import Hummingbird
import Logging

/// Turns every error into the API's JSON error shape, in one place: `AgentError`s as they are;
/// the domain's own errors (a bad name, a bad spec, a refused artifact, a full disk) with the
/// status that fits them, wherever they were thrown; Hummingbird's (404 for an unknown route,
/// 405, …) with their status; anything else into a 500 whose cause is logged under an id the
/// answer gives. No answer carries an internal path or error text: only the log does.
///
/// A method that a documented path does not take, or that no route takes at all (TRACE), is
/// 405 with `Allow`, not the router's 404.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: APIRoutes

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as AgentError {
            throw error
        } catch let error as HTTPError where error.status == .notFound {
            let method = request.method.rawValue, allowed = routes.methods(for: request.uri.path)
            guard !routes.allMethods.contains(method) || (allowed.map { !$0.contains(method) } ?? false) else {
                throw AgentError(error.status, "not_found", error.body ?? "no such route: \(request.method) \(request.uri.path)")
            }
            let allow = (allowed ?? []).joined(separator: ", ")
            var response = try json(APIErrorBody(code: "method_not_allowed",
                                                 message: "\(method) is not a method of \(request.uri.path)" + (allow.isEmpty ? "" : "; it takes \(allow)")),
                                    status: .methodNotAllowed)
            response.headers[.allow] = allow
            return response
        } catch let error as HTTPError {
            let code = error.status == .notFound ? "not_found" : "http_\(error.status.code)"
            throw AgentError(error.status, code, error.body ?? "\(error.status.reasonPhrase) (\(request.method) \(request.uri.path))")
        } catch {
            if let mapped = AgentError(mapping: error) { throw mapped }
            let id = UUID().uuidString.prefix(8).lowercased()
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)", "error_id": "\(id)"])
            throw AgentError(.internalServerError, "internal",
                             "the agent could not complete this request; its log has the cause under error_id=\(id)")
        }
    }
}

extension AgentError {
    /// The status and code of a domain error, or nil for an unexpected one (a 500).
    init?(mapping error: any Error) {
        switch error {
        case let error as NameError:
            self = .badRequest("invalid_name", error.description)
        case let error as SpecError:
            self = .badRequest("invalid_spec", "spec \(error)")
        case let error as ReleaseError:
            let status: HTTPResponse.Status = switch error.kind {
            case .invalid: .badRequest
            case .tooLarge: .contentTooLarge
            case .unprocessable: .unprocessableContent
            case .conflict: .conflict
            }
            self.init(status, error.code, error.message)
        case let error as PortsExhausted:
            self.init(.serviceUnavailable, "no_ports", error.description)
        case let error as POSIXFailure where error.code == ENOSPC || error.code == EDQUOT:
            self.init(HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage"), "no_space", "the agent's state directory is out of space (\(error.operation)); free some and try again")
        default:
            return nil
        }
    }
}
