/// One blob's download in the mesh, as a state machine: events in (a neighbour's bitfield, a
/// HAVE, a grant, a piece verified or failed, a neighbour lost, the coordinator's deals and
/// released pieces, a tick), actions out (ask a neighbour, fetch from the origin, send a
/// HAVE, say interested or not, give a grant back, report a dealt piece, ask for
/// neighbours, finish). It does no I/O and reads no clock: the agent executes its actions,
/// and the simulator runs the same value against simulated links.
///
/// What it knows of a neighbour is what that neighbour told it (its bitfield, then a HAVE
/// per piece it verified), so it asks only for pieces the neighbour holds, and only under
/// a grant, when the neighbour will send at once. Pieces nobody has yet come from the
/// origin as the coordinator deals them (each byte leaves the origin about once); a piece
/// the coordinator released that no neighbour offers for `orphanAfter` is reported to the
/// coordinator, which deals it to one reporter again.
public struct MeshDownload<Peer: Hashable & Comparable & Sendable>: Sendable {
    public struct Configuration: Sendable {
        /// Pieces arriving at the node from neighbours at once, for all its blobs; a grant
        /// past this is given back. As many as a node sends (`UploadGrants.defaultSlots`): fewer leave uplinks idle, more
        /// split a downlink so a hop takes longer (docs/decisions/mesh.md).
        public var incoming = 3
        /// Dealt pieces fetched from the origin at once: one, so that each leaves the origin
        /// at the fetcher's share of its rate rather than half that.
        public var dealtOriginRequests = 1
        /// Released pieces no neighbour offers are reported to the coordinator after this
        /// long (and again after as long), at most `orphanReports` per tick.
        public var orphanAfter: Duration = .seconds(6)
        public var orphanReports = 3
        /// Of the pieces a granting neighbour holds, the first missing ones (the client
        /// reads the blob in order) win over the rarest. None by default: the rarest spread
        /// the swarm fastest (docs/decisions/mesh.md).
        public var streamWindow = 0
        /// Neighbours wanted; fewer than half of them, or none useful for `refillAfter`,
        /// asks the coordinator for more.
        public var neighbours = 12
        public var refillAfter: Duration = .seconds(1)
        /// At the incoming limit, a grant replaces the oldest piece from a neighbour when
        /// that one has taken this many times the usual piece's time (a slow sender must not
        /// keep this node's downlink idle while others could send).
        public var slowFactor = 4.0
        public init() {}
    }

    public enum Source: Hashable, Sendable {
        case origin
        case peer(Peer)
    }

    public enum Action: Hashable, Sendable {
        case request(piece: Int, from: Peer)
        /// The coordinator dealt it: fetch it from the origin, then report `dealtDone`.
        case fetchOrigin(piece: Int)
        case cancel(piece: Int, from: Source)
        /// Tell every neighbour that this node holds `piece` now.
        case have(piece: Int)
        case interested(Peer)
        case notInterested(Peer)
        /// Give the neighbour's grant back and leave its line: this node says `interested`
        /// again when it has room for a piece the neighbour holds.
        case decline(Peer)
        /// Close the session for this blob (a neighbour that sent a corrupt piece).
        case drop(Peer)
        /// The coordinator dealt this piece and it has been fetched (report it, with its hash).
        case dealtDone(piece: Int)
        /// No neighbour has offered this released piece for `orphanAfter`: tell the coordinator.
        case orphaned(piece: Int)
        case refill
        case complete
    }

