import Foundation
import HeapModule
import OCI
import Swarm

/// A rollout in the mesh protocol against simulated links: every node runs the swarm's
/// `MeshDownload` per blob and one `UploadGrants`, every blob's coordinator (the first by
/// `Rendezvous`) a `MeshCoordinator`, and the simulator only carries their messages (one
/// link latency each) and their pieces (flows on `FlowNetwork`). Sessions are symmetric:
/// a node dials the neighbours it is handed, the other accepts up to
/// `inboundFactor` × neighbours per blob, and both exchange bitfields, then a HAVE per
/// verified piece. Deterministic for a seed.
public struct MeshSimulation: SteppedRollout {
    public let configuration: SimulationConfiguration
    typealias Download = MeshDownload<Int>

    struct Interest: Hashable, Sendable {
        var node: Int
        var blob: Int
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
        var done: [SwarmInstant?]
        /// Per blob, the nodes it has a session with.
        var links: [Set<Int>]
        var lastKeepAlive: [SwarmInstant]
        var grants: UploadGrants<Interest>
        var coordinator: MeshCoordinator<Int>
        var coordinatorBusyUntil: SwarmInstant = .zero
        var lastExpire: SwarmInstant = .zero
        /// Bumped when the agent restarts: messages to its old sessions are dropped.
        var epoch = 0
    }

    enum CoordinatorMessage {
        case announce(complete: Bool, neighbours: Int)
        case dealtDone(piece: Int)
        case orphaned(piece: Int)
    }

    enum Event {
        case start(node: Int)
        case tick(node: Int)
        case kill(node: Int)
        case restart(node: Int)
        case toCoordinator(node: Int, blob: Int, CoordinatorMessage, epoch: Int)
        case answer(node: Int, blob: Int, MeshCoordinator<Int>.Answer, epoch: Int)
        case unanswered(node: Int, blob: Int, CoordinatorMessage, epoch: Int)
        case connect(from: Int, to: Int, blob: Int, epoch: Int)
        case accepted(at: Int, by: Int, blob: Int, holds: PieceSet, epoch: Int)
        case lost(at: Int, peer: Int, blob: Int)
        case have(at: Int, from: Int, blob: Int, piece: Int)
        case interested(at: Int, from: Int, blob: Int, Bool)
        case grant(at: Int, from: Int, blob: Int)
        case decline(at: Int, from: Int, blob: Int)
        case request(at: Int, from: Int, blob: Int, piece: Int, id: Int)
        case cancel(at: Int, from: Int, blob: Int, piece: Int)
        case pieceDone(node: Int, blob: Int, piece: Int, source: Int, id: Int, Outcome)
    }

    enum Outcome {
        case verified
        case corrupt
        /// The sender refused (no grant, or no longer holds the piece).
        case refused
    }

    typealias Scheduled = TimedEvent<Event>

    /// A piece asked of a source (the origin's index, or a node's).
    struct RequestKey: Hashable {
        var node: Int
        var blob: Int
        var piece: Int
        var source: Int
    }

    var nodes: [Node] = []
    let origin: Int
    var network: FlowNetwork
    /// Messages that take one link latency arrive in the order sent: a queue, not the heap.
    var fifo: [Scheduled] = []
    var fifoHead = 0
    var queue = Heap<Scheduled>()
    var seq = 0
    var now: SwarmInstant = .zero
    var rng: SplitMix64
    let layouts: [PieceLayout]
    let digests: [Digest]
    var nextID = 0
    var requests: [RequestKey: Int] = [:]
    var flows: [RequestKey: Int] = [:]
    var flowKey: [Int: RequestKey] = [:]
    var membership: SimulatedMembership
    var stats = SimulationReport.Counters()
    /// The real coordinator calls' wall time, to report their cost per message.
    var coordinatorNanos: Int64 = 0
    var coordinatorCalls = 0
    var haves = 0

