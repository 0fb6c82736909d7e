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
