import Foundation
import Swarm

/// What a simulated rollout showed: per-node completion against the bound, the origin's
/// bytes against the image, and the load of the busiest coordinator.
public struct SimulationReport: Sendable {
    public struct NodeResult: Sendable, Codable {
        public var node: Int
        /// From the node's start to its last layer, or nil if it never completed.
        public var seconds: Double?
        public var slow: Bool
        public var failed: Bool
        public var corrupt: Bool
    }

    public struct Sample: Sendable, Codable {
        public var at: Double
        public var originBytes: Double
        public var peerBytes: Double
    }

    /// Tallies kept while the simulation runs.
    public struct Counters: Sendable {
        var calls: [Int64: Int] = [:]
        /// Coordinator waits in microseconds, as a histogram of 8 buckets per doubling
        /// (memory that stays the same at 10,000 nodes; quantiles within 9 %).
        var waits = [Int](repeating: 0, count: 8 * 40)
        var announcements = 0
        var shed = 0
        var peakHolders = 0
        var peakMemory = 0
        var coordinatorUnreachable = 0
        var corruptPieces = 0
        var busy = 0
        /// Origin requests by why the scheduler made them: pieces dealt to the node, pieces
        /// it waited for in vain (orphans; endgame: a second source for a piece in flight),
        /// everything while no coordinator answered.
        var originDealt = 0
        var originFallback = 0
        var originEndgame = 0
        var originAlone = 0
        var killed = 0
        var samples: [Sample] = []
        /// The mesh: the real coordinator calls' mean wall time, and HAVEs sent.
        var coordinatorMicrosPerMessage: Double?
        var meshHaves = 0

        mutating func coordinatorCall(_ c: Int, at now: SwarmInstant, wait: Duration, size: (blobs: Int, holders: Int), layout: PieceLayout,
                                      memory: Int? = nil) {
            calls[Int64(c) << 32 | Int64(now.inSeconds), default: 0] += 1
            let micros = max(0, wait.inSeconds * 1e6)
            waits[min(waits.count - 1, Int((log2(micros + 1) * 8).rounded(.down)))] += 1
            announcements += 1
            peakHolders = max(peakHolders, size.holders)
            peakMemory = max(peakMemory, memory ?? Self.memory(size, layout: layout))
        }

        /// About what a coordinator keeps: per holder two piece bitmaps and its member
        /// record; per blob a hash (and a possible deal) per piece.
        /// The upper edge of the wait bucket the `p`-th percentile falls in, in seconds.
        func waitPercentile(_ p: Double) -> Double {
            guard announcements > 0 else { return .nan }
            let rank = Int((p / 100 * Double(announcements)).rounded(.up))
            var seen = 0
            for (k, n) in waits.enumerated() {
                seen += n
                if seen >= rank { return (exp2(Double(k + 1) / 8) - 1) / 1e6 }
            }
            return .nan
        }

        static func memory(_ size: (blobs: Int, holders: Int), layout: PieceLayout) -> Int {
            let bitmap = (layout.count + 63) / 64 * 8 + 32
            return size.holders * (2 * bitmap + 160) + size.blobs * (layout.count * 41 + 512)
        }
    }

    public let configuration: SimulationConfiguration
    public let nodes: [NodeResult]
    public let originBytes: Double
    public let peerBytes: Double
    let counters: Counters
    /// Simulated seconds until the last node completed (or the limit).
    public let simulated: Double

    init(configuration: SimulationConfiguration, nodes: [NodeResult], originBytes: Double, peerBytes: Double, counters: Counters, simulated: Double) {
        self.configuration = configuration
        self.nodes = nodes
        self.originBytes = originBytes
        self.peerBytes = peerBytes
        self.counters = counters
        self.simulated = simulated
    }

    /// The bound each node is held to: the cluster's cold-rollout bound, or one node's
    /// when nodes start apart (a rolling update).
    public var bound: Double { configuration.stagger > .zero ? configuration.nodeBound : configuration.bound }

    /// Completion ÷ bound of the nodes with full-rate links that completed.
    public var ratios: [Double] {
        nodes.filter { !$0.slow }.compactMap { $0.seconds }.map { $0 / bound }.sorted()
    }

    public var incomplete: Int { nodes.filter { $0.seconds == nil }.count }

