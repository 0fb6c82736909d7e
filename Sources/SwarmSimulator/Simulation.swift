import Foundation
import HeapModule
import OCI
import Swarm

/// A rollout run against simulated links: every node's agent is the swarm's real
/// `PieceScheduler` per blob and the real `CoordinatorState`, driven exactly as the agent's
/// download loop drives them (`SwarmCadence`: ticks, announcements, the first coordinator's
/// budget and the fallback to the others), with peers answering as the agent's peer server
/// does (pieces they hold, "not held", "busy" past the upload slots). Only the bytes are
/// not real: transfers are flows on `FlowNetwork`'s links. Deterministic for a seed.
public struct Simulation: SteppedRollout {
    public let configuration: SimulationConfiguration

    struct RequestKey: Hashable {
        var piece: Int
        var source: PieceScheduler.Source
    }

    struct Download {
        var scheduler: PieceScheduler
        var coordinatorHashes: PieceSet
        /// The announcement waiting for an answer, if any.
        var announcing: Int?
        var lastAnnounce: SwarmInstant = .seconds(-1)
        var requests: [RequestKey: Int] = [:]
        var flows: [RequestKey: Int] = [:]
        var unreachable: Set<String> = []
        var done: SwarmInstant?
        var lastHeldAnnounce: SwarmInstant = .zero
        var hashesSent: SwarmInstant?
    }

    struct Node {
        var member: Member
        var alive = true
        var pulling = false
        var slow = false
        var corrupt = false
        var startedAt: SwarmInstant?
        var killAt: SwarmInstant?
        var downloads: [Download?]
        /// The agent's own upload-slot rule.
        var uploads: UploadSlots
        /// Per coordinator: its last answer (when, and the interval it asked for).
        var answeredLately: [Int: (at: SwarmInstant, every: Duration)] = [:]
        var coordinator: CoordinatorState
        var coordinatorBusyUntil: SwarmInstant = .zero
        var announcesHandled = 0
    }

    struct Attempt {
        var node: Int
        var blob: Int
        var announcement: Announcement
        var sentAt: SwarmInstant
        var first: Int
        /// The others were asked (the first did not answer within its share, or shed it).
        var widened = false
    }

    enum Event {
        case start(node: Int)
        case tick(node: Int)
        case kill(node: Int)
        case restart(node: Int)
        case announceArrives(coordinator: Int, attempt: Int)
        case answer(attempt: Int, coordinator: Int, CoordinatorAnswer)
        case announceDeadline(attempt: Int, final: Bool)
        /// A coordinator refused the announcement at once (`SwarmCadence.coordinatorQueue`
        /// waiting), sending its pace.
        case shed(attempt: Int, coordinator: Int, announceEvery: Duration)
        case request(node: Int, blob: Int, piece: Int, source: Int, id: Int)
        case failed(node: Int, blob: Int, piece: Int, source: PieceScheduler.Source, id: Int, PieceScheduler.Failure, gone: Bool, holds: PieceSet?)
        case pieceDone(node: Int, blob: Int, piece: Int, source: PieceScheduler.Source, id: Int, corrupt: Bool, holds: PieceSet?)
    }

    typealias Scheduled = TimedEvent<Event>

    struct FlowInfo {
        var node: Int
        var blob: Int
        var piece: Int
        var source: PieceScheduler.Source
        var id: Int
        /// What the sender said it held when it answered.
        var holds: PieceSet?
    }

    var nodes: [Node] = []
    let origin: Int
    var network: FlowNetwork
    var queue = Heap<Scheduled>()
    var seq = 0
    var now: SwarmInstant = .zero
    var rng: SplitMix64
    let layouts: [PieceLayout]
    let digests: [Digest]
    let hashes: [[PieceHash]]
    var attempts: [Int: Attempt] = [:]
    var nextID = 0
    var flowInfo: [Int: FlowInfo] = [:]
    var membership: SimulatedMembership
    let nodeIndex: [String: Int]
    var stats = SimulationReport.Counters()

