import OCI

/// What one agent knows as coordinator of some blobs: who holds which pieces, the piece
/// hashes, and which pieces are dealt to whom for the origin. A value with no I/O and no
/// clock of its own, so the agent's actor and the simulator run it unchanged.
///
/// All state is soft: agents re-announce periodically and on change, and what is not
/// re-announced within `holderTTL` is forgotten, so a coordinator that restarts, or a
/// blob that moves to another coordinator when membership changes, is rebuilt within
/// seconds. Memory is bounded: at most `maxBlobs` blobs, `maxHolders` holders per blob,
/// and per piece one hash and at most one deal.
///
/// Origin work: the first `originFetchers` agents that ask are dealt pieces nobody holds,
/// in index order and a few at a time (`originPiecesPerFetcher`). A fetcher that finishes
/// its pieces asks again and is dealt more, so the work follows the fetchers' speed and
/// every byte leaves the origin once; the rest of the swarm takes the pieces from them
/// and from each other as they arrive. A deal not fulfilled within `dealTimeout`, or held
/// by an agent that went silent, is dealt again to the next fetcher that asks; the agent
/// that left it loses its place for as long, so agents that announce but never deliver
/// (broken, or lying) cannot keep every place and starve the others of origin work.
public struct CoordinatorState: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var maxBlobs = 4096
        /// Holders remembered per blob: past it, the stalest makes room, so in a large
        /// rollout the ones remembered are the last to announce, a set that turns over
        /// within a second. More is not better as it stands: an asker knows a listed holder's
        /// pieces as of its listing, and with many remembered they are older.
        /// Why 128: docs/decisions/swarm-tuning.md#holders-per-blob.
        public var maxHolders = 128
        public var peersPerAnswer = 16
        /// Piece hashes in one answer, at most, the lowest wanted first (the rest come with
        /// the next answers). Unbounded, a request of 66 KB asking for every hash of a blob
        /// of 131,072 pieces drew an answer of 10 MB.
        public var hashesPerAnswer = 2048
        /// Agents announce at `SwarmCadence`'s pace while downloading and every few seconds
        /// while holding; an agent that stops (killed, partitioned) is forgotten after this.
        public var holderTTL: Duration = .seconds(8)
        public var originFetchers = 8
        public var originPiecesPerFetcher = 2
        /// ...and to a fetcher that is the blob's only one: it keeps two pieces in flight
        /// (`PieceScheduler.Configuration.aloneDealtOriginRequests`) and two more dealt, so
        /// that it never waits for a deal.
        public var originPiecesAlone = 4
        public var dealTimeout: Duration = .seconds(10)
        /// A holder another agent cannot reach, and that has not announced for this long,
        /// is dropped at once (its deals go back to the pool) instead of at its TTL.
        public var unreachableAfter: Duration = .seconds(1)
        /// Announcements a second from fetching agents the coordinator aims at. Past it,
        /// answers ask agents to announce less often (`CoordinatorAnswer.announceEvery`;
        /// they keep `SwarmCadence`'s pace when that is slower). At about 100 µs each,
        /// 7,000 a second is 70 % of a core; the held blobs' announcements (every 4 s) and
        /// `SwarmCadence.coordinatorQueue` take the rest. Lower is staler.
        /// Why 7,000: docs/decisions/swarm-tuning.md#the-announcement-pace.
        public var announcementRate = 7_000
        /// The longest interval asked for (well within the holder TTL).
        public var longestAnnounceEvery: Duration = .seconds(4)

        public init() {}
    }

    struct Holder: Sendable {
        var member: Member
        var have: PieceSet
        var fetching: PieceSet
        var lastSeen: SwarmInstant
    }

    struct Deal: Sendable {
        var node: String
        var at: SwarmInstant
    }

    struct Blob: Sendable {
        let layout: PieceLayout
        var hashes: [PieceHash?]
        var holders: [String: Holder] = [:]
        /// The union of the holders' pieces.
        var held: PieceSet
        /// Pieces dealt for the origin and not yet held by anyone.
        var deals: [Int: Deal] = [:]
        /// Agents that take origin work, in the order they first asked.
        var fetchers: [String] = []
        /// Agents that lost their fetcher place for leaving a deal unfulfilled, and since
        /// when: they are dealt nothing for `dealTimeout` (at most `originFetchers` kept).
        var benched: [String: SwarmInstant] = [:]
        /// Every piece below it was dealt or held at some point.
        var cursor = 0
        var version: UInt64 = 1
        /// Answers given: the order of the holders in each is drawn afresh from it.
        var answers: UInt64 = 0
        var lastTouched: SwarmInstant

        init(layout: PieceLayout, now: SwarmInstant) {
            self.layout = layout
            self.hashes = Array(repeating: nil, count: layout.count)
            self.held = PieceSet(count: layout.count)
            self.lastTouched = now
        }
    }

    public let configuration: Configuration
    private(set) var blobs: [Digest: Blob] = [:]
    /// Hash conflicts seen: two agents published different hashes for one piece
    /// (one of them got bad bytes from the origin; the blob digest check catches it).
    public private(set) var hashConflicts = 0
    /// The interval answers ask of fetching agents (`Configuration.announcementRate`).
    public private(set) var announceEvery: Duration = .zero
    /// Fetching agents' announcements counted since `paceSince`.
    private var paceCount = 0
    private var paceSince: SwarmInstant = .zero

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Blobs and holder records kept (for metrics and the memory bound).
    public var size: (blobs: Int, holders: Int) { (blobs.count, blobs.values.reduce(0) { $0 + $1.holders.count }) }

    /// The blob's version, or nil when the coordinator knows nothing of it.
    public func version(of blob: Digest) -> UInt64? { blobs[blob]?.version }

    /// Records an announcement and answers it.
    public mutating func announce(_ a: Announcement, now: SwarmInstant) -> CoordinatorAnswer {
        if blobs[a.blob] == nil {
            if blobs.count >= configuration.maxBlobs { evictLeastRecentBlob() }
            blobs[a.blob] = Blob(layout: a.layout, now: now)
        }
        if !a.have.isFull { pace(now: now) }
        var blob = blobs[a.blob]!
        blob.lastTouched = now
        let node = a.member.node
        var changed = false
        // A different cut of the blob is answered, not recorded: the agent adopts ours.
        if a.layout == blob.layout, a.have.count == blob.layout.count, a.fetching.count == blob.layout.count {
            changed = record(a, in: &blob, now: now)
        }
        expireHolders(in: &blob, now: now, changed: &changed)
        // A peer reported unreachable that is also silent has most likely died: waiting for
        // its TTL would stall its deals for seconds. A wrong report costs little: the holder
        // comes back with its next announcement.
        for other in a.unreachable.prefix(16) where other != node {
            if let h = blob.holders[other], now - h.lastSeen > configuration.unreachableAfter {
                removeHolder(other, from: &blob)
                changed = true
            }
        }
        var mine: [Int] = []
        if a.layout == blob.layout, a.wantsOriginWork, blob.holders[node] != nil {
            mine = deal(to: node, in: &blob, now: now, changed: &changed)
        }
        if changed { blob.version &+= 1 }
        blob.answers &+= 1
        let answer = CoordinatorAnswer(
            layout: blob.layout,
            peers: peers(for: a, in: blob),
            hashes: a.layout == blob.layout ? hashes(a.wantHashes, in: blob) : [:],
            originPieces: mine,
            dealt: PieceSet(count: blob.layout.count, blob.deals.keys),
            cursor: blob.cursor,
            hashesKnown: PieceSet(count: blob.layout.count, blob.hashes.indices.filter { blob.hashes[$0] != nil }),
            version: blob.version,
            announceEvery: announceEvery)
        blobs[a.blob] = blob
        return answer
    }

    /// Forgets holders not heard from within `holderTTL` and blobs nobody holds; call it
    /// now and then (each announcement also expires its own blob's holders).
    public mutating func expire(now: SwarmInstant) {
        for digest in Array(blobs.keys) {
            var blob = blobs[digest]!
            var changed = false
            expireHolders(in: &blob, now: now, changed: &changed)
            if blob.holders.isEmpty, now - blob.lastTouched > configuration.holderTTL {
                blobs[digest] = nil
                continue
            }
            if changed { blob.version &+= 1 }
            blobs[digest] = blob
        }
    }

    // MARK: Pace

    /// Counts fetching agents' announcements that were refused before they reached the
    /// coordinator (too many waiting): they are demand the pace must follow.
    public mutating func refused(_ count: Int = 1, now: SwarmInstant) {
        guard count > 0 else { return }
        pace(now: now, count: count)
    }

    /// Counts a fetching agent's announcement and, once a window (a second, or the interval
    /// asked if longer, so that agents have taken it up) has passed, sets the interval from
    /// the rate counted in it. Agents announcing at `announceEvery` made rate × interval
    /// announcements' worth of agents, so the interval for the target rate is
    /// `announceEvery × rate ÷ target`. While the interval is shorter than the agents' own
    /// pace the count does not follow it, so the factor applies to the shortest pace they
    /// keep on their own (`SwarmCadence.announceAfterPiece`).
    /// Refused announcements count too (`refused(_:now:)`): the count is the agents'
    /// demand, not the coordinator's capacity, so a swamped coordinator's interval jumps to
    /// about the right one in a window or two (docs/decisions/swarm-tuning.md#the-announcement-pace).
    /// Counting arrivals, not agents, keeps it right past `maxHolders`, which caps the
    /// holders a blob remembers, not the agents asking.
    private mutating func pace(now: SwarmInstant, count: Int = 1) {
        paceCount += count
        let window = now - paceSince
        guard window >= max(.seconds(1), announceEvery) else { return }
        let rate = Double(paceCount) / window.inSeconds
        let target = Double(max(1, configuration.announcementRate))
        if rate > target {
            announceEvery = min(max(announceEvery, SwarmCadence.announceAfterPiece) * (rate / target), configuration.longestAnnounceEvery)
        } else if rate < target / 2 {
            announceEvery = announceEvery * (rate / target)
            if announceEvery < .milliseconds(10) { announceEvery = .zero }
        }
        announceEvery = .milliseconds(Int64((announceEvery.inSeconds * 1000).rounded()))
        paceSince = now
        paceCount = 0
    }

    // MARK: Recording

    private mutating func record(_ a: Announcement, in blob: inout Blob, now: SwarmInstant) -> Bool {
        let node = a.member.node
        var changed = false
        for (index, hash) in a.hashes where index >= 0 && index < blob.hashes.count {
            if let known = blob.hashes[index] {
                if known != hash { hashConflicts += 1 }
            } else {
                blob.hashes[index] = hash
                changed = true
            }
        }
        if blob.holders[node] == nil, blob.holders.count >= configuration.maxHolders {
            // Full: the stalest holder without origin work makes room (it re-enters when it
            // announces again); a fetcher is never pushed out, or its deals would be lost.
            let dealing = Set(blob.deals.values.map(\.node)).union(blob.fetchers)
            guard let stalest = blob.holders.filter({ !dealing.contains($0.key) })
                .min(by: { ($0.value.lastSeen, $0.key) < ($1.value.lastSeen, $1.key) })?.key
            else { return changed }
            removeHolder(stalest, from: &blob)
        }
        let before = blob.holders[node]
        blob.holders[node] = Holder(member: a.member, have: a.have, fetching: a.fetching, lastSeen: now)
        if before?.have != a.have {
            changed = true
            let new = before.map { a.have.subtracting($0.have) } ?? a.have
            if let before, !before.have.isSubset(of: a.have) {
                // It lost pieces (a restart without its cache): held must be rebuilt.
                blob.held = blob.holders.values.reduce(PieceSet(count: blob.layout.count)) { $0.union($1.have) }
            } else {
                blob.held = blob.held.union(new)
            }
            for index in new.members { blob.deals[index] = nil }
            while blob.cursor < blob.layout.count, blob.held.contains(blob.cursor) { blob.cursor += 1 }
        }
        // A complete agent needs no origin work: its fetcher slot goes to another.
        if a.have.isFull, let i = blob.fetchers.firstIndex(of: node) {
            blob.fetchers.remove(at: i)
        }
        return changed
    }

    private func expireHolders(in blob: inout Blob, now: SwarmInstant, changed: inout Bool) {
        let stale = blob.holders.filter { now - $0.value.lastSeen > configuration.holderTTL }.map(\.key)
        for node in stale {
            removeHolder(node, from: &blob)
            changed = true
        }
    }

    private func removeHolder(_ node: String, from blob: inout Blob) {
        blob.holders[node] = nil
        blob.fetchers.removeAll { $0 == node }
        // Its deals go back to the pool; what only it held is needed again.
        for (index, deal) in blob.deals where deal.node == node { blob.deals[index] = nil }
        blob.held = blob.holders.values.reduce(PieceSet(count: blob.layout.count)) { $0.union($1.have) }
    }

    // MARK: Origin work

    /// Deals `node` pieces for the origin until it has `originPiecesPerFetcher`; returns
    /// everything dealt to it and still held by nobody.
    private func deal(to node: String, in blob: inout Blob, now: SwarmInstant, changed: inout Bool) -> [Int] {
        benchLateFetchers(in: &blob, now: now, changed: &changed)
        if !blob.fetchers.contains(node) {
            guard blob.fetchers.count < configuration.originFetchers, blob.benched[node] == nil,
                  !(blob.holders[node]?.have.isFull ?? false) else { return [] }
            blob.fetchers.append(node)
        }
        // Its own stale deals are renewed, not dealt to it twice.
        var mine = Set(blob.deals.filter { $0.value.node == node }.map(\.key))
        let quota = blob.fetchers == [node] ? configuration.originPiecesAlone : configuration.originPiecesPerFetcher
        while mine.count < quota,
              let index = nextPieceToDeal(in: blob, now: now, excluding: mine) {
            blob.deals[index] = Deal(node: node, at: now)
            if index >= blob.cursor { blob.cursor = index + 1 }
            mine.insert(index)
            changed = true
        }
        return mine.sorted()
    }

    /// Fetchers with a deal older than `dealTimeout` lose their place and their deals, and
    /// are benched for `dealTimeout`; the bench forgets those whose time is up.
    private func benchLateFetchers(in blob: inout Blob, now: SwarmInstant, changed: inout Bool) {
        blob.benched = blob.benched.filter { now - $0.value < configuration.dealTimeout }
        let late = Set(blob.deals.values.filter { now - $0.at > configuration.dealTimeout }.map(\.node))
        guard !late.isEmpty else { return }
        blob.fetchers.removeAll { late.contains($0) }
        for (index, deal) in blob.deals where late.contains(deal.node) { blob.deals[index] = nil }
        for node in late where blob.benched.count < configuration.originFetchers { blob.benched[node] = now }
        changed = true
    }

    /// The lowest piece nobody holds that is not dealt, or whose deal went stale.
    private func nextPieceToDeal(in blob: Blob, now: SwarmInstant, excluding: Set<Int>) -> Int? {
        let stale = blob.deals.filter { !excluding.contains($0.key) && (now - $0.value.at > configuration.dealTimeout || blob.holders[$0.value.node] == nil) }
            .map(\.key).min()
        // Pieces below the cursor that nobody holds and nobody was dealt: their only
        // holder left. Found by scanning the unheld pieces, a word at a time.
        var lost: Int?
        var from = 0
        while let i = blob.held.firstMissing(from: from), i < blob.cursor {
            if blob.deals[i] == nil { lost = i; break }
            from = i + 1
        }
        var next: Int?
        var c = blob.cursor
        while c < blob.layout.count {
            if !blob.held.contains(c) && blob.deals[c] == nil { next = c; break }
            c += 1
        }
        return [stale, lost, next].compactMap { $0 }.min()
    }

    // MARK: Answers

    /// Up to `peersPerAnswer` holders with pieces the asker lacks, in an order drawn afresh
    /// for each answer (rendezvous weights keyed on the asker and the blob's answer count),
    /// so different askers are sent to different holders, no one holder (say, the first
    /// complete one) serves everyone, and an asker meets new holders with every answer.
    /// First come, in that order, holders that add pieces the ones before them lack, so
    /// every piece someone holds is held by someone in the answer when the cap allows;
    /// the rest of the places go to the others in the same order. Why both passes and a
    /// fresh order: docs/decisions/swarm-tuning.md#which-holders-an-answer-lists.
    private func peers(for a: Announcement, in blob: Blob) -> [PeerView] {
        let askerHave = a.layout == blob.layout && a.have.count == blob.layout.count ? a.have : PieceSet(count: blob.layout.count)
        let seed = Rendezvous.fnv1a(a.member.node.utf8, Rendezvous.mix(blob.answers))
        var useful: [(weight: UInt64, holder: Holder)] = []
        for (node, holder) in blob.holders where node != a.member.node && !holder.have.isSubset(of: askerHave) {
            useful.append((Rendezvous.weight(seed: seed, node: node), holder))
        }
        func before(_ x: Int, _ y: Int) -> Bool {
            (useful[x].weight, useful[x].holder.member.node) > (useful[y].weight, useful[y].holder.member.node)
        }
        let cap = configuration.peersPerAnswer
        let order = useful.indices.sorted(by: before)
        guard useful.count > cap else { return order.map { PeerView(member: useful[$0].holder.member, have: useful[$0].holder.have) } }
        var chosen: [Int] = []
        var taken = [Bool](repeating: false, count: useful.count)
        var uncovered = blob.held.subtracting(askerHave)
        for k in order where chosen.count < cap && !uncovered.isEmpty && useful[k].holder.have.intersects(uncovered) {
            chosen.append(k)
            taken[k] = true
            uncovered = uncovered.subtracting(useful[k].holder.have)
        }
        for k in order where chosen.count < cap && !taken[k] { chosen.append(k) }
        return chosen.map { PeerView(member: useful[$0].holder.member, have: useful[$0].holder.have) }
    }

    private func hashes(_ wanted: PieceSet, in blob: Blob) -> [Int: PieceHash] {
        guard wanted.count == blob.layout.count else { return [:] }
        var out: [Int: PieceHash] = [:]
        for i in wanted.members where out.count < configuration.hashesPerAnswer { if let h = blob.hashes[i] { out[i] = h } }
        return out
    }

    private mutating func evictLeastRecentBlob() {
        if let oldest = blobs.min(by: { $0.value.lastTouched < $1.value.lastTouched })?.key { blobs[oldest] = nil }
    }
}