    public init(_ configuration: SimulationConfiguration) {
        self.configuration = configuration
        rng = SplitMix64(seed: configuration.seed)
        let cluster = SimulatedCluster(configuration, rng: &rng)
        origin = cluster.origin
        network = cluster.network
        layouts = cluster.layouts
        digests = cluster.digests
        membership = SimulatedMembership(cluster, coordinatorsPerBlob: 1)
        let blobs = layouts.count
        for i in cluster.members.indices {
            var node = Node(member: cluster.members[i],
                            downloads: Array(repeating: nil, count: blobs), done: Array(repeating: nil, count: blobs),
                            links: Array(repeating: [], count: blobs), lastKeepAlive: Array(repeating: .zero, count: blobs),
                            grants: UploadGrants(slots: configuration.mesh.uploads),
                            coordinator: MeshCoordinator(configuration: configuration.mesh.coordinator))
            node.slow = cluster.slow.contains(i)
            node.corrupt = cluster.corrupt.contains(i)
            node.killAt = cluster.kills[i]
            nodes.append(node)
            if let start = cluster.starts[i] { push(.start(node: i), at: start) }
            push(.tick(node: i), at: cluster.firstTicks[i])
            if let at = cluster.kills[i] { push(.kill(node: i), at: at) }
        }
    }

    var latency: Duration { configuration.latency }
    var cadence: MeshCadence { configuration.mesh.cadence }
    var neighbours: Int { configuration.mesh.download.neighbours }

    mutating func push(_ event: Event, at: SwarmInstant) {
        seq += 1
        queue.insert(Scheduled(at: at, seq: seq, event: event))
    }

    /// A message over one link: it arrives one latency from now, after those sent before it.
    mutating func send(_ event: Event) {
        seq += 1
        fifo.append(Scheduled(at: now + latency, seq: seq, event: event))
    }

    mutating func nextEvent(before end: SwarmInstant) -> Scheduled? {
        let f = fifoHead < fifo.count ? fifo[fifoHead] : nil
        let h = queue.min
        let pickFifo: Bool
        switch (f, h) {
        case (nil, nil): return nil
        case (.some, nil): pickFifo = true
        case (nil, .some): pickFifo = false
        case (.some(let a), .some(let b)): pickFifo = a < b
        }
        if pickFifo {
            guard f!.at <= end else { return nil }
            fifoHead += 1
            if fifoHead > 4096, fifoHead * 2 > fifo.count { fifo.removeFirst(fifoHead); fifoHead = 0 }
            return f
        }
        guard h!.at <= end else { return nil }
        return queue.removeMin()
    }

    // MARK: Running

    public mutating func run() -> SimulationReport {
        runSteps()
        return report()
    }

    mutating func handleNext(dueBy end: SwarmInstant) -> Bool {
        guard let top = nextEvent(before: end) else { return false }
        now = max(now, top.at)
        handle(top.event)
        return true
    }

    var allDone: Bool {
        nodes.indices.allSatisfy { i in
            let n = nodes[i]
            return !n.alive || i >= configuration.pullers ?? nodes.count || (n.pulling && n.done.allSatisfy { $0 != nil })
        } && nodes.allSatisfy { $0.killAt == nil || $0.alive || configuration.restartAfter == nil }
    }

    mutating func handle(_ event: Event) {
        switch event {
        case .start(let i): startPulling(i)
        case .tick(let i): tick(i)
        case .kill(let i): kill(i)
        case .restart(let i): restart(i)
        case .toCoordinator(let i, let b, let m, let e): coordinatorReceives(m, from: i, blob: b, epoch: e)
        case .answer(let i, let b, let answer, let e): answered(answer, node: i, blob: b, epoch: e)
        case .unanswered(let i, let b, let m, let e):
            if nodes[i].alive, nodes[i].epoch == e { toCoordinator(m, from: i, blob: b) }
        case .connect(let i, let j, let b, let e): connect(from: i, to: j, blob: b, epoch: e)
        case .accepted(let i, let j, let b, let holds, let e): accepted(at: i, by: j, blob: b, holds: holds, epoch: e)
        case .lost(let i, let j, let b): lost(at: i, peer: j, blob: b)
        case .have(let j, let i, let b, let p):
            guard nodes[j].alive, nodes[j].links[b].contains(i) else { return }
            perform(nodes[j].downloads[b]!.have(p, from: i), node: j, blob: b)
        case .interested(let j, let i, let b, let yes):
            guard nodes[j].alive, nodes[j].links[b].contains(i) else { return }
            let key = Interest(node: i, blob: b)
            grant(yes ? nodes[j].grants.interested(key) : nodes[j].grants.notInterested(key), from: j)
        case .grant(let i, let j, let b):
            guard nodes[i].alive, nodes[i].links[b].contains(j) else { return }
            var elsewhere = 0
            for other in layouts.indices where other != b { elsewhere += nodes[i].downloads[other]?.fromPeers ?? 0 }
            perform(nodes[i].downloads[b]!.granted(by: j, arrivingElsewhere: elsewhere, now: now), node: i, blob: b)
        case .decline(let j, let i, let b):
            guard nodes[j].alive, nodes[j].links[b].contains(i) else { return }
            grant(nodes[j].grants.declined(by: Interest(node: i, blob: b)), from: j)
        case .request(let j, let i, let b, let p, let id): requestArrives(at: j, from: i, blob: b, piece: p, id: id)
        case .cancel(let j, let i, let b, let p):
            let key = RequestKey(node: i, blob: b, piece: p, source: j)
            if let flow = flows[key] { stopFlow(flow) }
        case .pieceDone(let i, let b, let p, let source, let id, let outcome): pieceDone(i, blob: b, piece: p, source: source, id: id, outcome)
        }
    }