    public init(_ configuration: SimulationConfiguration) {
        self.configuration = configuration
        rng = SplitMix64(seed: configuration.seed)
        let cluster = SimulatedCluster(configuration, rng: &rng)
        origin = cluster.origin
        network = cluster.network
        layouts = cluster.layouts
        digests = cluster.digests
        nodeIndex = cluster.nodeIndex
        membership = SimulatedMembership(cluster, coordinatorsPerBlob: configuration.coordinatorsPerBlob)
        hashes = layouts.indices.map { [layouts] b in
            (0..<layouts[b].count).map { p in PieceHash(hashing: Array("\(b)/\(p)".utf8)) }
        }
        for i in cluster.members.indices {
            var node = Node(member: cluster.members[i], downloads: Array(repeating: nil, count: layouts.count),
                            uploads: Self.slots(configuration),
                            coordinator: CoordinatorState(configuration: configuration.coordinator))
            node.slow = cluster.slow.contains(i)
            node.corrupt = cluster.corrupt.contains(i)
            node.killAt = cluster.kills[i]
            nodes.append(node)
            if let start = cluster.starts[i] { push(.start(node: i), at: start) }
            push(.tick(node: i), at: cluster.firstTicks[i])
            if let at = cluster.kills[i] { push(.kill(node: i), at: at) }
        }
    }

    static func slots(_ c: SimulationConfiguration) -> UploadSlots {
        UploadSlots(slots: c.uploadSlots, fixedShare: c.uploadsPerRequester)
    }

    mutating func push(_ event: Event, at: SwarmInstant) {
        seq += 1
        queue.insert(Scheduled(at: at, seq: seq, event: event))
    }

    // MARK: Running

    /// Runs until every node that is up holds the image, or the time limit.
    public mutating func run() -> SimulationReport {
        runSteps()
        return report()
    }

    mutating func handleNext(dueBy end: SwarmInstant) -> Bool {
        guard let top = queue.min, top.at <= end else { return false }
        _ = queue.removeMin()
        now = max(now, top.at)
        handle(top.event)
        return true
    }

    var allDone: Bool {
        nodes.indices.allSatisfy { i in
            let n = nodes[i]
            return !n.alive || i >= configuration.pullers ?? nodes.count || (n.pulling && n.downloads.allSatisfy { $0?.done != nil })
        }
            && nodes.allSatisfy { $0.killAt == nil || $0.alive || configuration.restartAfter == nil }
    }

    mutating func handle(_ event: Event) {
        switch event {
        case .start(let i): startPulling(i)
        case .tick(let i): tick(i)
        case .kill(let i): kill(i)
        case .restart(let i): restart(i)
        case .announceArrives(let c, let a): announceArrives(at: c, attempt: a)
        case .answer(let a, let c, let answer): answered(a, by: c, answer)
        case .announceDeadline(let a, let final): deadline(a, final: final)
        case .shed(let a, let c, let every): shed(a, by: c, announceEvery: every)
        case .request(let i, let b, let p, let j, let id): requestArrives(from: i, blob: b, piece: p, at: j, id: id)
        case .failed(let i, let b, let p, let source, let id, let failure, let gone, let holds):
            pieceFailed(i, blob: b, piece: p, source: source, id: id, failure, gone: gone, holds: holds)
        case .pieceDone(let i, let b, let p, let source, let id, let corrupt, let holds):
            pieceDone(i, blob: b, piece: p, source: source, id: id, corrupt: corrupt, holds: holds)
        }
    }

    // MARK: Nodes

    mutating func startPulling(_ i: Int) {
        guard nodes[i].alive, !nodes[i].pulling else { return }
        nodes[i].pulling = true
        if nodes[i].startedAt == nil { nodes[i].startedAt = now }
        for b in layouts.indices where nodes[i].downloads[b] == nil {
            begin(i, blob: b)
        }
    }

    mutating func begin(_ i: Int, blob b: Int) {
        let layout = layouts[b]
        nodes[i].downloads[b] = Download(scheduler: PieceScheduler(layout: layout, node: nodes[i].member.node, configuration: configuration.scheduler),
                                         coordinatorHashes: PieceSet(count: layout.count))
        announce(i, blob: b)
    }