    public let layout: PieceLayout
    public let configuration: Configuration
    public private(set) var have: PieceSet
    /// What each neighbour holds, as it told.
    public private(set) var neighbours: [Peer: PieceSet] = [:]
    /// Per piece, how many neighbours hold it.
    private var availability: [Int32]
    private var inFlight: [Int: Source] = [:]
    /// Pieces arriving from neighbours now, and when each was asked for.
    public private(set) var fromPeers = 0
    private var askedAt: [Int: SwarmInstant] = [:]
    /// The usual time from asking a neighbour to a verified piece (a moving average).
    private var pieceTime: Duration?
    private var interestedIn: Set<Peer> = []
    /// Neighbours whose grant was given back: asked to grant again when there is room.
    private var deferred: Set<Peer> = []
    /// Dealt pieces not yet fetched, in the order dealt.
    private var dealt: [Int] = []
    private var dealtInFlight: Set<Int> = []
    /// Pieces the coordinator says have left the origin: someone in the swarm has them.
    public private(set) var released: PieceSet
    /// When each released piece no neighbour offers was first seen so.
    private var unoffered: [Int: SwarmInstant] = [:]
    private var lastUseful: SwarmInstant
    private var lastRefill: SwarmInstant = .seconds(-3600)
    /// Rotates rarest-first's ties, so that nodes do not all pick the same piece.
    private let salt: Int
    public private(set) var finished = false

    public init(layout: PieceLayout, configuration: Configuration = .init(), salt: Int = 0, now: SwarmInstant = .zero) {
        self.layout = layout
        self.configuration = configuration
        have = PieceSet(count: layout.count)
        released = PieceSet(count: layout.count)
        availability = Array(repeating: 0, count: layout.count)
        self.salt = salt
        lastUseful = now
    }

    public var isComplete: Bool { have.isFull }
    public var piecesInFlight: Int { inFlight.count }

    // MARK: Neighbours

    /// A session with `peer` for this blob is up; `holds` is its bitfield.
    public mutating func neighbourAdded(_ peer: Peer, holds: PieceSet) -> [Action] {
        guard holds.count == layout.count else { return [.drop(peer)] }
        if let old = neighbours[peer] { forget(old) }
        neighbours[peer] = holds
        for p in holds.members { availability[p] += 1 }
        return updateInterest(in: peer)
    }

    /// `peer` verified `piece`.
    public mutating func have(_ piece: Int, from peer: Peer) -> [Action] {
        guard layout.count > piece, piece >= 0, neighbours[peer] != nil else { return [] }
        guard neighbours[peer]!.insert(piece) else { return [] }
        availability[piece] += 1
        unoffered[piece] = nil
        if !have.contains(piece), !interestedIn.contains(peer), !deferred.contains(peer) {
            interestedIn.insert(peer)
            return [.interested(peer)]
        }
        return []
    }

    /// The session with `peer` broke or was closed: what was asked of it is asked again.
    public mutating func neighbourLost(_ peer: Peer, now: SwarmInstant) -> [Action] {
        guard let old = neighbours.removeValue(forKey: peer) else { return [] }
        forget(old)
        interestedIn.remove(peer)
        deferred.remove(peer)
        for (piece, source) in inFlight where source == .peer(peer) {
            inFlight[piece] = nil
            endPeerRequest(piece, verifiedAt: nil)
        }
        return roomAvailable() + refillIfFew(now: now)
    }

    private mutating func forget(_ holds: PieceSet) {
        for p in holds.members { availability[p] -= 1 }
    }

    private mutating func updateInterest(in peer: Peer) -> [Action] {
        let wants = neighbours[peer].map { !$0.isSubset(of: have) } ?? false
        if wants, interestedIn.insert(peer).inserted { return [.interested(peer)] }
        if !wants, interestedIn.remove(peer) != nil { return [.notInterested(peer)] }
        return []
    }

    // MARK: Grants

