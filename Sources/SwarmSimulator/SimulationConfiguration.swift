import Swarm

/// One simulated rollout: the cluster, its links, its faults, and the swarm's own settings
/// (the scheduler's and the coordinator's configurations are the agent's types, defaulted
/// as the agent defaults them).
public struct SimulationConfiguration: Sendable {
    /// Nodes pulling the image (every one also runs an agent, so every one may coordinate).
    public var nodes: Int
    /// Of the nodes, those that pull (the first ones); the rest run an agent, coordinate and
    /// upload, but pull nothing (one pod of a new image on one node: `pullers` 1). nil: all.
    public var pullers: Int?
    /// The image's layers (blob sizes in bytes), pulled at once as containerd does.
    public var layers: [Int64]
    public var pieceSize: Int = PieceLayout.defaultPieceSize
    /// Each node's rate each way, and the origin's, in bytes per second (TCP goodput).
    public var nodeRate: Double
    public var originRate: Double
    /// One-way latency of every link.
    public var latency: Duration = .microseconds(200)
    /// How often the links' rates are balanced and flows moved on; nil: `defaultStep`.
    public var step: Duration?
    /// Nodes start pulling this far apart (zero: a cold rollout, all at once).
    public var stagger: Duration = .zero
    /// A share of the nodes whose links run at `slowFactor` of the rate.
    public var slowFraction = 0.0
    public var slowFactor = 0.1
    /// A share of the nodes whose agent is killed at a random time within the first bound,
    /// and restarted (with the blobs it had completed) `restartAfter` later; nil: never.
    public var failingFraction = 0.0
    public var restartAfter: Duration? = .seconds(5)
    /// A share of the nodes that corrupt every piece they upload (their peers drop them).
    public var corruptFraction = 0.0
    /// Time a coordinator spends on one announcement (HTTP, decoding, the state machine,
    /// encoding), served in arrival order: what its load turns into as queueing delay.
    public var coordinatorService: Duration = .microseconds(100)
    /// How long a killed agent stays in the member list (an EndpointSlice drops a pod
    /// that stopped being ready within seconds).
    public var membershipDelay: Duration = .seconds(2)
    public var coordinatorsPerBlob = 3
    /// Pieces one agent sends at once; more requests are answered "busy" (the agent's
    /// `PeerServer.uploadSlots`).
    public var uploadSlots = UploadSlots.defaultSlots
    /// Of those, at most this many to one requesting agent; nil: the agent's rule, an equal
    /// share among the agents that asked lately (`UploadSlots`).
    public var uploadsPerRequester: Int?
    /// Whether a peer's answer to a piece request (the piece, "busy", "not held") says which
    /// pieces it holds, so the asker learns it first-hand between coordinator answers.
    public var peersTellHoldings = false
    /// The mesh protocol instead of coordinator-listed holders (`MeshSimulation`).
    public var mesh = Mesh()
    public struct Mesh: Sendable {
        public var download = MeshDownload<Int>.Configuration()
        public var coordinator = MeshCoordinator<Int>.Configuration()
        public var cadence = MeshCadence()
        /// Pieces a node sends at once, across blobs.
        public var uploads = UploadGrants<Int>.defaultSlots
        /// A coordinator's time per message (join, keep-alive, dealt piece done).
        public var coordinatorService: Duration = .microseconds(30)
        public init() {}
    }
    public var scheduler = PieceScheduler.Configuration()
    public var coordinator = CoordinatorState.Configuration()
    /// The simulation gives up this long after the last node started.
    public var timeLimit: Duration = .seconds(3600)
    public var seed: UInt64 = 1

    public init(nodes: Int, layers: [Int64], nodeRate: Double, originRate: Double) {
        self.nodes = nodes
        self.layers = layers
        self.nodeRate = nodeRate
        self.originRate = originRate
    }

    public var imageSize: Int64 { layers.reduce(0, +) }

    /// A 32nd of a piece's time on a node's link, at most 10 ms (in whole microseconds). A
    /// flow that ends within a step leaves its share of the links idle until the step ends,
    /// and one that starts waits for it (docs/decisions/swarm-tuning.md#the-simulators-step).
    public var defaultStep: Duration {
        let pieceSeconds = Double(pieceSize) / nodeRate
        let micros = min(10_000, max(100, Int64(pieceSeconds / 32 * 1e6)))
        return .microseconds(micros)
    }

    /// The step the simulation runs with.
    public var effectiveStep: Duration { step ?? defaultStep }

    /// No schedule can finish a cold rollout sooner: the origin must send the image once
    /// (S/R₀), every node must receive it (S/R), and all N copies must cross the links
    /// into the nodes, fed by the origin and the nodes' uplinks (N·S/(R₀ + N·R)).
    public var bound: Double {
        let s = Double(imageSize), n = Double(pullers.map { min($0, nodes) } ?? nodes)
        return max(s / originRate, s / nodeRate, n * s / (originRate + n * nodeRate))
    }

    /// One node's bound (S/R): what a node pulling from peers that hold the image (a
    /// rolling update) can reach at best.
    public var nodeBound: Double { Double(imageSize) / nodeRate }
}