    // MARK: Nodes

    mutating func startPulling(_ i: Int) {
        guard nodes[i].alive, !nodes[i].pulling else { return }
        nodes[i].pulling = true
        if nodes[i].startedAt == nil { nodes[i].startedAt = now }
        for b in layouts.indices where nodes[i].downloads[b] == nil {
            nodes[i].downloads[b] = Download(layout: layouts[b], configuration: configuration.mesh.download,
                                             salt: Int(rng.next() % 1_000_003), now: now)
            nodes[i].lastKeepAlive[b] = now
            toCoordinator(.announce(complete: false, neighbours: neighbours), from: i, blob: b)
        }
    }

    mutating func tick(_ i: Int) {
        push(.tick(node: i), at: now + cadence.tick)
        guard nodes[i].alive else { return }
        if now - nodes[i].lastExpire >= .seconds(1), nodes[i].coordinator.blobCount > 0 {
            nodes[i].lastExpire = now
            let at = now
            timedCoordinatorCall(i) { coordinator, _ in coordinator.expire(now: at) }
        }
        for b in layouts.indices where nodes[i].downloads[b] != nil {
            let held = nodes[i].done[b] != nil
            if now - nodes[i].lastKeepAlive[b] >= (held ? cadence.keepAliveHeld : cadence.keepAlive) {
                nodes[i].lastKeepAlive[b] = now
                toCoordinator(.announce(complete: held, neighbours: 0), from: i, blob: b)
            }
            if !held { perform(nodes[i].downloads[b]!.tick(now: now), node: i, blob: b) }
        }
    }

    mutating func kill(_ i: Int) {
        guard nodes[i].alive else { return }
        stats.killed += 1
        nodes[i].alive = false
        nodes[i].epoch += 1
        membership.killed(i, leavesAt: now + configuration.membershipDelay)
        // Its connections reset: every session and every transfer ends at once.
        for id in network.outgoing[i] + network.incoming[i] { stopFlow(id) }
        for b in layouts.indices {
            for j in nodes[i].links[b].sorted() { push(.lost(at: j, peer: i, blob: b), at: now + latency) }
            nodes[i].links[b] = []
            if nodes[i].done[b] == nil { nodes[i].downloads[b] = nil }
        }
        for key in requests.keys where key.node == i { requests[key] = nil }
        nodes[i].coordinator = MeshCoordinator(configuration: configuration.mesh.coordinator)
        nodes[i].grants = UploadGrants(slots: configuration.mesh.uploads)
        if let after = configuration.restartAfter { push(.restart(node: i), at: now + after) }
    }

    mutating func restart(_ i: Int) {
        nodes[i].alive = true
        membership.restarted(i)
        // Blobs it had completed are still in its cache: it tells their coordinators.
        for b in layouts.indices where nodes[i].done[b] != nil {
            nodes[i].downloads[b] = Download(layout: layouts[b], configuration: configuration.mesh.download, now: now)
            for p in 0..<layouts[b].count { _ = nodes[i].downloads[b]!.pieceVerified(p, from: .origin, now: now) }
            nodes[i].lastKeepAlive[b] = now
            toCoordinator(.announce(complete: true, neighbours: 0), from: i, blob: b)
        }
        if nodes[i].pulling {
            nodes[i].pulling = false
            startPulling(i)
        }
    }

    mutating func lost(at i: Int, peer j: Int, blob b: Int) {
        guard nodes[i].alive, nodes[i].links[b].contains(j) else { return }
        closeSession(i, with: j, blob: b)
        perform(nodes[i].downloads[b]!.neighbourLost(j, now: now), node: i, blob: b)
        roomAvailable(at: i, except: b)
    }