    /// `peer` granted this node a slot: ask it for a piece, or give the grant back.
    /// `arrivingElsewhere`: pieces arriving at this node from neighbours for its other blobs
    /// (the incoming limit is the node's, as its downlink is).
    public mutating func granted(by peer: Peer, arrivingElsewhere: Int = 0, now: SwarmInstant) -> [Action] {
        guard let holds = neighbours[peer], !finished else { return [.decline(peer)] }
        var actions: [Action] = []
        if fromPeers + arrivingElsewhere >= configuration.incoming, let usual = pieceTime, choose(from: holds) != nil,
           let (slowest, asked) = askedAt.min(by: { ($0.value, $0.key) < ($1.value, $1.key) }),
           now - asked > usual * configuration.slowFactor, case .peer(let sender)? = inFlight[slowest] {
            inFlight[slowest] = nil
            endPeerRequest(slowest, verifiedAt: nil)
            actions.append(.cancel(piece: slowest, from: .peer(sender)))
        }
        guard fromPeers + arrivingElsewhere < configuration.incoming, let piece = choose(from: holds) else {
            // Full, or what it holds is on its way from others: out of its line until there
            // is room (a grant handed back and forth would otherwise never rest).
            interestedIn.remove(peer)
            deferred.insert(peer)
            return [.decline(peer)]
        }
        inFlight[piece] = .peer(peer)
        askedAt[piece] = now
        fromPeers += 1
        lastUseful = now
        return actions + [.request(piece: piece, from: peer)]
    }

    /// A piece asked of a neighbour is no longer awaited; one that arrived counts toward the
    /// usual piece time.
    private mutating func endPeerRequest(_ piece: Int, verifiedAt now: SwarmInstant?) {
        fromPeers -= 1
        guard let asked = askedAt.removeValue(forKey: piece), let now else { return }
        let took = now - asked
        pieceTime = pieceTime.map { $0 * 0.8 + took * 0.2 } ?? took
    }

    /// The first missing pieces the peer holds, else its rarest (ties rotated by `salt`).
    private func choose(from holds: PieceSet) -> Int? {
        var start = 0
        for _ in 0..<configuration.streamWindow {
            guard let p = have.firstMissing(from: start) else { return nil }
            if inFlight[p] == nil, holds.contains(p) { return p }
            start = p + 1
        }
        let n = layout.count
        guard n > 0 else { return nil }
        var best: Int?
        var bestCount = Int32.max
        let offset = (salt % n + n) % n
        for k in 0..<n {
            let p = (k + offset) % n
            guard holds.contains(p), !have.contains(p), inFlight[p] == nil else { continue }
            if availability[p] < bestCount {
                best = p
                bestCount = availability[p]
                if bestCount <= 1 { break }
            }
        }
        return best
    }

    // MARK: The origin

    /// The coordinator's answer: pieces dealt to this node, and the pieces it knows have left
    /// the origin.
    public mutating func coordinatorAnswered(dealt newlyDealt: [Int], released: PieceSet, now: SwarmInstant) -> [Action] {
        if released.count == layout.count { self.released = self.released.union(released) }
        var actions: [Action] = []
        for p in newlyDealt where p >= 0 && p < layout.count && !dealtInFlight.contains(p) && !dealt.contains(p) {
            if have.contains(p) { actions.append(.dealtDone(piece: p)) } else { dealt.append(p) }
        }
        return actions + originWork(now: now)
    }

    private mutating func originWork(now: SwarmInstant) -> [Action] {
        var actions: [Action] = []
        while dealtInFlight.count < configuration.dealtOriginRequests, !dealt.isEmpty {
            let p = dealt.removeFirst()
            if have.contains(p) { actions.append(.dealtDone(piece: p)); continue }
            if case .peer(let peer)? = inFlight[p] {
                endPeerRequest(p, verifiedAt: nil)
                actions.append(.cancel(piece: p, from: .peer(peer)))
            }
            if inFlight[p] != .origin {
                inFlight[p] = .origin
                actions.append(.fetchOrigin(piece: p))
            }
            dealtInFlight.insert(p)
        }
        return actions
    }

    // MARK: Pieces

