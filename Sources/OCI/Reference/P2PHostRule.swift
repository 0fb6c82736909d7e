/// The one rule, shared by the controller (which rewrites pod images) and the agent
/// (which maps requests back to their origin): the origin registry `R.Y` is reached
/// through the node-local P2P host `R.distributed.Y:<port>`, path, tag and digest unchanged.
///
/// `test-registry-vpc.cn-hangzhou.cr.aliyuncs.com` ↔
/// `test-registry-vpc.distributed.cn-hangzhou.cr.aliyuncs.com:65001`.
public struct P2PHostRule: Sendable, Hashable {
    public static let marker = "distributed"
    public static let defaultPort = 65001
    public var port: Int

    public init(port: Int = P2PHostRule.defaultPort) {
        self.port = port
    }

    /// The P2P host for an origin domain, or nil when the rule cannot express it: an IP
    /// address, a single-label host, or a host that already is a P2P host.
    ///
    /// An origin's own port (`harbor.example.com:8443`) is not part of its P2P host, which
    /// always carries the agent's port: the agent recovers it from its configured origins
    /// (`OriginResolver`), so two origins on one host with different ports are ambiguous
    /// and the controller leaves both alone.
    public func p2pDomain(forOrigin origin: String) -> String? {
        p2pHostName(forOrigin: origin).map { "\($0):\(port)" }
    }

    /// `p2pDomain(forOrigin:)` without the port: the name a TLS certificate must carry.
    public func p2pHostName(forOrigin origin: String) -> String? {
        guard !origin.hasPrefix("[") else { return nil }
        let host = Self.host(of: origin)
        guard !host.contains(":") else { return nil }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, !labels.contains(Substring(Self.marker)),
              !labels.allSatisfy({ $0.allSatisfy(\.isNumber) })
        else { return nil }
        return ([labels[0], Substring(Self.marker)] + labels[1...]).joined(separator: ".")
    }

    /// `origin` without its port, lower case.
    public static func host(of origin: String) -> String {
        let lower = origin.lowercased()
        guard !lower.hasPrefix("["), let colon = lower.lastIndex(of: ":"), Int(lower[lower.index(after: colon)...]) != nil else { return lower }
        return String(lower[..<colon])
    }

    /// The origin domain for a P2P host (`Host` header, with or without the port), or nil
    /// when `host` is not a P2P host of this rule.
    public func origin(forP2PDomain host: String) -> String? {
        var name = Substring(host.lowercased())
        if let colon = name.lastIndex(of: ":"), !name.hasPrefix("[") {
            guard Int(name[name.index(after: colon)...]) == port else { return nil }
            name = name[..<colon]
        }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 3, labels[1] == Substring(Self.marker), !labels.contains("") else { return nil }
        return ([labels[0]] + labels[2...]).joined(separator: ".")
    }
}