    /// Node i's end of its session with j for a blob: transfers both ways stop, j's interest
    /// and grants at i end, and what i asked of j is forgotten.
    mutating func closeSession(_ i: Int, with j: Int, blob b: Int) {
        nodes[i].links[b].remove(j)
        let ending = flows.filter { key, _ in key.blob == b && ((key.node == i && key.source == j) || (key.node == j && key.source == i)) }
        for flow in ending.values.sorted() { stopFlow(flow) }
        for key in requests.keys where key.node == i && key.blob == b && key.source == j { requests[key] = nil }
        grant(nodes[i].grants.notInterested(Interest(node: j, blob: b)), from: i)
    }

    // MARK: Coordinators

    mutating func coordinator(of blob: Int) -> Int { membership.coordinators(of: blob, now: now)[0] }

    mutating func toCoordinator(_ m: CoordinatorMessage, from i: Int, blob b: Int) {
        let c = coordinator(of: b)
        let event = Event.toCoordinator(node: i, blob: b, m, epoch: nodes[i].epoch)
        if c == i { push(event, at: now) } else { push(event, at: now + latency) }
        // The coordinator is asked of `c`; if it is down, the message is sent again (to the
        // blob's coordinator then) when the answer is overdue.
        if !nodes[c].alive { push(.unanswered(node: i, blob: b, m, epoch: nodes[i].epoch), at: now + cadence.coordinatorTimeout) }
    }

    mutating func coordinatorReceives(_ m: CoordinatorMessage, from i: Int, blob b: Int, epoch: Int) {
        let c = coordinator(of: b)
        guard nodes[c].alive, nodes[i].epoch == epoch else { return }
        let start = max(now, nodes[c].coordinatorBusyUntil)
        let done = start + configuration.mesh.coordinatorService
        nodes[c].coordinatorBusyUntil = done
        let members = nodes[c].coordinator.memberCount(of: digests[b])
        // About what a mesh coordinator keeps: per member its record and list slot (~80 B),
        // per blob its released set and deals.
        let memory = members * 80 + nodes[c].coordinator.blobCount * (layouts[b].count / 8 + 24 * 16 + 512)
        stats.coordinatorCall(c, at: now, wait: start - now, size: (nodes[c].coordinator.blobCount, members),
                              layout: layouts[b], memory: memory)
        var answer: MeshCoordinator<Int>.Answer?
        var redealt = 0
        let digest = digests[b], layout = layouts[b]
        timedCoordinatorCall(c) { coordinator, rng in
            switch m {
            case .announce(let complete, let wanted):
                answer = coordinator.announce(digest, layout: layout, from: i, complete: complete, neighbours: wanted, now: start, using: &rng)
            case .orphaned(let piece):
                answer = coordinator.orphaned(digest, piece: piece, from: i, now: start)
                redealt = answer?.dealt.count ?? 0
            case .dealtDone(let piece):
                answer = coordinator.dealtDone(digest, piece: piece, from: i, now: start)
                if answer == nil {
                    // A coordinator that started since: the announcement comes first.
                    answer = coordinator.announce(digest, layout: layout, from: i, complete: false, neighbours: 0, now: start, using: &rng)
                    answer = coordinator.dealtDone(digest, piece: piece, from: i, now: start)
                }
            }
        }
        stats.originFallback += redealt
        guard let answer else { return }
        push(.answer(node: i, blob: b, answer, epoch: epoch), at: done + (c == i ? .zero : latency))
    }

    /// Runs a real coordinator call on node `c`'s state, timing it.
    mutating func timedCoordinatorCall(_ c: Int, _ body: (inout MeshCoordinator<Int>, inout SplitMix64) -> Void) {
        var coordinator = MeshCoordinator<Int>(configuration: configuration.mesh.coordinator)
        swap(&coordinator, &nodes[c].coordinator)
        var random = rng
        let began = DispatchTime.now().uptimeNanoseconds
        body(&coordinator, &random)
        coordinatorNanos += Int64(DispatchTime.now().uptimeNanoseconds - began)
        coordinatorCalls += 1
        rng = random
        swap(&coordinator, &nodes[c].coordinator)
    }