    /// `piece` arrived from `source` and matched its hash.
    public mutating func pieceVerified(_ piece: Int, from source: Source, now: SwarmInstant) -> [Action] {
        guard piece >= 0, piece < layout.count else { return [] }
        if inFlight[piece] == source {
            inFlight[piece] = nil
            if source != .origin { endPeerRequest(piece, verifiedAt: now) }
        }
        guard have.insert(piece) else { return [] }
        lastUseful = now
        unoffered[piece] = nil
        var actions: [Action] = [.have(piece: piece)]
        if dealtInFlight.remove(piece) != nil { actions.append(.dealtDone(piece: piece)) }
        if let k = dealt.firstIndex(of: piece) { dealt.remove(at: k); actions.append(.dealtDone(piece: piece)) }
        if let other = inFlight.removeValue(forKey: piece) {
            if other != .origin { endPeerRequest(piece, verifiedAt: nil) }
            actions.append(.cancel(piece: piece, from: other))
        }
        // (In order: the same run gives the same messages in the same order.)
        for peer in interestedIn.sorted() where neighbours[peer]!.contains(piece) {
            actions += updateInterest(in: peer)
        }
        actions += roomAvailable()
        actions += originWork(now: now)
        if have.isFull, !finished {
            finished = true
            for peer in interestedIn.sorted() { actions.append(.notInterested(peer)) }
            interestedIn = []
            deferred = []
            actions.append(.complete)
        }
        return actions
    }

    /// `piece` from `source` failed: its bytes did not match (`corrupt`: the neighbour is
    /// dropped) or the transfer ended early.
    public mutating func pieceFailed(_ piece: Int, from source: Source, corrupt: Bool, now: SwarmInstant) -> [Action] {
        guard inFlight[piece] == source else { return [] }
        inFlight[piece] = nil
        var actions: [Action] = []
        switch source {
        case .origin:
            if dealtInFlight.remove(piece) != nil { dealt.insert(piece, at: 0) }
        case .peer(let peer):
            endPeerRequest(piece, verifiedAt: nil)
            if corrupt {
                actions.append(.drop(peer))
                actions += neighbourLost(peer, now: now)
            } else {
                actions += roomAvailable()
            }
        }
        return actions + originWork(now: now)
    }

    // MARK: Time

    /// Released pieces that no neighbour offers are reported after `orphanAfter` (the
    /// coordinator deals each to one reporter: a piece whose holders left is read from the
    /// origin once more, not once per node waiting for it); too few neighbours, or none
    /// useful for `refillAfter`, asks for more.
    public mutating func tick(now: SwarmInstant) -> [Action] {
        guard !finished else { return [] }
        // Also on the clock: a neighbour deferred while only origin pieces were arriving.
        var actions = roomAvailable()
        var reports = 0
        for p in released.subtracting(have).members where inFlight[p] == nil && !dealt.contains(p) {
            if availability[p] > 0 { unoffered[p] = nil; continue }
            let since = unoffered[p] ?? now
            unoffered[p] = since
            if now - since >= configuration.orphanAfter, reports < configuration.orphanReports {
                unoffered[p] = now
                reports += 1
                actions.append(.orphaned(piece: p))
            }
        }
        if !interestedIn.isEmpty || fromPeers > 0 { lastUseful = now }
        actions += refillIfFew(now: now)
        return actions
    }

    private mutating func refillIfFew(now: SwarmInstant) -> [Action] {
        let few = neighbours.count < configuration.neighbours / 2
        // Nothing to get from the neighbours while pieces that left the origin are missing.
        let useless = now - lastUseful >= configuration.refillAfter && !released.isSubset(of: have)
        guard !finished, few || useless, now - lastRefill >= configuration.refillAfter else { return [] }
        lastRefill = now
        return [.refill]
    }

    /// A piece stopped arriving (here or, for the node's other blobs, elsewhere): the
    /// neighbours whose grants were given back are asked again, if they hold something wanted.
    public mutating func roomAvailable() -> [Action] {
        guard !deferred.isEmpty, !finished else { return [] }
        var actions: [Action] = []
        for peer in deferred.sorted() {
            deferred.remove(peer)
            actions += updateInterest(in: peer)
        }
        return actions
    }

    /// Pieces in flight, by source (for the simulator's and the agent's bookkeeping).
    public func source(of piece: Int) -> Source? { inFlight[piece] }
}
