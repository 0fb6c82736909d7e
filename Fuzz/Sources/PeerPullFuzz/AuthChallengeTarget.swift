import Foundation
import OCI
import OCIClient

/// `WWW-Authenticate` headers of a registry's 401, as the registry client reads them.
///
/// Properties: schemes are non-empty lower-case tokens and parameter names lower case;
/// the challenges, printed back as a header (values quoted), parse to the same challenges.
enum AuthChallengeTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        let challenges = AuthChallenge.parse(bytes.text)
        for c in challenges {
            require(!c.scheme.isEmpty && c.scheme.utf8.allSatisfy(isTokenByte), "scheme \(String(reflecting: c.scheme))")
            require(c.scheme == c.scheme.lowercased(), "scheme \(c.scheme) not lower case")
            for name in c.parameters.keys {
                require(!name.isEmpty && name.utf8.allSatisfy(isTokenByte) && name == name.lowercased(), "parameter \(String(reflecting: name))")
            }
        }
        let printed = challenges.map { c in
            let parameters = c.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(quote($0.value))\"" }
            return parameters.isEmpty ? c.scheme : c.scheme + " " + parameters.joined(separator: ", ")
        }.joined(separator: ", ")
        let again = AuthChallenge.parse(printed)
        require(again == challenges, "\(challenges) printed as \(String(reflecting: printed)) parses as \(again)")
    }

    /// By Unicode scalar: a backslash followed by a combining mark is one `Character`, and
    /// `replacingOccurrences` left it unescaped (the fuzzer's find, `Corpus/auth-challenge/
    /// crash-combining-backslash`).
    static func quote(_ value: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in value.unicodeScalars {
            if scalar == "\\" || scalar == "\"" { out.append("\\") }
            out.append(scalar)
        }
        return String(out)
    }

    static func isTokenByte(_ c: UInt8) -> Bool {
        (0x30...0x39).contains(c) || (0x41...0x5a).contains(c) || (0x61...0x7a).contains(c) || "!#$%&'*+-.^_`|~/:".utf8.contains(c)
    }
}
