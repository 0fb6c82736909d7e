import Foundation
import OCIClient

/// An OCI distribution error answer: status plus `{"errors":[{"code","message"}]}`.
public struct OCIErrorResponse: Error, Equatable, Sendable {
    public var status: Int
    public var code: String
    public var message: String

    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    /// The body, encoded by `JSONEncoder` from the client's `OCIErrorBody`: escaping by
    /// hand (`replacingOccurrences`) passed over a quote or backslash followed by a
    /// combining mark (one `Character`) and left control characters raw.
    public var body: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(OCIErrorBody(errors: [.init(code: code, message: message)]))) ?? Data(#"{"errors":[]}"#.utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
