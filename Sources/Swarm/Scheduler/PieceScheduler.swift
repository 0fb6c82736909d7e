/// Decides, for one blob on one agent, which piece to fetch from whom: a value that takes
/// events (the coordinator's answer, a piece arrived or failed, the time) and returns
/// actions (fetch a piece from a source, cancel a request). No I/O and no clock of its
/// own: the agent's download runs it, and the simulator runs it unchanged.
///
/// The rules, in order of precedence:
/// - Pieces the coordinator dealt to this agent come from the origin, one at a time:
///   nobody holds them, and nobody else fetches them, so each byte leaves the origin once.
/// - Other pieces come from peers that hold them, several peers at once (at most
///   `requestsPerPeer` each, one by default, and `maxPeerRequests` in all). The pieces just past the
///   verified prefix come first, so the client's in-order stream keeps flowing; after
///   that, the rarest first, so pieces spread before their few holders are busy.
/// - A piece that no known peer holds and nobody was dealt, for `originFallbackAfter`,
///   comes from the origin; so does every piece when no coordinator answers. A pull
///   through the swarm is never much slower than one from the origin.
/// - A request with no answer in `requestTimeout` is given up and the piece asked of
///   another source; its peer is rested for `peerBackoff`, and until it delivers a piece
///   it counts as no one's source: what only it offered comes from the origin at once. A
///   peer that sent a piece whose hash did not match is never asked again for this blob.
/// - Whatever the peers do, the download progresses: after a peer request failed, no
///   piece from any peer for `peerStallLimit` sends the front-most missing pieces to the
///   origin as well (peers that announce pieces and never send them cannot hold a pull).
/// - Endgame: when nothing is left to request and at most `endgamePieces` are missing,
///   each is also asked of a second source; the first answer wins, the other is cancelled.
public struct PieceScheduler: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// One piece at a time from each peer: a second request mostly meets the uploader's
        /// per-asker share, is answered "busy", and rests that peer.
        /// Why 1: docs/decisions/swarm-tuning.md#requests-per-peer.
        public var requestsPerPeer = 1
        public var maxPeerRequests = 12
        public var originRequests = 3
        /// Of the origin requests, those for pieces dealt to this agent, at once. One: the
        /// coordinator deals to 8 agents per blob, and each fetching its pieces one after
        /// another keeps the origin's link as busy as more would, while each piece is done
        /// (and forwarded) sooner. Every origin request at once shares the origin's link,
        /// and nothing moves between agents until the first pieces arrive.
        /// Why 1: docs/decisions/swarm-tuning.md#dealt-origin-requests.
        public var dealtOriginRequests = 1
        /// ...and when no other agent holds a deal (this agent fetches the blob alone, as
        /// one pod of a new image on one node does): two, so that one piece's request and
        /// answer overlap another's bytes and the origin link never idles between pieces.
        public var aloneDealtOriginRequests = 2
        public var requestTimeout: Duration = .seconds(6)
        public var peerBackoff: Duration = .seconds(10)
        /// How long a busy peer is left alone.
        public var busyBackoff: Duration = .milliseconds(300)
        /// A download that has heard from a coordinator goes to the origin alone only after
        /// this long without an answer; one slow round (a coordinator busy for a moment)
        /// changes nothing. Before any answer, the first unanswered round sends it there.
        public var coordinatorLoss: Duration = .seconds(2)
        /// A download whose first coordinator keeps refusing its announcements as busy
        /// (alive, but with too many waiting) goes to the origin only after this long
        /// without an answer: a herd of downloads starting at once is served within a few
        /// rounds, and reading the origin instead would multiply its bytes.
        public var busyCoordinatorPatience: Duration = .seconds(5)
        public var originFallbackAfter: Duration = .seconds(3)
        /// After a failed peer request, how long without a piece from any peer before the
        /// origin is asked for the front-most missing pieces too.
        public var peerStallLimit: Duration = .seconds(2)
        public var endgamePieces = 4
        /// Pieces past the verified prefix fetched before rarer ones.
        public var streamWindow = 4
        /// Peers remembered, at most. Coordinators list other holders with every answer, so
        /// in a large rollout an agent hears of most of the swarm: past this, one with
        /// nothing asked of it makes room, one with nothing the agent lacks first, else the
        /// one heard of longest ago (docs/decisions/swarm-tuning.md#peers-remembered-per-download).
        public var maxPeers = 512
        /// Requests at once to peers not known to hold anything this agent lacks, for the
        /// missing piece most peers hold, at most one every `probeInterval` (peers that tell
        /// their holdings answer with them, so a peer listed long ago with few pieces is
        /// found to hold many now).
        public var probes = 0
        public var probeInterval: Duration = .milliseconds(50)

        public init() {}
    }

    /// Where a piece comes from.
    public enum Source: Hashable, Sendable, CustomStringConvertible {
        case origin
        case peer(Member)

        public var description: String {
            switch self {
            case .origin: "origin"
            case .peer(let m): m.node
            }
        }
    }

    public enum Action: Hashable, Sendable {
        case fetch(piece: Int, from: Source)
        case cancel(piece: Int, from: Source)
    }

    /// How a request ended badly.
    public enum Failure: Sendable, Equatable {
        /// The bytes did not hash to the piece's hash: the peer is dropped for this blob.
        case corrupt
        /// The peer answered that it does not hold the piece (it lost the blob, or the
        /// coordinator's list was stale): it is not asked for that piece again.
        case refused
        /// The peer is sending as many pieces as it takes at once: asked again soon, and
        /// meanwhile other holders are.
        case busy
        /// Cut, unreachable, or too slow.
        case failed
    }

    struct Peer: Sendable {
        var member: Member
        var have: PieceSet
        var inFlight = 0
        var restingUntil: SwarmInstant?
        var dropped = false
        /// A request to it failed (timed out, cut, unreachable) and it has delivered nothing
        /// since: its pieces count for no one's (`offers` is empty), so they are not waited
        /// for; it may still be asked for pieces others hold, and a piece clears it.
        var suspect = false
        /// Pieces it said it does not hold, whatever coordinators list.
        var refused: PieceSet
        /// Its place among peers equally free, different on every agent.
        let rank: UInt64
        var probedAt: SwarmInstant?
        /// When it was last listed or said what it holds (`heardCount` then).
        var heard: UInt64 = 0

        init(member: Member, have: PieceSet, rank: UInt64) {
            self.member = member
            self.have = have
            self.refused = PieceSet(count: have.count)
            self.rank = rank
        }

        func isUsable(now: SwarmInstant, requestsPerPeer: Int) -> Bool {
            !dropped && inFlight < requestsPerPeer && (restingUntil.map { now >= $0 } ?? true)
        }

        func holds(_ piece: Int) -> Bool { !dropped && have.contains(piece) && !refused.contains(piece) }

        /// The pieces it counts as a source of.
        var offers: PieceSet { dropped || suspect ? PieceSet(count: have.count) : have.subtracting(refused) }
    }

    public let layout: PieceLayout
    public let configuration: Configuration
    /// Seeds the peers' ranks (`Peer.rank`): the agent's own node name, hashed.
    private let seed: UInt64
    public private(set) var have: PieceSet
    /// Sources each piece in flight was asked of, and when.
    private(set) var inFlight: [Int: [Source: SwarmInstant]] = [:]
    /// The peers heard of, and where each is: at most `Configuration.maxPeers` (see there).
    private(set) var peers: [Peer] = []
    private var peerIndex: [String: Int] = [:]
    /// Counts what was heard of peers (`Peer.heard`).
    private var heardCount: UInt64 = 0
    /// Per piece, the peers that may be asked for it (`Peer.holds`), kept as peers change so
    /// that deciding costs no scan of every peer for every piece.
    private var availability: [Int32]
    /// Pieces whose hash is known, so that a copy from a peer can be checked.
    public private(set) var hashKnown: PieceSet
    /// Pieces dealt to this agent for the origin.
    public private(set) var mine: PieceSet
    /// The coordinator has dealt this agent origin work: it is one of the blob's fetchers.
    public private(set) var isFetcher = false
    /// Pieces dealt to other agents for the origin.
    private(set) var dealtElsewhere: PieceSet
    /// Pieces from here on were never dealt by the coordinator: they are still coming.
    private(set) var cursor = 0
    /// Since when each missing piece has had no source but the origin.
    private var orphanSince: [SwarmInstant?]
    /// No coordinator answers: every piece comes from the origin.
    public private(set) var originOnly = false
    private var lastAnswer: SwarmInstant?
    /// Since when a download with no answer yet has been refused as busy.
    private var busySince: SwarmInstant?
    /// The coordinator's last `CoordinatorAnswer.announceEvery`: the download announces no
    /// more often, and a silence counts as a lost coordinator only past it.
    public private(set) var announceEvery: Duration = .zero
    private var originInFlight = 0
    /// After an origin failure the origin is not asked again until then (doubling, ≤ 5 s).
    private var originRestingUntil: SwarmInstant?
    private var originRest: Duration = .zero
    private var peerInFlight = 0
    /// Pieces asked of a peer not known to hold them (`Configuration.probes`).
    private var probing = Set<Int>()
    private var lastProbe: SwarmInstant?
    /// Before this instant the passing of time alone changes no decision (no request is
    /// due to time out, no rest ends, no orphan is due for the origin), so a tick does
    /// nothing: ten ticks a second per download cost nothing while pieces flow.
    private var quietUntil: SwarmInstant = .zero
    /// The last pieces that arrived (when, bytes): the download's rate.
    private var arrivals: [(at: SwarmInstant, bytes: Int)] = []
    /// Doubles (up to 8) whenever requests time out with no piece arriving since they
    /// were asked: the link is slower than the timeout assumed, not the peers dead.
    private var timeoutScale = 1
    /// The origin's requests get at least this long: twice what its last piece took, or
    /// doubled (up to `longestOriginTimeout`) when its requests time out with no origin piece
    /// arriving since they were asked. The origin is one link shared by every agent that
    /// reads it, with no upload slots: when many go to it at once, each request gets a
    /// sliver of it, and timed out at the peers' 6 s they would be cancelled when nearly
    /// done, over and over (docs/decisions/swarm-tuning.md#the-origins-timeout). Growing
    /// with what the origin takes, each request is given up at most a few times.
    private var originTimeout: Duration
    private var lastOriginArrival: SwarmInstant?
    /// The first peer request to fail since a peer last delivered (`peerStallLimit`).
    private var peerFailedSinceArrival: SwarmInstant?
    public static let longestOriginTimeout: Duration = .seconds(1800)

    /// - Parameters:
    ///   - have: pieces already verified on disk (a resumed download).
    ///   - node: the agent's own node name: among peers equally free, each agent prefers
    ///     its own (`Peer.rank`), so agents spread their requests over the peers they know.
    public init(layout: PieceLayout, have: PieceSet? = nil, node: String = "", configuration: Configuration = Configuration()) {
        self.layout = layout
        self.configuration = configuration
        self.seed = Rendezvous.fnv1a(node.utf8, 0x6a09_e667_f3bc_c908)
        self.have = have ?? PieceSet(count: layout.count)
        self.hashKnown = PieceSet(count: layout.count)
        self.mine = PieceSet(count: layout.count)
        self.dealtElsewhere = PieceSet(count: layout.count)
        self.availability = Array(repeating: 0, count: layout.count)
        self.orphanSince = Array(repeating: nil, count: layout.count)
        self.originTimeout = configuration.requestTimeout
    }

    /// Records `peer` under its node, keeping `availability` in step.
    private mutating func setPeer(_ peer: Peer, heard: Bool = false) {
        var peer = peer
        if heard {
            heardCount &+= 1
            peer.heard = heardCount
        }
        let k = peerIndex[peer.member.node]
        let before = k.map { peers[$0].offers } ?? PieceSet(count: layout.count)
        let after = peer.offers
        if before != after {
            for i in after.subtracting(before).members { availability[i] += 1 }
            for i in before.subtracting(after).members { availability[i] -= 1 }
        }
        if let k { peers[k] = peer } else if peers.count < configuration.maxPeers {
            peerIndex[peer.member.node] = peers.count
            peers.append(peer)
        } else {
            // Full: one with nothing asked of it makes room, one with nothing this agent
            // lacks first, else the one heard of longest ago (one that sent a bad piece is
            // kept, so it is never asked again). None: the new one is not kept.
            let missing = PieceSet.full(count: layout.count).subtracting(have)
            var victim: Int?
            // (A suspect peer is kept too: made room for, the next answer would list it afresh,
            // trusted again, and its pieces would be waited for once more.)
            for k in peers.indices where !peers[k].dropped && !peers[k].suspect && peers[k].inFlight == 0 {
                if !peers[k].offers.intersects(missing) { victim = k; break }
                if victim.map({ peers[k].heard < peers[$0].heard }) ?? true { victim = k }
            }
            guard let v = victim else {
                for i in after.members { availability[i] -= 1 }
                return
            }
            for i in peers[v].offers.members { availability[i] -= 1 }
            peerIndex[peers[v].member.node] = nil
            peerIndex[peer.member.node] = v
            peers[v] = peer
        }
    }

    /// A peer first heard of, with its rank on this agent.
    private func newPeer(_ member: Member, have: PieceSet) -> Peer {
        Peer(member: member, have: have, rank: Rendezvous.weight(seed: seed, node: member.node))
    }

    /// Peers known now.
    public var knownPeers: Int { peers.count }

    public var isComplete: Bool { have.isFull }

    /// How long a request may take before it is given up: `configuration.requestTimeout`,
    /// or more when the pieces in flight share a link too slow to bring them all in that
    /// time (twice what they need at the rate pieces arrived lately), so that a node on a
    /// slow link completes (docs/decisions/swarm-tuning.md#request-timeouts). At most 2 minutes.
    public var requestTimeout: Duration {
        var t = configuration.requestTimeout * timeoutScale
        if arrivals.count >= 4, let first = arrivals.first, let last = arrivals.last, last.at > first.at {
            let bytes = arrivals.dropFirst().reduce(0) { $0 + $1.bytes }
            let rate = Double(bytes) / (last.at - first.at).inSeconds
            let queued = Double((originInFlight + peerInFlight) * layout.pieceSize)
            t = max(t, .milliseconds(Int64(2000 * queued / rate)))
        }
        return min(t, .seconds(120))
    }

    /// `Configuration.peerStallLimit`, or three times the mean gap between the last pieces
    /// to arrive on a link so slow that pieces are seconds apart anyway.
    var peerStallLimit: Duration {
        guard arrivals.count >= 4, let first = arrivals.first, let last = arrivals.last, last.at > first.at else {
            return configuration.peerStallLimit
        }
        return max(configuration.peerStallLimit, (last.at - first.at) / (arrivals.count - 1) * 3)
    }

    /// How long a request of `source` may take before it is given up: `requestTimeout`, or
    /// the origin's own when longer. The agent gives its request this long too.
    public func timeout(for source: Source) -> Duration { timeout(of: source, requestTimeout: requestTimeout) }

    func timeout(of source: Source, requestTimeout limit: Duration) -> Duration {
        if case .origin = source { return max(limit, originTimeout) }
        return limit
    }
    /// An origin fetcher with at most one dealt piece not yet asked of the origin, while the
    /// coordinator has more to deal: it asks for more now (`SwarmCadence.announceDue`), so
    /// that the next deal is there when a piece in flight arrives and the origin link never
    /// waits for an announcement.
    public var wantsDeals: Bool {
        isFetcher && !originOnly && !have.isFull && cursor < layout.count && mine.subtracting(fetching).memberCount <= 1
    }
    /// Pieces asked of some source now.
    public var fetching: PieceSet { PieceSet(count: layout.count, inFlight.keys) }
    /// Pieces `hashKnown` lacks among those a peer could send.
    public var wantHashes: PieceSet { PieceSet.full(count: layout.count).subtracting(have).subtracting(hashKnown) }
    /// The sources a piece is being fetched from.
    public func sources(of piece: Int) -> Set<Source> { Set(inFlight[piece]?.keys.map { $0 } ?? []) }

    // MARK: Events

    /// The coordinator's view: peers, hashes, and the pieces dealt for the origin.
    public mutating func coordinatorAnswered(_ answer: CoordinatorAnswer, hashes known: [Int], now: SwarmInstant) -> [Action] {
        guard answer.layout == layout else { return [] }
        originOnly = false
        lastAnswer = now
        announceEvery = answer.announceEvery
        for i in known where i >= 0 && i < layout.count { hashKnown.insert(i) }
        mine = PieceSet(count: layout.count, answer.originPieces.filter { $0 >= 0 && $0 < layout.count })
        isFetcher = !mine.isEmpty
        // Pieces that arrived while the answer was on its way are no longer this agent's work.
        mine = mine.subtracting(have)
        dealtElsewhere = answer.dealt.count == layout.count ? answer.dealt.subtracting(mine).subtracting(have) : PieceSet(count: layout.count)
        cursor = max(0, min(answer.cursor, layout.count))
        for view in answer.peers where view.have.count == layout.count {
            if let k = peerIndex[view.member.node] {
                var p = peers[k]
                p.have = p.have.union(view.have)
                p.member = view.member
                setPeer(p, heard: true)
            } else {
                setPeer(newPeer(view.member, have: view.have), heard: true)
            }
        }
        return schedule(now: now)
    }

    /// A peer's current pieces, heard from the peer itself.
    public mutating func peerHas(_ member: Member, pieces: PieceSet, now: SwarmInstant) -> [Action] {
        learn(member, holds: pieces)
        return schedule(now: now)
    }

    /// What a peer said it holds (with an answer to a piece request) replaces what the
    /// coordinators said, and what it said it lacked: it is newer than both.
    private mutating func learn(_ member: Member, holds pieces: PieceSet) {
        guard pieces.count == layout.count else { return }
        if let k = peerIndex[member.node] {
            var p = peers[k]
            p.have = pieces
            p.refused = p.refused.subtracting(pieces)
            setPeer(p, heard: true)
        } else {
            setPeer(newPeer(member, have: pieces), heard: true)
        }
    }

    /// The first coordinator refused the announcement at once, busy, asking for
    /// announcements no more often than `every`: nothing else changes, and the download
    /// announces again at that pace. After `busyCoordinatorPatience` without an answer
    /// (since the last one, or since the first refusal) everything missing comes from the
    /// origin.
    public mutating func coordinatorBusy(announceEvery every: Duration = .zero, now: SwarmInstant) -> [Action] {
        announceEvery = max(announceEvery, every)
        let since = lastAnswer ?? busySince ?? now
        if lastAnswer == nil, busySince == nil { busySince = now }
        if now - since >= configuration.busyCoordinatorPatience + announceEvery { originOnly = true }
        return schedule(now: now)
    }

    /// Hashes learned outside a coordinator answer (the agent fetched the piece itself).
    public mutating func hashesKnown(_ pieces: [Int]) {
        for i in pieces where i >= 0 && i < layout.count { hashKnown.insert(i) }
    }

    /// No coordinator answered in time: everything missing comes from the origin (unless
    /// one answered within `coordinatorLoss` past the interval it asked for).
    public mutating func coordinatorsUnreachable(now: SwarmInstant) -> [Action] {
        if let lastAnswer, now - lastAnswer < configuration.coordinatorLoss + announceEvery { return schedule(now: now) }
        originOnly = true
        return schedule(now: now)
    }

    /// A piece arrived from `source` and verified: recorded, its other requests cancelled.
    /// `holds`: the pieces the peer said it held when it answered, if it said.
    public mutating func pieceArrived(_ piece: Int, from source: Source, holds: PieceSet? = nil, now: SwarmInstant) -> [Action] {
        guard piece >= 0, piece < layout.count else { return [] }
        if let holds, case .peer(let m) = source { learn(m, holds: holds) }
        if case .peer(let m) = source {
            peerFailedSinceArrival = nil
            if let k = peerIndex[m.node], peers[k].suspect {
                var p = peers[k]
                p.suspect = false
                setPeer(p)
            }
        }
        var actions: [Action] = []
        let asked = inFlight.removeValue(forKey: piece)
        probing.remove(piece)
        if let asked {
            for other in asked.keys {
                release(other)
                if other != source { actions.append(.cancel(piece: piece, from: other)) }
            }
        }
        if case .origin = source {
            originRest = .zero
            if let since = asked?[.origin] {
                originTimeout = min(max(configuration.requestTimeout, (now - since) * 2), Self.longestOriginTimeout)
            }
            lastOriginArrival = now
        }
        arrivals.append((now, layout.length(of: piece)))
        if arrivals.count > 16 { arrivals.removeFirst() }
        timeoutScale = 1
        have.insert(piece)
        hashKnown.insert(piece)
        mine.remove(piece)
        orphanSince[piece] = nil
        return actions + schedule(now: now)
    }

    /// A request ended without the piece. `holds`: the pieces the peer said it held when it
    /// refused, if it said.
    public mutating func pieceFailed(_ piece: Int, from source: Source, _ failure: Failure, holds: PieceSet? = nil,
                                     now: SwarmInstant) -> [Action] {
        forget(piece, from: source, failure, now: now)
        if let holds, failure != .corrupt, case .peer(let m) = source {
            learn(m, holds: holds)
            // It said what it holds: no need to leave it alone for not holding this one.
            if failure == .refused, let k = peerIndex[m.node] {
                peers[k].restingUntil = nil
                peers[k].refused = PieceSet(count: layout.count)
            }
        }
        return schedule(now: now)
    }

    /// The time passes: requests past their timeout are given up, orphans go to the origin.
    public mutating func tick(now: SwarmInstant) -> [Action] {
        guard now >= quietUntil else { return [] }
        var actions: [Action] = []
        let limit = requestTimeout
        var stalled = false
        var originStalled = false
        for (piece, asked) in inFlight {
            for (source, since) in asked where now - since > timeout(of: source, requestTimeout: limit) {
                actions.append(.cancel(piece: piece, from: source))
                forget(piece, from: source, .failed, now: now)
                if arrivals.last.map({ $0.at < since }) ?? true { stalled = true }
                if case .origin = source, lastOriginArrival.map({ $0 < since }) ?? true { originStalled = true }
            }
        }
        if stalled { timeoutScale = min(timeoutScale * 2, 8) }
        if originStalled { originTimeout = min(max(originTimeout, limit) * 2, Self.longestOriginTimeout) }
        return actions + schedule(now: now)
    }

    private mutating func forget(_ piece: Int, from source: Source, _ failure: Failure, now: SwarmInstant) {
        guard inFlight[piece]?.removeValue(forKey: source) != nil else { return }
        probing.remove(piece)
        if inFlight[piece]?.isEmpty == true { inFlight[piece] = nil }
        release(source)
        if case .origin = source {
            originRest = min(max(originRest * 2, .milliseconds(250)), .seconds(5))
            originRestingUntil = now + originRest
        }
        if case .peer(let m) = source, let k = peerIndex[m.node] {
            var p = peers[k]
            let offered = p.offers
            switch failure {
            case .corrupt: p.dropped = true
            case .refused:
                p.refused.insert(piece)
                p.restingUntil = now + configuration.peerBackoff
            case .failed:
                p.restingUntil = now + configuration.peerBackoff
                p.suspect = true
                if peerFailedSinceArrival == nil { peerFailedSinceArrival = now }
            case .busy: p.restingUntil = max(p.restingUntil ?? now, now + configuration.busyBackoff)
            }
            if failure != .busy { p.have.remove(piece) }
            setPeer(p)
            // What only it offered has no source now: those pieces are orphans due at once,
            // not after `originFallbackAfter` (that wait is for pieces still coming; these
            // were here and are gone). At most `originRequests` go to the origin at a time.
            if failure == .corrupt || failure == .failed {
                let due = now - configuration.originFallbackAfter
                for i in offered.subtracting(have).members where availability[i] == 0 {
                    orphanSince[i] = min(orphanSince[i] ?? due, due)
                }
            }
        }
    }

    // MARK: Deciding

    private mutating func release(_ source: Source) {
        switch source {
        case .origin: originInFlight -= 1
        case .peer(let m):
            peerInFlight -= 1
            if let k = peerIndex[m.node] { peers[k].inFlight -= 1 }
        }
    }

    private mutating func ask(_ piece: Int, of source: Source, now: SwarmInstant) -> Action {
        inFlight[piece, default: [:]][source] = now
        switch source {
        case .origin: originInFlight += 1
        case .peer(let m):
            peerInFlight += 1
            peers[peerIndex[m.node]!].inFlight += 1
        }
        return .fetch(piece: piece, from: source)
    }

    /// Whether `p` may be asked for a piece now; in the endgame one request more than
    /// `requestsPerPeer` (with one per peer, every holder of the last pieces is often
    /// busy with another of ours, and the second source would never be asked).
    private func usable(_ p: Peer, now: SwarmInstant, endgame: Bool = false) -> Bool {
        p.isUsable(now: now, requestsPerPeer: configuration.requestsPerPeer + (endgame ? 1 : 0))
    }

    /// Among the peers at `candidates`, the usable one holding `piece` with the fewest
    /// requests in flight (then by rank), not already asked: its index. With one request
    /// per peer the fewest in flight is nearly always a tie; each agent's own rank spreads
    /// the swarm's requests (docs/decisions/swarm-tuning.md#peer-order-among-equally-free-peers).
    private func bestPeer(for piece: Int, among candidates: [Int], now: SwarmInstant, excluding: Set<Source> = [],
                          endgame: Bool = false) -> Int? {
        var best: Int?
        for k in candidates where peers[k].holds(piece) && usable(peers[k], now: now, endgame: endgame)
            && !excluding.contains(.peer(peers[k].member)) {
            if let b = best, (peers[b].inFlight, peers[b].rank) <= (peers[k].inFlight, peers[k].rank) { continue }
            best = k
        }
        return best
    }

    private mutating func schedule(now: SwarmInstant) -> [Action] {
        let actions = decide(now: now)
        quietUntil = nextChange(after: now)
        return actions
    }

    /// The first instant after `now` at which a decision may change with no event: a
    /// request's timeout or endgame deadline, the end of a rest, an orphan's fallback.
    /// (Deciding again at the same state and time asks for nothing more, so until then a
    /// tick can skip it.)
    private func nextChange(after now: SwarmInstant) -> SwarmInstant {
        var next = SwarmInstant.seconds(1 << 40)
        guard !have.isFull else { return next }
        let limit = requestTimeout
        for asked in inFlight.values {
            for (source, since) in asked {
                next = min(next, since + timeout(of: source, requestTimeout: limit), since + configuration.originFallbackAfter)
            }
        }
        for k in peers.indices { if let r = peers[k].restingUntil, r > now { next = min(next, r) } }
        if let r = originRestingUntil, r > now { next = min(next, r) }
        for case let since? in orphanSince { next = min(next, since + configuration.originFallbackAfter) }
        if let failed = peerFailedSinceArrival, failed + peerStallLimit > now { next = min(next, failed + peerStallLimit) }
        return next
    }

    private mutating func decide(now: SwarmInstant) -> [Action] {
        guard !have.isFull else { return [] }
        var actions: [Action] = []
        let missing = PieceSet.full(count: layout.count).subtracting(have).subtracting(fetching)

        // 1. Origin: dealt pieces, then (when no coordinator answers, or a piece has been
        //    an orphan long enough) the front-most missing pieces.
        var originWanted: [Int] = []
        if originOnly {
            originWanted = missing.members
        } else {
            originWanted = missing.intersection(mine).members
            for piece in missing.members {
                // Held by a peer whose copy can be checked, dealt to someone, or not dealt
                // yet: the piece is coming (from a slow or resting holder too: waiting for it
                // beats reading the origin twice). A held piece whose hash nobody published
                // (the coordinator that had it restarted) counts as an orphan, and so does
                // one every listed holder has refused: otherwise a peer that lost the blob,
                // still listed for seconds, would be waited for again and again.
                let held = hashKnown.contains(piece) && availability[piece] > 0
                if held || dealtElsewhere.contains(piece) || mine.contains(piece) || piece >= cursor {
                    orphanSince[piece] = nil
                } else if let since = orphanSince[piece] {
                    if now - since >= configuration.originFallbackAfter { originWanted.append(piece) }
                } else {
                    orphanSince[piece] = now
                }
            }
            originWanted = Array(Set(originWanted)).sorted()
        }
        // Peers failed and none has delivered since: the front-most missing pieces from the
        // origin too, those asked of peers included (the first answer wins).
        var stalled = false
        if !originOnly, let failed = peerFailedSinceArrival, now - failed >= peerStallLimit {
            stalled = true
            // Not pieces never dealt yet (they may be dealt here); this agent's own deals first.
            let front = PieceSet.full(count: layout.count).subtracting(have).members
                .filter { $0 < cursor && !mine.contains($0) && inFlight[$0]?[.origin] == nil }.prefix(configuration.originRequests)
            originWanted = Array(Set(originWanted).union(front)).sorted { (mine.contains($0) ? 0 : 1, $0) < (mine.contains($1) ? 0 : 1, $1) }
        }
        let originRested = originRestingUntil.map { now >= $0 } ?? true
        var askedOrigin = PieceSet(count: layout.count)
        var dealtInFlight = originOnly ? 0 : mine.members.reduce(0) { $0 + (inFlight[$1]?[.origin] != nil ? 1 : 0) }
        for piece in originWanted where originRested && originInFlight < configuration.originRequests
            && (inFlight[piece] == nil || (stalled && inFlight[piece]?[.origin] == nil)) {
            if !originOnly, mine.contains(piece) {
                let limit = dealtElsewhere.isEmpty ? configuration.aloneDealtOriginRequests : configuration.dealtOriginRequests
                if dealtInFlight >= limit { continue }
                dealtInFlight += 1
            }
            actions.append(ask(piece, of: .origin, now: now))
            askedOrigin.insert(piece)
        }

        // 2. Peers: the stream window first, then rarest first.
        if !originOnly, peerInFlight < configuration.maxPeerRequests {
            let prefix = have.prefixLength
            // Only the peers that can take a request now are looked at for each piece.
            var open: [Int] = []
            peers.withUnsafeBufferPointer { peers in
                for k in peers.indices where peers[k].isUsable(now: now, requestsPerPeer: configuration.requestsPerPeer) { open.append(k) }
            }
            if !open.isEmpty {
                // Pieces no open peer offers would find no peer below: left out at once.
                var offered = PieceSet(count: layout.count)
                peers.withUnsafeBufferPointer { peers in
                    for k in open where !offered.isFull { offered.formUnion(peers[k].have, except: peers[k].refused) }
                }
                var candidates: [(front: Bool, holders: Int32, piece: Int)] = []
                for piece in missing.subtracting(askedOrigin).intersection(hashKnown).intersection(offered).members {
                    let holders = availability[piece]
                    guard holders > 0 else { continue }
                    candidates.append((piece < prefix + configuration.streamWindow, holders, piece))
                }
                candidates.sort { ($0.front ? 0 : 1, $0.holders, $0.piece) < ($1.front ? 0 : 1, $1.holders, $1.piece) }
                for c in candidates {
                    guard peerInFlight < configuration.maxPeerRequests, !open.isEmpty else { break }
                    guard let k = bestPeer(for: c.piece, among: open, now: now) else { continue }
                    actions.append(ask(c.piece, of: .peer(peers[k].member), now: now))
                    if peers[k].inFlight >= configuration.requestsPerPeer { open.removeAll { $0 == k } }
                }
                // A probe: an open peer with nothing known to offer, asked for the most
                // common missing piece nobody is asked for.
                if probing.count < configuration.probes, peerInFlight < configuration.maxPeerRequests,
                   lastProbe.map({ now - $0 >= configuration.probeInterval }) ?? true {
                    let lacking = missing.subtracting(askedOrigin).intersection(hashKnown).subtracting(fetching)
                    if let piece = lacking.members.max(by: { (availability[$0], -$0) < (availability[$1], -$1) }),
                       let k = open.filter({ peers[$0].inFlight == 0 && !peers[$0].offers.intersects(lacking) })
                           .min(by: { (peers[$0].probedAt ?? .zero, peers[$0].rank) < (peers[$1].probedAt ?? .zero, peers[$1].rank) }) {
                        actions.append(ask(piece, of: .peer(peers[k].member), now: now))
                        peers[k].probedAt = now
                        probing.insert(piece)
                        lastProbe = now
                    }
                }
            }
        }

        // 3. Endgame: every missing piece is asked of someone; ask a second source.
        let remaining = layout.count - have.memberCount
        if remaining <= configuration.endgamePieces, PieceSet.full(count: layout.count).subtracting(have).subtracting(fetching).isEmpty {
            for (piece, asked) in inFlight.sorted(by: { $0.key < $1.key }) where asked.count == 1 {
                let already = Set(asked.keys)
                if !originOnly, hashKnown.contains(piece), let k = bestPeer(for: piece, among: Array(peers.indices), now: now, excluding: already, endgame: true) {
                    actions.append(ask(piece, of: .peer(peers[k].member), now: now))
                } else if !already.contains(.origin), originInFlight < configuration.originRequests,
                          let since = asked.values.first, now - since >= configuration.originFallbackAfter {
                    actions.append(ask(piece, of: .origin, now: now))
                }
            }
        }
        return actions
    }
}
