import OCI

/// Time in the swarm's state machines: a monotonic instant, as the time since an
/// arbitrary epoch. A value, so that a simulator drives the same code with its own clock.
public typealias SwarmInstant = Duration

/// What an agent tells a blob's coordinator: what it holds and fetches, the hashes of
/// the pieces it took from the origin, and what it needs. It is also the question: the
/// answer says whom to ask for pieces and what to fetch from the origin.
public struct Announcement: Sendable, Equatable {
    public var blob: Digest
    public var layout: PieceLayout
    public var member: Member
    /// Verified pieces it holds and serves.
    public var have: PieceSet
    /// Pieces it is fetching now, from anyone.
    public var fetching: PieceSet
    /// Hashes of pieces it fetched from the origin since its last announcement.
    public var hashes: [Int: PieceHash]
    /// Pieces whose hashes it does not know yet.
    public var wantHashes: PieceSet
    /// Whether it would take pieces to fetch from the origin.
    public var wantsOriginWork: Bool
    /// Peers it could not reach since its last announcement (refused, reset, silent).
    public var unreachable: [String]

    public init(blob: Digest, layout: PieceLayout, member: Member, have: PieceSet, fetching: PieceSet? = nil,
                hashes: [Int: PieceHash] = [:], wantHashes: PieceSet? = nil, wantsOriginWork: Bool = true,
                unreachable: [String] = []) {
        self.blob = blob
        self.layout = layout
        self.member = member
        self.have = have
        self.fetching = fetching ?? PieceSet(count: layout.count)
        self.hashes = hashes
        self.wantHashes = wantHashes ?? PieceSet(count: layout.count)
        self.wantsOriginWork = wantsOriginWork
        self.unreachable = unreachable
    }
}

extension Announcement {
    /// The hashes to send with an announcement: of pieces held that the coordinator has no
    /// hash for, at most `SwarmCadence.hashesPerAnnouncement` (the rest go with the next).
    public static func hashesToPublish(have: PieceSet, coordinatorKnows: PieceSet, hash: (Int) -> PieceHash?) -> [Int: PieceHash] {
        var hashes: [Int: PieceHash] = [:]
        for i in have.subtracting(coordinatorKnows).members where hashes.count < SwarmCadence.hashesPerAnnouncement {
            if let h = hash(i) { hashes[i] = h }
        }
        return hashes
    }
}

/// A peer as the coordinator last heard from it.
public struct PeerView: Sendable, Equatable {
    public var member: Member
    public var have: PieceSet

    public init(member: Member, have: PieceSet) {
        self.member = member
        self.have = have
    }
}

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
