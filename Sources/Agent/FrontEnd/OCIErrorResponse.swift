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
        #"{"errors":[{"code":"\#(Self.jsonEscaped(code))","message":"\#(Self.jsonEscaped(message))"}]}"#
    }

    /// `text` as the inside of a JSON string. By Unicode scalar, not by `Character`: a
    /// backslash or quote followed by a combining mark is one `Character`, which
    /// `replacingOccurrences` passed over (found by the fuzzer in the same escaping of
    /// `WWW-Authenticate` values), leaving a bare quote in the body; control characters
    /// (a newline in a path quoted in a message) were not escaped at all.
    static func jsonEscaped(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out.append(contentsOf: #"\""#.unicodeScalars)
            case "\\": out.append(contentsOf: #"\\"#.unicodeScalars)
            case "\n": out.append(contentsOf: #"\n"#.unicodeScalars)
            case "\r": out.append(contentsOf: #"\r"#.unicodeScalars)
            case "\t": out.append(contentsOf: #"\t"#.unicodeScalars)
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out.append(contentsOf: ("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).unicodeScalars)
            default: out.append(scalar)
            }
        }
        return String(out)
    }
}
