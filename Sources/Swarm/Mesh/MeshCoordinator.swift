import OCI

/// A blob's coordinator in the mesh: it introduces, deals and notarises, and tracks no
/// pieces. Per blob it keeps the members (joined, complete or not, last seen), hands out a
/// random sample of them as neighbours (complete ones first for a node that joins late),
/// deals the pieces nobody has yet to a few fetchers so that each byte leaves the origin
/// about once, and records which dealt pieces have left the origin ("released"). Its work
/// per message is O(neighbours + dealt pieces): nothing grows with nodes × pieces.
/// Value type, clock and randomness passed in: the agent wraps one, the simulator runs one
/// per simulated coordinator.
public struct MeshCoordinator<Peer: Hashable & Comparable & Sendable>: Sendable {
    public struct Configuration: Sendable {
        /// Neighbours in a handout.
        public var neighbours = 12
        public var originFetchers = 8
        public var piecesPerFetcher = 2
        /// A deal not reported done in this long goes to another fetcher.
        public var dealTimeout: Duration = .seconds(10)
        /// A released piece reported orphaned is dealt again at most this often.
        public var redealAfter: Duration = .seconds(5)
        /// A member not heard from in this long is dropped: more than twice the longest
        /// keep-alive interval (`MeshCadence.keepAliveHeld`), so one lost keep-alive does not
        /// drop it.
        public var memberTTL: Duration = .seconds(25)
        public var maxBlobs = 1024
        public init() {}
    }

    public struct Answer: Sendable, Equatable {
        public var neighbours: [Peer]
        /// Pieces dealt to the asker now (fetch them from the origin, report each done).
        public var dealt: [Int]
        public var released: PieceSet
    }

    struct Member {
        var complete: Bool
        var lastSeen: SwarmInstant
        /// Its index in `incomplete` or `complete`.
        var slot: Int
    }

    struct Blob {
        let layout: PieceLayout
        var members: [Peer: Member] = [:]
        var incomplete: [Peer] = []
        var complete: [Peer] = []
        var nextToDeal = 0
        var redeal: [Int] = []
        var deals: [Int: (fetcher: Peer, at: SwarmInstant)] = [:]
        /// Per fetcher, its deals outstanding.
        var fetchers: [Peer: Int] = [:]
        var released: PieceSet
        /// Released pieces dealt again (reported orphaned), and when.
        var redealt: [Int: SwarmInstant] = [:]
        var lastUsed: SwarmInstant

        init(layout: PieceLayout, now: SwarmInstant) {
            self.layout = layout
            released = PieceSet(count: layout.count)
            lastUsed = now
        }
    }

    public let configuration: Configuration
    var blobs: [Digest: Blob] = [:]

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    public var blobCount: Int { blobs.count }
    public func memberCount(of blob: Digest) -> Int { blobs[blob]?.members.count ?? 0 }

    /// A join or a keep-alive: `peer` pulls or holds `blob` (`complete`). Returns its answer
    /// with `neighbours` new neighbours (0 for a keep-alive), or nil when the layout differs
    /// from the blob's or the coordinator holds too many blobs.
    public mutating func announce(_ blob: Digest, layout: PieceLayout, from peer: Peer, complete: Bool,
                                  neighbours wanted: Int, now: SwarmInstant,
                                  using rng: inout some RandomNumberGenerator) -> Answer? {
        if blobs[blob] == nil {
            guard blobs.count < configuration.maxBlobs else { return nil }
            blobs[blob] = Blob(layout: layout, now: now)
        }
        guard blobs[blob]!.layout == layout else { return nil }
        blobs[blob]!.lastUsed = now
        Self.upsert(peer, complete: complete, now: now, in: &blobs[blob]!)
        let handout = wanted > 0 ? Self.sample(min(wanted, configuration.neighbours), for: peer, in: blobs[blob]!, using: &rng) : []
        let dealt = complete ? [] : deal(blob, to: peer, now: now)
        return Answer(neighbours: handout, dealt: dealt, released: blobs[blob]!.released)
    }

    /// `peer` fetched dealt `piece` from the origin: it is released, and `peer` is dealt more.
    public mutating func dealtDone(_ blob: Digest, piece: Int, from peer: Peer, now: SwarmInstant) -> Answer? {
        guard blobs[blob] != nil, piece >= 0, piece < blobs[blob]!.layout.count else { return nil }
        _ = blobs[blob]!.released.insert(piece)
        if let deal = blobs[blob]!.deals[piece] {
            blobs[blob]!.deals[piece] = nil
            Self.settle(deal.fetcher, in: &blobs[blob]!)
        }
        blobs[blob]!.redeal.removeAll { $0 == piece }
        if let m = blobs[blob]!.members[peer] { blobs[blob]!.members[peer]!.lastSeen = max(m.lastSeen, now) }
        return Answer(neighbours: [], dealt: deal(blob, to: peer, now: now), released: blobs[blob]!.released)
    }

    /// `peer` waited in vain for released `piece`: no neighbour offers it (its holders left,
    /// or their sessions broke). It is dealt to `peer` for the origin, unless it was dealt
    /// again within `redealAfter` (then the one who was dealt it will spread it).
    public mutating func orphaned(_ blob: Digest, piece: Int, from peer: Peer, now: SwarmInstant) -> Answer? {
        guard blobs[blob] != nil, piece >= 0, piece < blobs[blob]!.layout.count, blobs[blob]!.released.contains(piece) else { return nil }
        var dealt: [Int] = []
        if blobs[blob]!.redealt[piece].map({ now - $0 >= configuration.redealAfter }) ?? true {
            blobs[blob]!.redealt[piece] = now
            dealt = [piece]
        }
        return Answer(neighbours: [], dealt: dealt, released: blobs[blob]!.released)
    }

