/// One agent of the swarm, as the others reach it.
public struct Member: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The Kubernetes node name (unique in a cluster): the identity used for hashing and logs.
    public var node: String
    /// The address other agents dial (the node's IP on the host network).
    public var address: String
    /// The peer port (the chart's `p2p.peerPort`, default 65002).
    public var peerPort: Int

    public static let defaultPeerPort = 65002

    public init(node: String, address: String, peerPort: Int = Member.defaultPeerPort) {
        self.node = node
        self.address = address
        self.peerPort = peerPort
    }

    /// `host:port`, with IPv6 addresses bracketed.
    public var endpoint: String { address.contains(":") ? "[\(address)]:\(peerPort)" : "\(address):\(peerPort)" }

    public var description: String { "\(node)@\(endpoint)" }
}