    mutating func tick(_ i: Int) {
        push(.tick(node: i), at: now + SwarmCadence.tick)
        guard nodes[i].alive else { return }
        // (Downloads are changed in place: a copy would make the scheduler copy its tables.)
        for b in layouts.indices {
            guard nodes[i].downloads[b] != nil else { continue }
            if nodes[i].downloads[b]!.done != nil {
                if now - nodes[i].downloads[b]!.lastHeldAnnounce >= SwarmCadence.announceHeld { announceHeld(i, blob: b) }
                continue
            }
            perform(nodes[i].downloads[b]!.scheduler.tick(now: now), node: i, blob: b)
            if nodes[i].downloads[b]?.announcing == nil, let last = nodes[i].downloads[b]?.lastAnnounce,
               SwarmCadence.announceDue(since: now - last, newPiece: false,
                                        announceEvery: nodes[i].downloads[b]!.scheduler.announceEvery) { announce(i, blob: b) }
        }
    }

    mutating func kill(_ i: Int) {
        guard nodes[i].alive else { return }
        stats.killed += 1
        nodes[i].alive = false
        membership.killed(i, leavesAt: now + configuration.membershipDelay)
        // Its connections reset: uploads and downloads end at once.
        for id in network.outgoing[i] + network.incoming[i] {
            guard let info = flowInfo[id] else { continue }
            stopFlow(id)
            if info.node != i {
                push(.failed(node: info.node, blob: info.blob, piece: info.piece, source: info.source, id: info.id, .failed, gone: true, holds: nil),
                     at: now + configuration.latency)
            }
        }
        for b in layouts.indices {
            if nodes[i].downloads[b]?.done == nil { nodes[i].downloads[b] = nil }
        }
        nodes[i].coordinator = CoordinatorState(configuration: configuration.coordinator)
        nodes[i].uploads = Self.slots(configuration)
        nodes[i].answeredLately = [:]
        if let after = configuration.restartAfter { push(.restart(node: i), at: now + after) }
    }

    mutating func restart(_ i: Int) {
        nodes[i].alive = true
        membership.restarted(i)
        // Blobs it had completed are still in its cache; the rest start again.
        for b in layouts.indices {
            if nodes[i].downloads[b]?.done != nil { nodes[i].downloads[b]!.lastHeldAnnounce = .seconds(-100) }
        }
        if nodes[i].pulling {
            nodes[i].pulling = false
            startPulling(i)
        }
    }

    // MARK: Coordinators

    mutating func coordinators(of blob: Int) -> [Int] { membership.coordinators(of: blob, now: now) }

    func hashesTheCoordinatorLacks(_ d: Download, blob b: Int) -> [Int: PieceHash] {
        Announcement.hashesToPublish(have: d.scheduler.have, coordinatorKnows: d.coordinatorHashes) { hashes[b][$0] }
    }

    mutating func announce(_ i: Int, blob b: Int) {
        guard let d = nodes[i].downloads[b], d.announcing == nil else { return }
        let a = Announcement(blob: digests[b], layout: layouts[b], member: nodes[i].member, have: d.scheduler.have,
                             fetching: d.scheduler.fetching, hashes: hashesTheCoordinatorLacks(d, blob: b),
                             wantHashes: d.scheduler.wantHashes, wantsOriginWork: true, unreachable: Array(d.unreachable))
        let id = send(a, from: i, blob: b)
        nodes[i].downloads[b]!.unreachable = []
        nodes[i].downloads[b]!.lastAnnounce = now
        nodes[i].downloads[b]!.announcing = id
    }

    /// Sends an announcement as `SwarmAgent.announce` does; returns the attempt's id.
    @discardableResult
    mutating func send(_ a: Announcement, from i: Int, blob b: Int) -> Int {
        nextID += 1
        let id = nextID
        let cs = coordinators(of: b)
        guard let first = cs.first else { return id }
        let alive = nodes[i].answeredLately[first].map { SwarmCadence.alive(since: now - $0.at, announceEvery: $0.every) } ?? false
        attempts[id] = Attempt(node: i, blob: b, announcement: a, sentAt: now, first: first)
        push(.announceArrives(coordinator: first, attempt: id), at: now + (first == i ? .zero : configuration.latency))
        let budget = alive ? SwarmCadence.coordinatorTimeout : SwarmCadence.coordinatorTimeout * SwarmCadence.firstCoordinatorShare
        push(.announceDeadline(attempt: id, final: alive), at: now + budget)
        return id
    }