    /// `peer` left `blob` (its agent stopped, or it dropped the blob).
    public mutating func leave(_ blob: Digest, peer: Peer) {
        guard blobs[blob] != nil else { return }
        Self.remove(peer, from: &blobs[blob]!)
    }

    /// Drops members not heard from within the TTL (their deals go to others), deals past
    /// their timeout, and blobs nobody announced within the TTL.
    public mutating func expire(now: SwarmInstant) {
        for key in blobs.keys.sorted(by: { $0.hex < $1.hex }) {
            if now - blobs[key]!.lastUsed > configuration.memberTTL {
                blobs[key] = nil
                continue
            }
            let stale = blobs[key]!.members.filter { now - $0.value.lastSeen > configuration.memberTTL }.map(\.key).sorted()
            for peer in stale { Self.remove(peer, from: &blobs[key]!) }
            let late = blobs[key]!.deals.filter { now - $0.value.at > configuration.dealTimeout }
            for (piece, deal) in late.sorted(by: { $0.key < $1.key }) {
                blobs[key]!.deals[piece] = nil
                blobs[key]!.redeal.append(piece)
                Self.settle(deal.fetcher, in: &blobs[key]!)
            }
        }
    }

    // MARK: Deals

    /// Tops `peer`'s deals up to `piecesPerFetcher`, if it is (or may become) a fetcher.
    private mutating func deal(_ key: Digest, to peer: Peer, now: SwarmInstant) -> [Int] {
        var out: [Int] = []
        guard blobs[key] != nil else { return out }
        let count = blobs[key]!.layout.count
        if blobs[key]!.fetchers[peer] == nil {
            guard blobs[key]!.fetchers.count < configuration.originFetchers, blobs[key]!.released.memberCount < count else { return out }
            blobs[key]!.fetchers[peer] = 0
        }
        while blobs[key]!.fetchers[peer]! < configuration.piecesPerFetcher {
            var piece: Int?
            while piece == nil, !blobs[key]!.redeal.isEmpty {
                let p = blobs[key]!.redeal.removeFirst()
                if !blobs[key]!.released.contains(p), blobs[key]!.deals[p] == nil { piece = p }
            }
            while piece == nil, blobs[key]!.nextToDeal < count {
                let p = blobs[key]!.nextToDeal
                blobs[key]!.nextToDeal += 1
                if !blobs[key]!.released.contains(p), blobs[key]!.deals[p] == nil { piece = p }
            }
            guard let piece else { break }
            blobs[key]!.deals[piece] = (peer, now)
            blobs[key]!.fetchers[peer]! += 1
            out.append(piece)
        }
        return out
    }

    /// A deal of `fetcher`'s ended; a fetcher with nothing left to fetch is one no more.
    private static func settle(_ fetcher: Peer, in blob: inout Blob) {
        guard let n = blob.fetchers[fetcher] else { return }
        blob.fetchers[fetcher] = n - 1
        if n - 1 == 0, blob.nextToDeal >= blob.layout.count, blob.redeal.isEmpty { blob.fetchers[fetcher] = nil }
    }

    // MARK: Members

    private static func upsert(_ peer: Peer, complete: Bool, now: SwarmInstant, in blob: inout Blob) {
        if let m = blob.members[peer] {
            blob.members[peer]!.lastSeen = now
            guard m.complete != complete else { return }
            removeSlot(of: peer, in: &blob)
        }
        let slot: Int
        if complete { blob.complete.append(peer); slot = blob.complete.count - 1 } else {
            blob.incomplete.append(peer); slot = blob.incomplete.count - 1
        }
        blob.members[peer] = Member(complete: complete, lastSeen: now, slot: slot)
    }

    private static func remove(_ peer: Peer, from blob: inout Blob) {
        guard blob.members[peer] != nil else { return }
        removeSlot(of: peer, in: &blob)
        blob.members[peer] = nil
        for piece in blob.deals.filter({ $0.value.fetcher == peer }).keys.sorted() {
            blob.deals[piece] = nil
            blob.redeal.append(piece)
        }
        blob.fetchers[peer] = nil
    }

    /// Takes `peer` out of its list by moving the list's last member into its place.
    private static func removeSlot(of peer: Peer, in blob: inout Blob) {
        let m = blob.members[peer]!
        if m.complete {
            let last = blob.complete.removeLast()
            if last != peer { blob.complete[m.slot] = last; blob.members[last]!.slot = m.slot }
        } else {
            let last = blob.incomplete.removeLast()
            if last != peer { blob.incomplete[m.slot] = last; blob.members[last]!.slot = m.slot }
        }
    }

    /// Up to `n` members other than `peer`, at random: half of them complete ones when there
    /// are any (they can send every piece), the rest incomplete ones, then whichever is left.
    static func sample(_ n: Int, for peer: Peer, in blob: Blob, using rng: inout some RandomNumberGenerator) -> [Peer] {
        var chosen: [Peer] = []
        var seen: Set<Peer> = [peer]
        func pick(_ k: Int, from list: [Peer]) {
            guard k > 0, !list.isEmpty else { return }
            var taken = 0
            if list.count <= 4 * k + 4 {
                for p in list.shuffled(using: &rng) where taken < k && seen.insert(p).inserted {
                    chosen.append(p)
                    taken += 1
                }
                return
            }
            var tries = 0
            while taken < k, tries < 4 * k + 8 {
                tries += 1
                let p = list[Int.random(in: 0..<list.count, using: &rng)]
                if seen.insert(p).inserted { chosen.append(p); taken += 1 }
            }
        }
        pick(min(blob.complete.count, n / 2), from: blob.complete)
        pick(n - chosen.count, from: blob.incomplete)
        pick(n - chosen.count, from: blob.complete)
        return chosen
    }
}
