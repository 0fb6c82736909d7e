import Crypto
import Foundation

/// Proof that a peer-port request comes from an agent of this cluster: an HMAC-SHA256,
/// keyed by the cluster's shared secret (the chart's Secret), over the method, the path,
/// the time and the body's hash. A client without the secret cannot forge one, and a
/// captured header is good only for that request and `window` seconds.
///
/// Header: `Authorization: PeerPull-HMAC node=<node>,t=<unix seconds>,sig=<hex>`.
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
        "\(Self.scheme) node=\(node),t=\(now),sig=\(signature(method: method, path: path, body: body, node: node, time: now))"
    }

    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case missing
        case malformed
        case expired
        case badSignature

        public var description: String {
            switch self {
            case .missing: "no peer credential: the peer port serves only PeerPull agents"
            case .malformed: "malformed peer credential"
            case .expired: "peer credential outside the time window (check the nodes' clocks)"
            case .badSignature: "peer credential does not verify (a different cluster secret?)"
            }
        }
    }

    /// The node a request's `Authorization` proves it came from.
    public func verify(_ header: String?, method: String, path: String, body: some Collection<UInt8> = [UInt8](), now: Int64) throws(Refusal) -> String {
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
        // Compared as a MAC (constant time), not as text.
        guard let given = Self.bytes(hex: sig),
              HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Self.message(method, path, body, String(node), ts), using: key)
        else { throw .badSignature }
        return String(node)
    }

    private func signature(method: String, path: String, body: some Collection<UInt8>, node: String, time: Int64) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Self.message(method, path, body, node, time), using: key)
        return mac.map { b in let s = String(b, radix: 16); return s.count == 1 ? "0" + s : s }.joined()
    }

    private static func message(_ method: String, _ path: String, _ body: some Collection<UInt8>, _ node: String, _ time: Int64) -> [UInt8] {
        let bodyHash = SHA256.hash(data: Array(body)).map { $0 }
        return Array("\(method)\n\(path)\n\(node)\n\(time)\n".utf8) + bodyHash
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
