import Foundation

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

    public var body: String {
        let escaped = message.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return #"{"errors":[{"code":"\#(code)","message":"\#(escaped)"}]}"#
    }
}
