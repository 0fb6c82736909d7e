import OCI

/// One challenge of a `WWW-Authenticate` header (RFC 9110 §11.6.1), e.g.
/// `Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"`.
public struct AuthChallenge: Hashable, Sendable {
    /// Lower-cased scheme: `bearer`, `basic`, …
    public var scheme: String
    /// Parameters with lower-cased names.
    public var parameters: [String: String]

    public init(scheme: String, parameters: [String: String]) {
        self.scheme = scheme.lowercased()
        self.parameters = parameters
    }

    public var realm: String? { parameters["realm"] }
    public var service: String? { parameters["service"] }
    public var scope: String? { parameters["scope"] }

    /// Parses every challenge in a header value. Malformed parameters end parsing of
    /// that challenge rather than the whole header, since registries are not strict.
    public static func parse(_ header: String) -> [AuthChallenge] {
        var scanner = Scanner(Array(header.utf8))
        var challenges: [AuthChallenge] = []
        while true {
            scanner.skip(whitespaceAndCommas: true)
            guard let scheme = scanner.token(), !scheme.isEmpty else { break }
            var params: [String: String] = [:]
            // auth-param list: name=value pairs separated by commas, until the next scheme.
            while true {
                let mark = scanner.position
                scanner.skip(whitespaceAndCommas: true)
                guard let name = scanner.token(), !name.isEmpty else { scanner.position = mark; break }
                scanner.skipSpaces()
                guard scanner.consume(UInt8(ascii: "=")) else {
                    // A bare token: the next challenge's scheme (or token68, which registries do not use).
                    scanner.position = mark
                    break
                }
                scanner.skipSpaces()
                let value: String?
                if scanner.peek() == UInt8(ascii: "\"") {
                    value = scanner.quotedString()
                } else {
                    value = scanner.token()
                }
                guard let value else { break }
                params[name.lowercased()] = value
            }
            challenges.append(AuthChallenge(scheme: scheme, parameters: params))
            if scanner.atEnd { break }
        }
        return challenges
    }
}

private struct Scanner {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { position >= bytes.count }
    func peek() -> UInt8? { atEnd ? nil : bytes[position] }

    mutating func consume(_ b: UInt8) -> Bool {
        guard peek() == b else { return false }
        position += 1
        return true
    }

    mutating func skipSpaces() {
        while let c = peek(), c == 0x20 || c == 0x09 { position += 1 }
    }

    mutating func skip(whitespaceAndCommas: Bool) {
        while let c = peek(), c == 0x20 || c == 0x09 || c == UInt8(ascii: ",") { position += 1 }
    }

    /// RFC 9110 token characters.
    mutating func token() -> String? {
        let start = position
        while let c = peek(), Self.isTokenChar(c) { position += 1 }
        return position > start ? String(decoding: bytes[start..<position], as: UTF8.self) : nil
    }

    mutating func quotedString() -> String? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        var out: [UInt8] = []
        while let c = peek() {
            position += 1
            if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            if c == UInt8(ascii: "\\"), let next = peek() {
                position += 1
                out.append(next)
            } else {
                out.append(c)
            }
        }
        return nil
    }

    static func isTokenChar(_ c: UInt8) -> Bool {
        if c >= 0x30 && c <= 0x39 { return true }
        if c >= 0x41 && c <= 0x5a { return true }
        if c >= 0x61 && c <= 0x7a { return true }
        return "!#$%&'*+-.^_`|~/:".utf8.contains(c)  // '/' and ':' appear unquoted in some realms
    }
}
