import Crypto
import Foundation
import Hummingbird
import NIOCore
import Synchronization
import SwiftASN1
import X509

/// A token server for the distribution token auth spec: it checks Basic credentials,
/// grants scopes by a simple policy and signs ES256 JWTs that a real registry
/// verifies against `certificatePEM` (its `rootcertbundle`), with the key's
/// certificate in the `x5c` header.
public final class TokenServer: Sendable {
    public let service = "peerpull-test-registry"
    public let issuer = "peerpull-test-token-issuer"
    /// User name → password. Users may pull and push every repository.
    public let users: [String: String]
    /// Repositories anyone may pull without credentials.
    public let publicRepositories: Set<String>
    public let certificatePEM: String
    /// Token lifetime announced in `expires_in`.
    public let lifetime: Int
    private let key: P256.Signing.PrivateKey
    private let certificateDER: [UInt8]
    private let server: Mutex<LoopbackServer?> = Mutex(nil)
    private let requests = Mutex<[String]>([])

    /// - Parameter host: the address it listens on (the realm names it).
    public static func start(users: [String: String], publicRepositories: Set<String> = [], lifetime: Int = 300,
                             host: String = "127.0.0.1") async throws -> TokenServer {
        let s = try TokenServer(users: users, publicRepositories: publicRepositories, lifetime: lifetime)
        let router = Router()
        router.get("/token") { request, _ -> Response in s.handle(request) }
        let loopback = try await LoopbackServer.start(router: router, host: host)
        s.server.withLock { $0 = loopback }
        return s
    }

    private init(users: [String: String], publicRepositories: Set<String>, lifetime: Int) throws {
        self.users = users
        self.publicRepositories = publicRepositories
        self.lifetime = lifetime
        key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("peerpull test token issuer") }
        let now = Date()
        let certKey = Certificate.PrivateKey(key)
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(),
            publicKey: certKey.publicKey,
            notValidBefore: now - 3600, notValidAfter: now + 86400 * 7,
            issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
            },
            issuerPrivateKey: certKey)
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        certificateDER = serializer.serializedBytes
        certificatePEM = try certificate.serializeAsPEM().pemString
    }

    public var realm: String { server.withLock { $0.map { "\($0.baseURL)/token" } ?? "" } }

    /// Every token request so far, as `user scope…` lines (`-` for anonymous).
    public var requestLog: [String] { requests.withLock { $0 } }

    public func stop() async {
        let s = server.withLock { s in
            defer { s = nil }
            return s
        }
        await s?.stop()
    }

    private func handle(_ request: Request) -> Response {
        var user: String?
        if let header = request.headers[.authorization] {
            guard header.lowercased().hasPrefix("basic "),
                  let decoded = Data(base64Encoded: String(header.dropFirst(6))).flatMap({ String(data: $0, encoding: .utf8) }),
                  let colon = decoded.firstIndex(of: ":"),
                  users[String(decoded[..<colon])] == String(decoded[decoded.index(after: colon)...])
            else {
                requests.withLock { $0.append("rejected") }
                return Self.json(.unauthorized, #"{"errors":[{"code":"UNAUTHORIZED","message":"invalid credentials"}]}"#)
            }
            user = String(decoded[..<colon])
        }
        let scopes = request.uri.queryParameters.getAll("scope").flatMap { $0.split(separator: " ").map(String.init) }
        requests.withLock { $0.append(([user ?? "-"] + scopes).joined(separator: " ")) }
        guard let token = makeToken(user: user, scopes: scopes) else {
            return Self.json(.internalServerError, #"{"errors":[{"code":"UNKNOWN","message":"signing failed"}]}"#)
        }
        return Self.json(.ok, #"{"token":"\#(token)","access_token":"\#(token)","expires_in":\#(lifetime)}"#)
    }

    /// A token for `user` to pull `repository`, as the realm would issue it to a client.
    public func issue(user: String, repository: String) -> String {
        makeToken(user: user, scopes: ["repository:\(repository):pull"]) ?? ""
    }

    private func makeToken(user: String?, scopes: [String]) -> String? {
        var access: [[String: Any]] = []
        for scope in scopes {
            let parts = scope.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 3, parts[0] == "repository" else { continue }
            let name = parts[1...(parts.count - 2)].joined(separator: ":")
            let asked = Set(parts[parts.count - 1].split(separator: ",").map(String.init))
            let allowed: Set<String> = user != nil ? ["pull", "push"] : (publicRepositories.contains(name) ? ["pull"] : [])
            let granted = asked.intersection(allowed)
            if !granted.isEmpty { access.append(["type": "repository", "name": name, "actions": granted.sorted()]) }
        }
        let now = Int(Date().timeIntervalSince1970)
        let claims: [String: Any] = [
            "iss": issuer, "sub": user ?? "", "aud": service,
            "exp": now + lifetime, "nbf": now - 10, "iat": now,
            "jti": UUID().uuidString, "access": access,
        ]
        let header: [String: Any] = ["typ": "JWT", "alg": "ES256", "x5c": [Data(certificateDER).base64EncodedString()]]
        return try? sign(header: header, claims: claims)
    }

    private func sign(header: [String: Any], claims: [String: Any]) throws -> String {
        let h = Self.base64URL(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        let c = Self.base64URL(try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys]))
        let signingInput = "\(h).\(c)"
        // JWS ES256 wants the raw r||s form, not DER.
        let signature = try key.signature(for: Data(signingInput.utf8)).rawRepresentation
        return "\(signingInput).\(Self.base64URL(signature))"
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