    mutating func announceArrives(at c: Int, attempt id: Int) {
        guard nodes[c].alive, let attempt = attempts[id] else { return }
        // As `PeerServer`: past the queue's bound, refused at once.
        if nodes[c].coordinatorBusyUntil - now > configuration.coordinatorService * SwarmCadence.coordinatorQueue {
            stats.shed += 1
            if !attempt.announcement.have.isFull { nodes[c].coordinator.refused(now: now) }
            push(.shed(attempt: id, coordinator: c, announceEvery: nodes[c].coordinator.announceEvery),
                 at: now + (c == attempt.node ? .zero : configuration.latency))
            return
        }
        let start = max(now, nodes[c].coordinatorBusyUntil)
        let done = start + configuration.coordinatorService
        nodes[c].coordinatorBusyUntil = done
        nodes[c].announcesHandled += 1
        if nodes[c].announcesHandled % 256 == 0 { nodes[c].coordinator.expire(now: start) }
        let answer = nodes[c].coordinator.announce(attempt.announcement, now: start)
        stats.coordinatorCall(c, at: now, wait: start - now, size: nodes[c].coordinator.size, layout: layouts[attempt.blob])
        push(.answer(attempt: id, coordinator: c, answer), at: done + (c == attempt.node ? .zero : configuration.latency))
    }

    mutating func answered(_ id: Int, by c: Int, _ answer: CoordinatorAnswer) {
        // After the others were asked, the first one's late answer is not waited for.
        guard let attempt = attempts[id], !(attempt.widened && c == attempt.first) else { return }
        attempts[id] = nil
        let i = attempt.node
        guard nodes[i].alive else { return }
        if !attempt.widened { nodes[i].answeredLately[c] = (now, answer.announceEvery) }
        deliver(answer, to: i, blob: attempt.blob, attempt: id)
    }

    mutating func deadline(_ id: Int, final: Bool) {
        guard let attempt = attempts[id] else { return }
        if final {
            attempts[id] = nil
            stats.coordinatorUnreachable += 1
            deliver(nil, to: attempt.node, blob: attempt.blob, attempt: id)
            return
        }
        if !attempt.widened { widen(id) }
    }

    /// As `SwarmAgent.reply(to:)` when a coordinator refuses, busy: the first one's refusal
    /// ends the attempt (it is alive; the download keeps its last answer and announces
    /// again at its pace); one of the others' is one answer fewer to wait for.
    mutating func shed(_ id: Int, by c: Int, announceEvery: Duration) {
        guard let attempt = attempts[id], c == attempt.first, !attempt.widened else { return }
        attempts[id] = nil
        let (i, b) = (attempt.node, attempt.blob)
        guard nodes[i].alive, nodes[i].downloads[b]?.announcing == id else { return }
        nodes[i].downloads[b]!.announcing = nil
        perform(nodes[i].downloads[b]!.scheduler.coordinatorBusy(announceEvery: announceEvery, now: now), node: i, blob: b)
        guard nodes[i].downloads[b] != nil else { return }
        nodes[i].downloads[b]!.lastAnnounce = now + SwarmCadence.delayAfterRefusal(
            announceEvery: nodes[i].downloads[b]!.scheduler.announceEvery, random: .random(in: 0..<1, using: &rng))
    }

    /// The first coordinator did not answer: the others are asked, until the whole budget.
    mutating func widen(_ id: Int) {
        guard var attempt = attempts[id] else { return }
        attempt.widened = true
        attempts[id] = attempt
        let cs = coordinators(of: attempt.blob)
        for c in cs.dropFirst() {
            push(.announceArrives(coordinator: c, attempt: id), at: now + (c == attempt.node ? .zero : configuration.latency))
        }
        push(.announceDeadline(attempt: id, final: true),
             at: attempt.sentAt + SwarmCadence.coordinatorTimeout)
    }

    mutating func deliver(_ answer: CoordinatorAnswer?, to i: Int, blob b: Int, attempt id: Int) {
        guard nodes[i].downloads[b]?.announcing == id else { return }
        nodes[i].downloads[b]!.announcing = nil
        let actions: [PieceScheduler.Action]
        if let answer, answer.layout == layouts[b] {
            nodes[i].downloads[b]!.coordinatorHashes = answer.hashesKnown
            actions = nodes[i].downloads[b]!.scheduler.coordinatorAnswered(answer, hashes: Array(answer.hashes.keys), now: now)
        } else {
            actions = nodes[i].downloads[b]!.scheduler.coordinatorsUnreachable(now: now)
        }
        perform(actions, node: i, blob: b)
    }

