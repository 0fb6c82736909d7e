import OCI
import Swarm

/// What every simulated rollout starts from, drawn from the seed in one order (so that a seed
/// gives the same cluster to either protocol): the links (the origin's index after the
/// nodes'), the nodes' names, which are slow, corrupting or killed (and when), when each
/// starts pulling and the phase of its clock.
struct SimulatedCluster {
    let origin: Int
    let network: FlowNetwork
    let members: [Member]
    let nodeIndex: [String: Int]
    let slow: Set<Int>
    let corrupt: Set<Int>
    /// Per node: when it starts pulling (nil: it does not pull), its first tick, when it is killed.
    let starts: [SwarmInstant?]
    let firstTicks: [SwarmInstant]
    let kills: [SwarmInstant?]
    let layouts: [PieceLayout]
    let digests: [Digest]

    init(_ c: SimulationConfiguration, rng: inout SplitMix64) {
        let n = c.nodes
        origin = n
        layouts = c.layers.map { PieceLayout(size: $0, pieceSize: c.pieceSize) }
        digests = c.layers.indices.map { Digest.compute(of: Array("simulated layer \($0)".utf8)) }
        var up = [Double](repeating: c.nodeRate, count: n + 1)
        var down = up
        up[n] = c.originRate
        down[n] = 0
        slow = Self.pick(Int((Double(n) * c.slowFraction).rounded()), of: n, rng: &rng)
        for i in slow { up[i] *= c.slowFactor; down[i] *= c.slowFactor }
        network = FlowNetwork(up: up, down: down)
        let failing = Self.pick(Int((Double(n) * c.failingFraction).rounded()), of: n, rng: &rng)
        corrupt = Self.pick(Int((Double(n) * c.corruptFraction).rounded()), of: n, rng: &rng)
        members = (0..<n).map { Member(node: "node-\($0)", address: "198.18.\($0 >> 8).\($0 & 255)") }
        nodeIndex = Dictionary(uniqueKeysWithValues: members.enumerated().map { ($1.node, $0) })
        var starts: [SwarmInstant?] = [], ticks: [SwarmInstant] = [], kills: [SwarmInstant?] = []
        let bound = c.bound
        for i in 0..<n {
            let start = c.stagger * i
            starts.append(i < c.pullers ?? n ? start : nil)
            // Ticks at a phase of their own, as independent agents have.
            ticks.append(.microseconds(Int64(rng.next() % 100_000)))
            kills.append(failing.contains(i) ? start + .milliseconds(Int64(rng.next() % UInt64(max(1, bound * 1000)))) : nil)
        }
        self.starts = starts
        firstTicks = ticks
        self.kills = kills
    }

    static func pick(_ k: Int, of n: Int, rng: inout SplitMix64) -> Set<Int> {
        var chosen = Set<Int>()
        while chosen.count < min(k, n) { chosen.insert(Int(rng.next() % UInt64(n))) }
        return chosen
    }
}

/// The member list as the agents see it: a killed agent leaves it `membershipDelay` later
/// (an EndpointSlice drops a pod that stopped being ready), a restarted one is back at once;
/// and each blob's coordinators for that list.
struct SimulatedMembership {
    let cluster: SimulatedCluster
    let coordinatorsPerBlob: Int
    private var pendingRemoval: [Int: SwarmInstant] = [:]
    private var removed: Set<Int> = []
    private var stale = true
    private var coordinatorsOf: [[Int]] = []

    init(_ cluster: SimulatedCluster, coordinatorsPerBlob: Int) {
        self.cluster = cluster
        self.coordinatorsPerBlob = coordinatorsPerBlob
    }

    mutating func killed(_ i: Int, leavesAt: SwarmInstant) { pendingRemoval[i] = leavesAt }

    mutating func restarted(_ i: Int) {
        pendingRemoval[i] = nil
        removed.remove(i)
        stale = true
    }

    /// The blob's coordinators, first one first, for the member list at `now`.
    mutating func coordinators(of blob: Int, now: SwarmInstant) -> [Int] {
        for (i, at) in pendingRemoval where at <= now {
            pendingRemoval[i] = nil
            removed.insert(i)
            stale = true
        }
        if stale || coordinatorsOf.isEmpty {
            let members = cluster.members.indices.filter { !removed.contains($0) }.map { cluster.members[$0] }
            coordinatorsOf = cluster.digests.map { d in
                Rendezvous.coordinators(for: d, among: members, count: coordinatorsPerBlob).map { cluster.nodeIndex[$0.node]! }
            }
            stale = false
        }
        return coordinatorsOf[blob]
    }
}

/// The clock both simulations run on: per step, the links' rates are balanced, flows move
/// on (those that finish are handed back at the moment they did), then every event due
/// within the step is handled; origin and peer bytes are sampled every second.
protocol SteppedRollout {
    var configuration: SimulationConfiguration { get }
    var network: FlowNetwork { get set }
    var now: SwarmInstant { get set }
    var stats: SimulationReport.Counters { get set }
    var origin: Int { get }
    /// Every node that is up and pulls holds the image.
    var allDone: Bool { get }
    mutating func finishFlow(_ flow: Int, at: SwarmInstant)
    /// Handles the next event due by `end`; false when there is none.
    mutating func handleNext(dueBy end: SwarmInstant) -> Bool
}

extension SteppedRollout {
    /// Runs until `allDone` or the time limit after the last node's start.
    mutating func runSteps() {
        let dt = configuration.effectiveStep
        let dtSeconds = dt.inSeconds
        let limit = configuration.stagger * max(0, configuration.nodes - 1) + configuration.timeLimit
        var nextSample = SwarmInstant.zero
        while now < limit {
            network.balance()
            let stepEnd = now + dt
            for (id, fraction) in network.advance(by: dtSeconds) { finishFlow(id, at: now + dt * fraction) }
            while handleNext(dueBy: stepEnd) {}
            now = stepEnd
            if now >= nextSample {
                stats.samples.append(.init(at: now.inSeconds, originBytes: network.sent[origin],
                                           peerBytes: network.sent.prefix(origin).reduce(0, +)))
                nextSample = now + .seconds(1)
            }
            if allDone { break }
        }
    }

    /// Per pulling node, from its start to its last layer (nil if it never completed).
    func nodeResults(_ nodes: [(done: [SwarmInstant?], pulling: Bool, startedAt: SwarmInstant?, slow: Bool, killed: Bool, corrupt: Bool)])
        -> [SimulationReport.NodeResult] {
        nodes.prefix(configuration.pullers ?? nodes.count).enumerated().map { i, n in
            let done = n.done.compactMap { $0 }
            let complete = done.count == n.done.count && n.pulling
            return .init(node: i, seconds: complete ? (done.max()! - n.startedAt!).inSeconds : nil,
                         slow: n.slow, failed: n.killed, corrupt: n.corrupt)
        }
    }
}

/// An event due at a time; events due at once in the order they were scheduled (`seq`).
struct TimedEvent<Event>: Comparable {
    var at: SwarmInstant
    var seq: Int
    var event: Event
    static func < (a: Self, b: Self) -> Bool { (a.at, a.seq) < (b.at, b.seq) }
    static func == (a: Self, b: Self) -> Bool { a.at == b.at && a.seq == b.seq }
}
