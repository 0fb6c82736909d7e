import Crypto
import Foundation
import OCI

/// Proof that a peer-port request comes from an agent of this cluster, for this agent,
/// once: an HMAC-SHA256, keyed by the cluster's shared secret (the chart's Secret), over
/// the method, the path, the signer, the agent it is addressed to, the time, a fresh
/// nonce and the body's hash. A client without the secret cannot forge one; a captured
/// header is refused by any other agent (`to`) and, within its `window`, by this one a
/// second time (`ReplayGuard` remembers the nonces).
///
/// Header: `Authorization: PeerPull-HMAC node=<node>,to=<node>,t=<unix seconds>,n=<hex>,b=<hex>,sig=<hex>`,
/// `b` the body's SHA-256: the peer port checks the signature from the head alone
/// (`verifyHead`), before it reads a byte of the body, and then the body against `b`.
///
/// An answer to a signed request carries `answerHeader`: an HMAC over the request's nonce,
/// the answering node and the answer's body, so that a party on the path without the
/// secret cannot forge what a coordinator says (`verifyAnswer`).
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

    /// The answer's signature travels in this header.
    public static let answerHeader = "PeerPull-Answer-Signature"
    static let nonceBytes = 16

    /// A fresh nonce for a request.
    public static func nonce() -> [UInt8] {
        var g = SystemRandomNumberGenerator()
        let (a, b): (UInt64, UInt64) = (g.next(), g.next())
        return withUnsafeBytes(of: (a, b)) { Array($0) }
    }

    /// The `Authorization` value for a request from `node` to the agent `to`.
    public func authorization(method: String, path: String, body: some Collection<UInt8> = [UInt8](), node: String, to: String,
                              nonce: [UInt8] = PeerCredential.nonce(), now: Int64) -> String {
        let bodyHash = Array(SHA256.hash(data: Array(body)))
        let sig = mac(Self.message(method, path, bodyHash, node, to, now, nonce))
        return "\(Self.scheme) node=\(node),to=\(to),t=\(now),n=\(Hex.encode(nonce)),b=\(Hex.encode(bodyHash)),sig=\(Hex.encode(sig))"
    }

    /// What a request's head proves: the agent that signed it, its nonce and time, and the
    /// SHA-256 its body must have.
    public struct Signed: Sendable, Equatable {
        public var node: String
        public var time: Int64
        public var nonce: [UInt8]
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
        /// Signed for another agent: a request captured on its way there, replayed here.
        case misaddressed
        /// Its nonce was seen within its window: the same request a second time.
        case replayed
        /// An answer without a valid signature of the agent asked.
        case unsignedAnswer

        public var description: String {
            switch self {
            case .missing: "no peer credential: the peer port serves only PeerPull agents"
            case .malformed: "malformed peer credential (an agent of an older version?)"
            case .expired: "peer credential outside the time window (check the nodes' clocks)"
            case .badSignature: "peer credential does not verify (a different cluster secret?)"
            case .bodyMismatch: "the request body is not the body that was signed"
            case .misaddressed: "peer credential signed for another agent (a replayed request?)"
            case .replayed: "peer credential already used (a replayed request)"
            case .unsignedAnswer: "the answer does not carry the asked agent's signature (altered on the way?)"
            }
        }
    }

    /// The node a request's `Authorization` proves it came from, the body included.
    public func verify(_ header: String?, method: String, path: String, body: some Collection<UInt8> = [UInt8](), me: String,
                       now: Int64) throws(Refusal) -> String {
        let signed = try verifyHead(header, method: method, path: path, me: me, now: now)
        guard signed.matches(body: body) else { throw .bodyMismatch }
        return signed.node
    }

    /// Checks a request's `Authorization` from its head alone: addressed to `me`, within
    /// the window, signed; returns the signer, the nonce (for `ReplayGuard`) and the hash
    /// its body must have.
    public func verifyHead(_ header: String?, method: String, path: String, me: String, now: Int64) throws(Refusal) -> Signed {
        guard let header, !header.isEmpty else { throw .missing }
        guard header.hasPrefix(Self.scheme + " "), header.utf8.count < 1024 else { throw .malformed }
        var fields: [Substring: Substring] = [:]
        for part in header.dropFirst(Self.scheme.count + 1).split(separator: ",") {
            guard let eq = part.firstIndex(of: "=") else { throw .malformed }
            fields[part[..<eq]] = part[part.index(after: eq)...]
        }
        guard let node = fields["node"], !node.isEmpty, let to = fields["to"], let ts = fields["t"].flatMap({ Int64($0) }),
              let n = fields["n"].flatMap({ Hex.decode($0, count: Self.nonceBytes) }),
              let b = fields["b"].flatMap({ Hex.decode($0, count: 32) }), let sig = fields["sig"] else { throw .malformed }
        // Compared without arithmetic on the peer's number: `now - ts` can overflow.
        let (low, under) = now.subtractingReportingOverflow(window)
        let (high, over) = now.addingReportingOverflow(window)
        guard ts >= (under ? .min : low), ts <= (over ? .max : high) else { throw .expired }
        // Compared as a MAC (constant time), not as text.
        guard let given = Hex.decode(sig, count: 32),
              HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Self.message(method, path, b, String(node), String(to), ts, n), using: key)
        else { throw .badSignature }
        guard to == me else { throw .misaddressed }
        return Signed(node: String(node), time: ts, nonce: n, bodyHash: b)
    }

    /// The `answerHeader` value for the answer `body` that `responder` gives to the request
    /// signed with `nonce`.
    public func answerSignature(nonce: [UInt8], responder: String, body: some Collection<UInt8>) -> String {
        "node=\(responder),sig=\(Hex.encode(mac(Self.answerMessage(nonce, responder, body))))"
    }

    /// Checks that `body` is what `responder` answered to the request signed with `nonce`.
    public func verifyAnswer(_ header: String?, nonce: [UInt8], responder: String, body: some Collection<UInt8>) throws(Refusal) {
        guard let header, header.utf8.count < 512, header.hasPrefix("node=\(responder),sig="),
              let given = Hex.decode(header.dropFirst("node=\(responder),sig=".count), count: 32),
              HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Self.answerMessage(nonce, responder, body), using: key)
        else { throw .unsignedAnswer }
    }

    private func mac(_ message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
    }

    private static func message(_ method: String, _ path: String, _ bodyHash: [UInt8], _ node: String, _ to: String, _ time: Int64,
                                _ nonce: [UInt8]) -> [UInt8] {
        Array("request\n\(method)\n\(path)\n\(node)\n\(to)\n\(time)\n\(Hex.encode(nonce))\n".utf8) + bodyHash
    }

    private static func answerMessage(_ nonce: [UInt8], _ responder: String, _ body: some Collection<UInt8>) -> [UInt8] {
        Array("answer\n\(Hex.encode(nonce))\n\(responder)\n".utf8) + Array(SHA256.hash(data: Array(body)))
    }

}