    mutating func announceHeld(_ i: Int, blob b: Int) {
        guard let d = nodes[i].downloads[b] else { return }
        let sendHashes = d.hashesSent.map { now - $0 > .seconds(60) } ?? true
        var all: [Int: PieceHash] = [:]
        if sendHashes { for (p, h) in hashes[b].enumerated() { all[p] = h } }
        let a = Announcement(blob: digests[b], layout: layouts[b], member: nodes[i].member, have: .full(count: layouts[b].count),
                             hashes: all, wantsOriginWork: false)
        nodes[i].downloads[b]!.lastHeldAnnounce = now
        if sendHashes { nodes[i].downloads[b]!.hashesSent = now }
        send(a, from: i, blob: b)
    }

    // MARK: Pieces

    mutating func perform(_ actions: [PieceScheduler.Action], node i: Int, blob b: Int) {
        for action in actions {
            switch action {
            case .cancel(let piece, let source):
                let key = RequestKey(piece: piece, source: source)
                nodes[i].downloads[b]?.requests[key] = nil
                if let flow = nodes[i].downloads[b]?.flows.removeValue(forKey: key) { stopFlow(flow) }
            case .fetch(let piece, let source):
                nextID += 1
                let id = nextID
                nodes[i].downloads[b]?.requests[RequestKey(piece: piece, source: source)] = id
                switch source {
                case .origin:
                    if let scheduler = nodes[i].downloads[b]?.scheduler {
                        if scheduler.originOnly { stats.originAlone += 1 }
                        else if scheduler.mine.contains(piece) { stats.originDealt += 1 }
                        else {
                            stats.originFallback += 1
                            if scheduler.sources(of: piece).count > 1 { stats.originEndgame += 1 }
                        }
                    }
                    push(.request(node: i, blob: b, piece: piece, source: origin, id: id), at: now + configuration.latency)
                case .peer(let m):
                    push(.request(node: i, blob: b, piece: piece, source: nodeIndex[m.node]!, id: id), at: now + configuration.latency)
                }
            }
        }
    }

    func current(_ i: Int, blob b: Int, piece: Int, source: PieceScheduler.Source, id: Int) -> Bool {
        nodes[i].alive && nodes[i].downloads[b]?.requests[RequestKey(piece: piece, source: source)] == id
    }

    mutating func requestArrives(from i: Int, blob b: Int, piece: Int, at j: Int, id: Int) {
        let source: PieceScheduler.Source = j == origin ? .origin : .peer(nodes[j].member)
        guard current(i, blob: b, piece: piece, source: source, id: id) else { return }
        let back = now + configuration.latency
        if j != origin {
            guard nodes[j].alive else {
                push(.failed(node: i, blob: b, piece: piece, source: source, id: id, .failed, gone: true, holds: nil), at: back)
                return
            }
            let has = nodes[j].downloads[b].map { $0.done != nil ? PieceSet.full(count: layouts[b].count) : $0.scheduler.have }
            // As the peer server: its answer says what it holds (when peers tell).
            let told = configuration.peersTellHoldings ? has ?? PieceSet(count: layouts[b].count) : nil
            guard has?.contains(piece) ?? false else {
                push(.failed(node: i, blob: b, piece: piece, source: source, id: id, .refused, gone: false, holds: told), at: back)
                return
            }
            guard nodes[j].uploads.take(for: nodes[i].member.node, now: now) else {
                stats.busy += 1
                push(.failed(node: i, blob: b, piece: piece, source: source, id: id, .busy, gone: false, holds: told), at: back)
                return
            }
            let flow = network.start(from: j, to: i, bytes: Double(layouts[b].length(of: piece)))
            flowInfo[flow] = FlowInfo(node: i, blob: b, piece: piece, source: source, id: id, holds: told)
            nodes[i].downloads[b]!.flows[RequestKey(piece: piece, source: source)] = flow
            return
        }
        let flow = network.start(from: j, to: i, bytes: Double(layouts[b].length(of: piece)))
        flowInfo[flow] = FlowInfo(node: i, blob: b, piece: piece, source: source, id: id)
        nodes[i].downloads[b]!.flows[RequestKey(piece: piece, source: source)] = flow
    }