    mutating func answered(_ answer: MeshCoordinator<Int>.Answer, node i: Int, blob b: Int, epoch: Int) {
        guard nodes[i].alive, nodes[i].epoch == epoch, nodes[i].downloads[b] != nil else { return }
        for j in answer.neighbours where j != i && !nodes[i].links[b].contains(j) {
            send(.connect(from: i, to: j, blob: b, epoch: nodes[i].epoch))
        }
        guard nodes[i].done[b] == nil else { return }
        stats.originDealt += answer.dealt.count
        perform(nodes[i].downloads[b]!.coordinatorAnswered(dealt: answer.dealt, released: answer.released, now: now), node: i, blob: b)
    }

    // MARK: Sessions

    mutating func connect(from i: Int, to j: Int, blob b: Int, epoch: Int) {
        guard nodes[i].epoch == epoch, nodes[i].alive else { return }
        guard nodes[j].alive, nodes[j].downloads[b] != nil,
              nodes[j].links[b].count < neighbours * cadence.inboundFactor else {
            return
        }
        guard nodes[j].links[b].insert(i).inserted else { return }
        perform(nodes[j].downloads[b]!.neighbourAdded(i, holds: holdsOf(i, blob: b)), node: j, blob: b)
        send(.accepted(at: i, by: j, blob: b, holds: holdsOf(j, blob: b), epoch: epoch))
    }

    func holdsOf(_ i: Int, blob b: Int) -> PieceSet {
        nodes[i].downloads[b]?.have ?? PieceSet(count: layouts[b].count)
    }

    mutating func accepted(at i: Int, by j: Int, blob b: Int, holds: PieceSet, epoch: Int) {
        guard nodes[i].alive, nodes[i].epoch == epoch, nodes[i].downloads[b] != nil else { return }
        guard nodes[j].alive, nodes[j].links[b].contains(i) else { return }
        guard nodes[i].links[b].insert(j).inserted else { return }
        // HAVEs j sent before this answer arrived are in `holds` or follow it.
        perform(nodes[i].downloads[b]!.neighbourAdded(j, holds: holds), node: i, blob: b)
    }

    // MARK: Actions

    mutating func grant(_ to: [Interest], from j: Int) {
        for r in to { send(.grant(at: r.node, from: j, blob: r.blob)) }
    }

    mutating func perform(_ actions: [Download.Action], node i: Int, blob b: Int) {
        for action in actions {
            switch action {
            case .request(let p, let j):
                nextID += 1
                requests[RequestKey(node: i, blob: b, piece: p, source: j)] = nextID
                send(.request(at: j, from: i, blob: b, piece: p, id: nextID))
            case .fetchOrigin(let p):
                nextID += 1
                let key = RequestKey(node: i, blob: b, piece: p, source: origin)
                requests[key] = nextID
                // (The request's one latency is not modelled: the flow starts now.)
                let flow = network.start(from: origin, to: i, bytes: Double(layouts[b].length(of: p)))
                flows[key] = flow
                flowKey[flow] = key
            case .cancel(let p, let source):
                let s = source.index(origin: origin)
                let key = RequestKey(node: i, blob: b, piece: p, source: s)
                requests[key] = nil
                if let flow = flows[key] { stopFlow(flow) } else if s != origin { send(.cancel(at: s, from: i, blob: b, piece: p)) }
            case .have(let p):
                for j in nodes[i].links[b].sorted() { haves += 1; send(.have(at: j, from: i, blob: b, piece: p)) }
            case .interested(let j): send(.interested(at: j, from: i, blob: b, true))
            case .notInterested(let j): send(.interested(at: j, from: i, blob: b, false))
            case .decline(let j):
                send(.decline(at: j, from: i, blob: b))
            case .drop(let j):
                if nodes[i].links[b].contains(j) {
                    closeSession(i, with: j, blob: b)
                    send(.lost(at: j, peer: i, blob: b))
                }
            case .dealtDone(let p): toCoordinator(.dealtDone(piece: p), from: i, blob: b)
            case .orphaned(let p): toCoordinator(.orphaned(piece: p), from: i, blob: b)
            case .refill:
                let want = max(4, neighbours - nodes[i].links[b].count)
                toCoordinator(.announce(complete: false, neighbours: want), from: i, blob: b)
            case .complete:
                nodes[i].done[b] = now
                nodes[i].lastKeepAlive[b] = now
                toCoordinator(.announce(complete: true, neighbours: 0), from: i, blob: b)
            }
        }
    }

    // MARK: Pieces

