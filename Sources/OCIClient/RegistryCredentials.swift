import Crypto
import Foundation

/// A user name and secret for one registry. The agent never holds these; the
/// `pull` command and tests do.
public struct RegistryCredentials: Hashable, Sendable, CustomStringConvertible {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// `Basic base64(user:password)`.
    public var basicAuthorization: String {
        "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }

    /// A stable, non-reversible identity for cache keys; never log the password.
    public var identity: String {
        let d = SHA256.hash(data: Data("\(username)\u{0}\(password)".utf8))
        return username + "#" + d.prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    public var description: String { "credentials for \(username)" }
}