    /// Slow nodes against their own bound (image ÷ their rate).
    public var slowRatios: [Double] {
        let own = Double(configuration.imageSize) / (configuration.nodeRate * configuration.slowFactor)
        return nodes.filter(\.slow).compactMap { $0.seconds }.map { $0 / max(own, bound) }.sorted()
    }

    public static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    public var originRatio: Double { originBytes / Double(configuration.imageSize) }
    /// The busiest coordinator's highest announcements in one second.
    public var peakAnnouncesPerSecond: Int { counters.calls.values.max() ?? 0 }
    /// Its share of one core at the configured cost per announcement.
    public var peakCoordinatorLoad: Double { Double(peakAnnouncesPerSecond) * configuration.coordinatorService.inSeconds }
    public var coordinatorWaitP99: Double { counters.waitPercentile(99) }
    public var coordinatorPeakHolders: Int { counters.peakHolders }
    public var coordinatorPeakMemory: Int { counters.peakMemory }
    public var coordinatorUnreachable: Int { counters.coordinatorUnreachable }
    public var announcements: Int { counters.announcements }
    /// Announcements refused at once by a coordinator with `SwarmCadence.coordinatorQueue` waiting.
    public var announcementsShed: Int { counters.shed }
    public var corruptPieces: Int { counters.corruptPieces }
    public var busyRefusals: Int { counters.busy }
    public var samples: [Sample] { counters.samples }

    public var summary: Summary {
        let r = ratios
        return Summary(nodes: configuration.nodes, imageBytes: configuration.imageSize, pieceSize: configuration.pieceSize,
                       nodeRate: configuration.nodeRate, originRate: configuration.originRate, stagger: configuration.stagger.inSeconds,
                       stepSeconds: configuration.effectiveStep.inSeconds,
                       boundSeconds: bound, p50: Self.percentile(r, 50), p99: Self.percentile(r, 99), max: r.last ?? .nan,
                       slowMax: slowRatios.last, incomplete: incomplete, originRatio: originRatio,
                       peakAnnouncesPerSecond: peakAnnouncesPerSecond, peakCoordinatorLoad: peakCoordinatorLoad,
                       coordinatorWaitP99: coordinatorWaitP99, coordinatorPeakHolders: coordinatorPeakHolders,
                       coordinatorPeakMemoryBytes: coordinatorPeakMemory, coordinatorUnreachable: coordinatorUnreachable,
                       announcements: announcements, announcementsShed: announcementsShed, corruptPieces: corruptPieces, busyRefusals: busyRefusals,
                       originDealtRequests: counters.originDealt, originFallbackRequests: counters.originFallback,
                       originEndgameRequests: counters.originEndgame,
                       originAloneRequests: counters.originAlone,
                       killed: counters.killed, simulatedSeconds: simulated,
                       seed: configuration.seed, coordinatorMicrosPerMessage: counters.coordinatorMicrosPerMessage,
                       haves: counters.meshHaves > 0 ? counters.meshHaves : nil)
    }

    /// One line of the scaling table (and of the JSON output).
    public struct Summary: Sendable, Codable {
        public var nodes: Int
        public var imageBytes: Int64
        public var pieceSize: Int
        public var nodeRate: Double
        public var originRate: Double
        public var stagger: Double
        /// The simulation's step (rates rebalanced this often).
        public var stepSeconds: Double
        public var boundSeconds: Double
        public var p50: Double
        public var p99: Double
        public var max: Double
        public var slowMax: Double?
        public var incomplete: Int
        public var originRatio: Double
        public var peakAnnouncesPerSecond: Int
        public var peakCoordinatorLoad: Double
        public var coordinatorWaitP99: Double
        public var coordinatorPeakHolders: Int
        public var coordinatorPeakMemoryBytes: Int
        public var coordinatorUnreachable: Int
        public var announcements: Int
        public var announcementsShed: Int
        public var corruptPieces: Int
        public var busyRefusals: Int
        /// Origin requests: for dealt pieces, for pieces waited for in vain (orphans, and
        /// the endgame's second sources, also counted apart), while no coordinator answered.
        public var originDealtRequests: Int
        public var originFallbackRequests: Int
        public var originEndgameRequests: Int?
        public var originAloneRequests: Int
        public var killed: Int
        public var simulatedSeconds: Double
        public var seed: UInt64
        /// The mesh only: the coordinator's measured time per message, and HAVEs sent.
        public var coordinatorMicrosPerMessage: Double?
        public var haves: Int?
    }
}
