import OCI

/// The `errors` body of an OCI distribution error response.
public struct OCIErrorBody: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        public var code: String
        public var message: String?
        public init(code: String, message: String?) {
            self.code = code
            self.message = message
        }
    }

    public var errors: [Entry]

    public init(errors: [Entry]) { self.errors = errors }

    /// `CODE: message; …` from a body, or nil when it is not an OCI error document.
    static func summary(of bytes: [UInt8]) -> String? {
        guard !bytes.isEmpty, let body = try? BoundedJSON.decode(OCIErrorBody.self, from: bytes), !body.errors.isEmpty else {
            return nil
        }
        return body.errors.map { e in e.message.map { "\(e.code): \($0)" } ?? e.code }.joined(separator: "; ")
    }
}
