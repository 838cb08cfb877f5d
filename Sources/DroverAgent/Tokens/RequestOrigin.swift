/// Who asked for what is being done: the token's name and the client's address of the API
/// request under way, set by the authentication middleware for the request's task (and its
/// child tasks). Events recorded meanwhile carry it, so history says who made each change.
public struct RequestOrigin: Sendable, Equatable {
    public let token: String
    public let client: String

    @TaskLocal public static var current: RequestOrigin?
}
