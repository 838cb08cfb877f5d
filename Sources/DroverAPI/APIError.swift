/// The body of every error response: `{"error": {"code": "...", "message": "..."}}`.
/// `code` is stable and meant for scripts; `message` is a sentence for a person.
public struct APIErrorBody: Codable, Sendable, Equatable {
    public struct Detail: Codable, Sendable, Equatable {
        public var code: String
        public var message: String
    }

    public var error: Detail

    public init(code: String, message: String) {
        self.error = Detail(code: code, message: message)
    }
}
