import DroverAPI
import DroverCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

// What the controllers share: path parameters, query parameters and JSON bodies decoded with
// errors that name what was wrong, and JSON and NDJSON answers.

func serviceName(_ context: some RequestContext) throws -> ServiceName {
    let raw = context.parameters.get("service") ?? ""
    do {
        return try ServiceName(raw)
    } catch {
        throw APIFailure.badRequest("invalid_name", error.description)
    }
}

func releaseVersion(_ context: some RequestContext) throws -> ReleaseVersion {
    let raw = context.parameters.get("version") ?? ""
    do {
        return try ReleaseVersion(raw)
    } catch {
        throw APIFailure.badRequest("invalid_name", error.description)
    }
}

/// A JSON response with the API's encoding.
func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let body = try JSONEncoder.droverAPI.encode(value)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
}

/// Decodes a small JSON body, with an error that names the field. An empty body is
/// `ifEmpty` where the route has a default, else invalid. A body that is not the right shape
/// is `invalid_body`; a value out of its range is `invalidValue`, the route's own code.
func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext, ifEmpty: T? = nil,
                          invalidValue: String) async throws -> T {
    let body: ByteBuffer
    do {
        body = try await request.body.collect(upTo: 1 << 20)
    } catch is NIOTooManyBytesError {
        throw APIFailure(.contentTooLarge, "too_large", "a JSON body must be under 1 MiB")
    } catch {
        throw APIFailure.badRequest("truncated", "the connection ended before the request body was complete")
    }
    if body.readableBytes == 0, let ifEmpty { return ifEmpty }
    do {
        return try JSONDecoder.droverAPI.decode(T.self, from: Data(buffer: body))
    } catch let error as SpecError {
        throw APIFailure.badRequest(invalidValue, error.description)
    } catch {
        throw APIFailure.badRequest("invalid_body", "the JSON body is not valid: \(DecodingErrorText(error))")
    }
}

/// A whole-number query parameter within `range`, or nil when absent; anything else is a 400
/// that names the parameter and its range.
func queryInteger(_ request: Request, _ name: String, in range: ClosedRange<Int>) throws -> Int? {
    guard let raw = request.uri.queryParameters[name[...]] else { return nil }
    guard let value = Int(String(raw)), range.contains(value) else {
        throw APIFailure.badRequest("invalid_query", "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), not \"\(raw)\"")
    }
    return value
}

/// `true`/`false` (or `1`/`0`) query parameter, or nil when absent; anything else is a 400.
func queryBoolean(_ request: Request, _ name: String) throws -> Bool? {
    guard let raw = request.uri.queryParameters[name[...]] else { return nil }
    switch raw {
    case "true", "1": return true
    case "false", "0": return false
    default: throw APIFailure.badRequest("invalid_query", "\(name) must be true or false, not \"\(raw)\"")
    }
}

/// One NDJSON line.
@Sendable func ndjson<T: Encodable>(_ value: T) throws -> ByteBuffer {
    ByteBuffer(bytes: try JSONEncoder.droverAPI.encode(value) + Data("\n".utf8))
}
