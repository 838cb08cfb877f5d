import DroverAPI
import Foundation
import Hummingbird

/// Every failure the API reports: a status, a stable code for scripts, a sentence for people.
/// Only the HTTP layer makes these; the domain throws its own errors (`ServiceError`, …),
/// which `APIFailure(mapping:)` translates.
/// The one place where errors become HTTP responses (`{"error": {"code", "message"}}`).
public struct APIFailure: HTTPResponseError, Sendable, CustomStringConvertible {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    /// Headers the answer carries besides its content type (`Retry-After`, …).
    public let headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(code): \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = try JSONEncoder.droverAPI.encode(APIErrorBody(code: code, message: message))
        var headers = self.headers
        headers[.contentType] = "application/json"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"drover-agent\"" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

extension APIFailure {
    static func badRequest(_ code: String, _ message: String) -> APIFailure { APIFailure(.badRequest, code, message) }
    static func notFound(_ code: String, _ message: String) -> APIFailure { APIFailure(.notFound, code, message) }
    static func conflict(_ code: String, _ message: String) -> APIFailure { APIFailure(.conflict, code, message) }
    static func unprocessable(_ code: String, _ message: String) -> APIFailure { APIFailure(.unprocessableContent, code, message) }
}