    mutating func requestArrives(at j: Int, from i: Int, blob b: Int, piece p: Int, id: Int) {
        guard nodes[j].alive, nodes[j].links[b].contains(i) else { return }
        let key = RequestKey(node: i, blob: b, piece: p, source: j)
        guard nodes[j].grants.request(from: Interest(node: i, blob: b)) else {
            stats.busy += 1
            send(.pieceDone(node: i, blob: b, piece: p, source: j, id: id, .refused))
            return
        }
        // Asked, then cancelled before this arrived: the slot is free again at once.
        guard requests[key] == id, nodes[j].downloads[b]?.have.contains(p) == true else {
            grant(nodes[j].grants.sent(to: Interest(node: i, blob: b)), from: j)
            send(.pieceDone(node: i, blob: b, piece: p, source: j, id: id, .refused))
            return
        }
        let flow = network.start(from: j, to: i, bytes: Double(layouts[b].length(of: p)))
        flows[key] = flow
        flowKey[flow] = key
    }

    /// Ends a transfer: its sender's slot is free (and granted on).
    mutating func stopFlow(_ flow: Int) {
        guard let key = flowKey.removeValue(forKey: flow) else { return }
        let sender = network.flow(flow)!.sender
        network.stop(flow)
        if flows[key] == flow { flows[key] = nil }
        if sender != origin, nodes[sender].alive {
            grant(nodes[sender].grants.sent(to: Interest(node: key.node, blob: key.blob)), from: sender)
        }
        if sender != origin, !nodes[sender].alive, nodes[key.node].alive {
            // The sender died: the receiver's session resets.
            push(.lost(at: key.node, peer: sender, blob: key.blob), at: now + latency)
        }
    }

    mutating func finishFlow(_ flow: Int, at: SwarmInstant) {
        guard let key = flowKey[flow], let id = requests[key] else { stopFlow(flow); return }
        let corrupt = key.source != origin && nodes[key.source].corrupt
        stopFlow(flow)
        push(.pieceDone(node: key.node, blob: key.blob, piece: key.piece, source: key.source, id: id, corrupt ? .corrupt : .verified),
             at: at + latency)
    }

    mutating func pieceDone(_ i: Int, blob b: Int, piece p: Int, source s: Int, id: Int, _ outcome: Outcome) {
        let key = RequestKey(node: i, blob: b, piece: p, source: s)
        guard nodes[i].alive, requests[key] == id, nodes[i].downloads[b] != nil else { return }
        requests[key] = nil
        let source: Download.Source = s == origin ? .origin : .peer(s)
        if outcome != .verified {
            if outcome == .corrupt { stats.corruptPieces += 1 }
            perform(nodes[i].downloads[b]!.pieceFailed(p, from: source, corrupt: outcome == .corrupt, now: now), node: i, blob: b)
            if s != origin, nodes[i].alive, nodes[i].downloads[b] != nil { roomAvailable(at: i, except: b) }
            return
        }
        perform(nodes[i].downloads[b]!.pieceVerified(p, from: source, now: now), node: i, blob: b)
        if s != origin { roomAvailable(at: i, except: b) }
    }

    /// A piece from a neighbour stopped arriving at node i: its other blobs' downloads may
    /// take grants again (the incoming limit is the node's).
    mutating func roomAvailable(at i: Int, except b: Int) {
        for other in layouts.indices where other != b && nodes[i].downloads[other] != nil && nodes[i].done[other] == nil {
            perform(nodes[i].downloads[other]!.roomAvailable(), node: i, blob: other)
        }
    }

    // MARK: Report

    func report() -> SimulationReport {
        let times = nodeResults(nodes.map { ($0.done, $0.pulling, $0.startedAt, $0.slow, $0.killAt != nil, $0.corrupt) })
        var counters = stats
        counters.coordinatorMicrosPerMessage = coordinatorCalls > 0 ? Double(coordinatorNanos) / Double(coordinatorCalls) / 1000 : nil
        counters.meshHaves = haves
        var c = configuration
        c.coordinatorService = configuration.mesh.coordinatorService
        return SimulationReport(configuration: c, nodes: times, originBytes: network.sent[origin],
                                peerBytes: network.sent.prefix(origin).reduce(0, +), counters: counters, simulated: now.inSeconds)
    }
}

extension MeshDownload<Int>.Source {
    func index(origin: Int) -> Int {
        switch self {
        case .origin: origin
        case .peer(let j): j
        }
    }
}
