/// The agent's `/status`: who it is in the swarm, its cache, and the blobs in flight.
public struct AgentStatus: Codable, Sendable {
    public var node: String?
    public var members: Int?
    public var cacheBytes: Int64
    public var cacheQuota: Int64
    public var cachedBlobs: Int
    public var downloads: [DownloadStatus]
    /// Whether containerd reads the agent's `hosts.toml`; nil when the agent writes none.
    public var containerd: ContainerdPreflight?
}
