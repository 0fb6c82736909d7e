/// The coordinator's answer to an announcement.
public struct CoordinatorAnswer: Sendable, Equatable {
    /// The blob's layout in the swarm; when it differs from the announced one, the
    /// announcement's pieces were ignored and the agent must cut the blob this way.
    public var layout: PieceLayout
    /// Peers holding pieces the agent lacks, at most the configured number.
    public var peers: [PeerView]
    /// Known hashes of the pieces the agent asked for.
    public var hashes: [Int: PieceHash]
    /// Pieces the agent is to fetch from the origin now: nobody holds them, and they are
    /// dealt to it alone, so each byte leaves the origin about once.
    public var originPieces: [Int]
    /// Pieces dealt to some agent for the origin and held by nobody yet: they are coming,
    /// so the agent waits for them instead of going to the origin itself.
    public var dealt: PieceSet
    /// Pieces from here on were never dealt: they will be, so they are coming too.
    public var cursor: Int
    /// Pieces whose hash the coordinator knows: an agent sends the hashes it has of the
    /// others (after a coordinator restarted, or another took over the blob).
    public var hashesKnown: PieceSet
    /// Changes whenever what the coordinator knows of the blob changes (for long polls).
    public var version: UInt64
    /// The coordinator's load, as the least time the agent leaves between its announcements
    /// of this blob while fetching it (zero: the agent's own cadence). With every agent of a
    /// large rollout announcing at `SwarmCadence`'s pace, one coordinator would be asked
    /// more often than it can answer (see `CoordinatorState.Configuration.announcementRate`).
    public var announceEvery: Duration

    public init(layout: PieceLayout, peers: [PeerView] = [], hashes: [Int: PieceHash] = [:], originPieces: [Int] = [],
                dealt: PieceSet? = nil, cursor: Int? = nil, hashesKnown: PieceSet? = nil, version: UInt64 = 0,
                announceEvery: Duration = .zero) {
        self.layout = layout
        self.peers = peers
        self.hashes = hashes
        self.originPieces = originPieces
        self.dealt = dealt ?? PieceSet(count: layout.count)
        self.cursor = cursor ?? layout.count
        self.hashesKnown = hashesKnown ?? PieceSet(count: layout.count)
        self.version = version
        self.announceEvery = announceEvery
    }
}
