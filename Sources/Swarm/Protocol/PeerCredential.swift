import Crypto
import Foundation

/// Proof that a peer-port request comes from an agent of this cluster: an HMAC-SHA256,
/// keyed by the cluster's shared secret (the chart's Secret), over the method, the path,
/// the time and the body's hash. A client without the secret cannot forge one, and a
/// captured header is good only for that request and `window` seconds.
///
/// Header: `Authorization: PeerPull-HMAC node=<node>,t=<unix seconds>,b=<hex>,sig=<hex>`,
/// `b` the body's SHA-256: the peer port checks the signature from the head alone
/// (`verifyHead`), before it reads a byte of the body, and then the body against `b`.
/// A request without `b` may have no body (a GET of a piece).
public struct PeerCredential: Sendable {
    public static let scheme = "PeerPull-HMAC"
    private let key: SymmetricKey
    public let window: Int64

    /// Secrets shorter than this are refused: the key must not be guessable.
    public static let minimumSecretBytes = 16

    public init?(secret: some Collection<UInt8>, window: Int64 = 60) {
        guard secret.count >= Self.minimumSecretBytes else { return nil }
        self.key = SymmetricKey(data: Array(secret))
        self.window = window
    }

    /// The `Authorization` value for a request.
    public func authorization(method: String, path: String, body: some Collection<UInt8> = [UInt8](), node: String, now: Int64) -> String {
        let bodyHash = Array(SHA256.hash(data: Array(body)))
        return "\(Self.scheme) node=\(node),t=\(now),b=\(Self.hex(bodyHash)),sig=\(Self.hex(mac(method, path, bodyHash, node, now)))"
    }

    /// What a request's head proves: the agent that signed it, and the SHA-256 its body
    /// must have.
    public struct Signed: Sendable, Equatable {
        public var node: String
        public var bodyHash: [UInt8]

        /// Whether `body` is the body that was signed.
        public func matches(body: some Collection<UInt8>) -> Bool {
            Array(SHA256.hash(data: Array(body))) == bodyHash
        }
    }

    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case missing
        case malformed
        case expired
        case badSignature
        case bodyMismatch

        public var description: String {
            switch self {
            case .missing: "no peer credential: the peer port serves only PeerPull agents"
            case .malformed: "malformed peer credential"
            case .expired: "peer credential outside the time window (check the nodes' clocks)"
            case .badSignature: "peer credential does not verify (a different cluster secret?)"
            case .bodyMismatch: "the request body is not the body that was signed"
            }
        }
    }

    /// The node a request's `Authorization` proves it came from, the body included.
    public func verify(_ header: String?, method: String, path: String, body: some Collection<UInt8> = [UInt8](), now: Int64) throws(Refusal) -> String {
        let signed = try verifyHead(header, method: method, path: path, now: now)
        guard signed.matches(body: body) else { throw .bodyMismatch }
        return signed.node
    }

    /// Checks a request's `Authorization` from its head alone: the signer, and the hash
    /// its body must have (`b`; without it, the hash of no body).
    public func verifyHead(_ header: String?, method: String, path: String, now: Int64) throws(Refusal) -> Signed {
        guard let header, !header.isEmpty else { throw .missing }
        guard header.hasPrefix(Self.scheme + " "), header.utf8.count < 512 else { throw .malformed }
        var fields: [Substring: Substring] = [:]
        for part in header.dropFirst(Self.scheme.count + 1).split(separator: ",") {
            guard let eq = part.firstIndex(of: "=") else { throw .malformed }
            fields[part[..<eq]] = part[part.index(after: eq)...]
        }
        guard let node = fields["node"], !node.isEmpty, let ts = fields["t"].flatMap({ Int64($0) }), let sig = fields["sig"] else { throw .malformed }
        // Compared without arithmetic on the peer's number: `now - ts` can overflow.
        let (low, under) = now.subtractingReportingOverflow(window)
        let (high, over) = now.addingReportingOverflow(window)
        guard ts >= (under ? .min : low), ts <= (over ? .max : high) else { throw .expired }
        let bodyHash: [UInt8]
        if let b = fields["b"] {
            guard let h = Self.bytes(hex: b) else { throw .malformed }
            bodyHash = h
        } else {
            bodyHash = Self.emptyBodyHash
        }
        // Compared as a MAC (constant time), not as text.
        guard let given = Self.bytes(hex: sig),
              HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Self.message(method, path, bodyHash, String(node), ts), using: key)
        else { throw .badSignature }
        return Signed(node: String(node), bodyHash: bodyHash)
    }

    private static let emptyBodyHash = Array(SHA256.hash(data: [UInt8]()))

    private func mac(_ method: String, _ path: String, _ bodyHash: [UInt8], _ node: String, _ time: Int64) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Self.message(method, path, bodyHash, node, time), using: key))
    }

    private static func message(_ method: String, _ path: String, _ bodyHash: [UInt8], _ node: String, _ time: Int64) -> [UInt8] {
        Array("\(method)\n\(path)\n\(node)\n\(time)\n".utf8) + bodyHash
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { b in let s = String(b, radix: 16); return s.count == 1 ? "0" + s : s }.joined()
    }

    private static func bytes(hex: Substring) -> [UInt8]? {
        let u = Array(hex.utf8)
        guard u.count == 64 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: 64, by: 2) {
            guard let b = UInt8(String(decoding: u[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
        }
        return out
    }
}
