import Agent
import Foundation
import Testing

@Suite("OCI error bodies")
struct OCIErrorResponseTests {
    /// A backslash or a quote followed by a combining mark is one `Character`: escaped by
    /// `Character` it was left bare (the fuzzer found it in the same escaping of
    /// `WWW-Authenticate` values), and control characters were not escaped at all.
    @Test("an error body is JSON whose message is the message, whatever it holds", arguments: [
        "plain", "quote \" and backslash \\", "backslash and a combining mark: \\\u{0301}", "quote and a combining mark: \"\u{08E3}",
        "a newline\nand a tab\t", "control \u{01}\u{1f} bytes", "ünïcödé ✓",
    ])
    func bodiesAreJSON(_ message: String) throws {
        let body = OCIErrorResponse(status: 404, code: "NAME_UNKNOWN", message: message).body
        let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        let errors = try #require(object?["errors"] as? [[String: Any]], "not an OCI error body: \(body)")
        #expect(errors.first?["code"] as? String == "NAME_UNKNOWN")
        #expect(errors.first?["message"] as? String == message, "\(body)")
    }
}