    /// Ends a flow: its sender's upload slot is free again, its request has no flow.
    mutating func stopFlow(_ flow: Int) {
        guard let info = flowInfo.removeValue(forKey: flow) else { return }
        let sender = network.flow(flow)!.sender
        network.stop(flow)
        if sender != origin { nodes[sender].uploads.release(for: nodes[info.node].member.node) }
        let key = RequestKey(piece: info.piece, source: info.source)
        if nodes[info.node].downloads[info.blob]?.flows[key] == flow { nodes[info.node].downloads[info.blob]?.flows[key] = nil }
    }

    mutating func finishFlow(_ flow: Int, at: SwarmInstant) {
        guard let info = flowInfo[flow] else { return }
        let sender = network.flow(flow)!.sender
        stopFlow(flow)
        let corrupt = sender != origin && nodes[sender].corrupt
        push(.pieceDone(node: info.node, blob: info.blob, piece: info.piece, source: info.source, id: info.id, corrupt: corrupt, holds: info.holds),
             at: at + configuration.latency)
    }

    mutating func pieceFailed(_ i: Int, blob b: Int, piece: Int, source: PieceScheduler.Source, id: Int,
                              _ failure: PieceScheduler.Failure, gone: Bool, holds: PieceSet?) {
        guard current(i, blob: b, piece: piece, source: source, id: id) else { return }
        let key = RequestKey(piece: piece, source: source)
        nodes[i].downloads[b]!.requests[key] = nil
        if let flow = nodes[i].downloads[b]!.flows[key] { stopFlow(flow) }
        if gone, case .peer(let m) = source { nodes[i].downloads[b]!.unreachable.insert(m.node) }
        perform(nodes[i].downloads[b]!.scheduler.pieceFailed(piece, from: source, failure, holds: holds, now: now), node: i, blob: b)
    }

    mutating func pieceDone(_ i: Int, blob b: Int, piece: Int, source: PieceScheduler.Source, id: Int, corrupt: Bool, holds: PieceSet?) {
        guard current(i, blob: b, piece: piece, source: source, id: id) else { return }
        nodes[i].downloads[b]!.requests[RequestKey(piece: piece, source: source)] = nil
        if nodes[i].downloads[b]!.scheduler.have.contains(piece) { return }
        if corrupt {
            stats.corruptPieces += 1
            perform(nodes[i].downloads[b]!.scheduler.pieceFailed(piece, from: source, .corrupt, now: now), node: i, blob: b)
            return
        }
        perform(nodes[i].downloads[b]!.scheduler.pieceArrived(piece, from: source, holds: holds, now: now), node: i, blob: b)
        if nodes[i].downloads[b]!.scheduler.isComplete {
            nodes[i].downloads[b]!.done = now
            // As the agent: tell the coordinator at once, then keep announcing it as held.
            let a = Announcement(blob: digests[b], layout: layouts[b], member: nodes[i].member, have: .full(count: layouts[b].count),
                                 hashes: hashesTheCoordinatorLacks(nodes[i].downloads[b]!, blob: b), wantsOriginWork: false)
            send(a, from: i, blob: b)
            nodes[i].downloads[b]!.lastHeldAnnounce = now
            return
        }
        if nodes[i].downloads[b]!.announcing == nil,
           SwarmCadence.announceDue(since: now - nodes[i].downloads[b]!.lastAnnounce, newPiece: true,
                                    announceEvery: nodes[i].downloads[b]!.scheduler.announceEvery,
                                    wantsDeals: source == .origin && nodes[i].downloads[b]!.scheduler.wantsDeals) {
            announce(i, blob: b)
        }
    }

    // MARK: Report

    func report() -> SimulationReport {
        let times = nodeResults(nodes.map { n in
            (n.downloads.map { $0?.done }, n.pulling, n.startedAt, n.slow, n.killAt != nil, n.corrupt)
        })
        return SimulationReport(configuration: configuration, nodes: times, originBytes: network.sent[origin],
                                peerBytes: network.sent.prefix(origin).reduce(0, +), counters: stats, simulated: now.inSeconds)
    }
}
