import ArgumentParser
import Foundation
import OCI
import Settings
import Swarm
import SwarmSimulator

/// `peerpull simulate`: the swarm's own scheduler and coordinator on simulated links, for
/// cluster sizes no machine here can run.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Simulate a rollout to many nodes with the agent's own scheduler and coordinator state machines.",
        discussion: """
        Every node runs the real PieceScheduler per layer and the real CoordinatorState, driven as the agent \
        drives them; only the links are simulated (max-min fair flows on per-node up- and downlinks). \
        Prints, per node count, completion ÷ the bound max(S/R₀, S/R, N·S/(R₀+N·R)) at p50/p99/max, origin \
        bytes ÷ image size, and the busiest coordinator's load.
        """
    )

    @Option(help: "Node counts, comma-separated.")
    var nodes = "100,1000"

    @Option(help: "Image size (e.g. 1G, 256Mi).")
    var size = "1Gi"

    @Option(help: "Layers the image is cut into (equal sizes, pulled at once).")
    var layers = 1

    @Option(help: "Piece size (256Ki...16Mi).")
    var pieceSize = "4Mi"

    @Option(help: "Each node's rate each way, in Mbit/s of TCP goodput.")
    var rate = 1000.0

    @Option(help: "The origin's rate, in Mbit/s (default: the nodes' rate).")
    var originRate: Double?

    @Option(help: "One-way latency of every link, in milliseconds.")
    var latency = 0.2

    @Option(help: "Seconds between node starts (0: a cold rollout; more: a rolling update, each node against one node's bound).")
    var stagger = 0.0

    @Option(help: "Nodes that pull (the first ones); the others run an agent and pull nothing (1: one pod of a new image on one node). Default: all.")
    var pullers: Int?

    @Option(help: "Share of nodes with slow links (at --slow-factor of the rate).")
    var slow = 0.0

    @Option(help: "Rate of a slow node as a share of the rate.")
    var slowFactor = 0.1

    @Option(help: "Share of nodes whose agent is killed during the rollout and restarted 5 s later.")
    var failing = 0.0

    @Option(help: "Share of nodes that corrupt every piece they upload.")
    var corrupt = 0.0

    @Option(help: "A coordinator's time per announcement, in microseconds (its queueing delay follows from its load).")
    var coordinatorCost = 100.0

    @Option(help: "Pieces an agent uploads at once.")
    var uploadSlots = UploadSlots.defaultSlots

    @Option(help: "Pieces an agent uploads at once to one requesting agent (default: the agent's rule, an equal share among those asking).")
    var uploadsPerRequester: Int?

    @Option(help: ArgumentHelp("Agents a coordinator deals origin work to, per blob (experiments).", visibility: .hidden))
    var originFetchers: Int?

    @Flag(help: ArgumentHelp("Peers say which pieces they hold when they answer a piece request (experiments).", visibility: .hidden))
    var peersTellHoldings = false

    @Option(help: ArgumentHelp("Announcements a second from fetching agents a coordinator aims at (experiments).", visibility: .hidden))
    var announcementRate: Int?

    @Option(help: ArgumentHelp("Probe requests at once to peers not known to hold missing pieces (experiments).", visibility: .hidden))
    var probes: Int?

    @Option(help: ArgumentHelp("Holders a coordinator remembers per blob (experiments).", visibility: .hidden))
    var maxHolders: Int?

    @Option(help: ArgumentHelp("Peers in a coordinator's answer (experiments).", visibility: .hidden))
    var peersPerAnswer: Int?

    @Option(help: ArgumentHelp("Pieces dealt to a fetcher at once (experiments).", visibility: .hidden))
    var originPiecesPerFetcher: Int?

    @Option(help: ArgumentHelp("Dealt pieces a download fetches from the origin at once (experiments).", visibility: .hidden))
    var dealtOriginRequests: Int?

    @Option(help: ArgumentHelp("Milliseconds a busy peer is left alone (experiments).", visibility: .hidden))
    var busyBackoff: Int?

    @Option(help: ArgumentHelp("Requests a download keeps at one peer (experiments).", visibility: .hidden))
    var requestsPerPeer: Int?

    @Option(help: ArgumentHelp("Requests a download keeps at peers in all (experiments).", visibility: .hidden))
    var maxPeerRequests: Int?

    @Flag(help: "Run the mesh protocol (neighbours with HAVEs and upload grants; the coordinator introduces and deals) instead of today's.")
    var mesh = false

    @Option(help: "Mesh: neighbours per blob a node dials.")
    var neighbours = MeshDownload<Int>.Configuration().neighbours

    @Option(help: "Mesh: pieces a node sends at once, across blobs.")
    var uploadGrants = UploadGrants<Int>.defaultSlots

    @Option(help: "Mesh: pieces a download takes from neighbours at once.")
    var incoming = MeshDownload<Int>.Configuration().incoming

    @Option(help: ArgumentHelp("Mesh: the first missing pieces preferred over the rarest (experiments).", visibility: .hidden))
    var streamWindow: Int?

    @Option(help: ArgumentHelp("Mesh: seconds a released piece no neighbour offers waits before it is reported (experiments).", visibility: .hidden))
    var orphanAfter: Double?

    @Option(help: "Mesh: a coordinator's time per message in microseconds (default 30; the run also reports the real calls' time).")
    var meshCoordinatorCost = 30.0

    @Option(help: "Simulation step, in milliseconds (rates are rebalanced every step; default: a 32nd of a piece's time on a node's link, at most 10 ms).")
    var step: Double?

    @Option(help: "Simulated seconds after the last node's start at which a run gives up.")
    var timeLimit = 3600.0

    @Option(help: "Random seed (the same seed gives the same run).")
    var seed: UInt64 = 1

    @Flag(help: "Print every node's time ÷ the bound.")
    var verbose = false

    @Option(help: "Append one JSON summary per run to this file.")
    var json: String?

    @Option(help: "Write origin and peer bytes over time of the last run to this CSV file.")
    var samples: String?

    func run() throws {
        let counts = nodes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--nodes: give node counts like 100,1000") }
        let image: Int64, piece: Int64
        do {
            image = try ByteSize(parsing: size).bytes
            piece = try ByteSize(parsing: pieceSize).bytes
        } catch {
            throw ValidationError("\(error)")
        }
        guard PieceLayout.allowedPieceSizes.contains(Int(piece)) else { throw ValidationError("--piece-size: outside 256Ki...16Mi") }
        guard layers >= 1, image >= Int64(layers) else { throw ValidationError("--layers: 1 or more, each at least a byte") }
        guard rate > 0, (originRate ?? rate) > 0 else { throw ValidationError("--rate and --origin-rate: more than 0 Mbit/s") }
        if let step, !(step > 0) { throw ValidationError("--step: more than 0 ms") }
        let bytesPerSecond = rate * 1e6 / 8
        var layerSizes = Array(repeating: image / Int64(layers), count: layers)
        layerSizes[0] += image - layerSizes.reduce(0, +)

        print((mesh ? "mesh: " : "") + "simulated rollout: \(HumanReadable.bytes(image)) in \(layers) layer(s), \(HumanReadable.bytes(piece)) pieces, "
            + "\(rate) Mbit/s per node, origin \(originRate ?? rate) Mbit/s, latency \(latency) ms"
            + (step.map { ", step \($0) ms" } ?? "")
            + (stagger > 0 ? ", nodes \(stagger) s apart" : "") + (pullers.map { ", \($0) of them pulling" } ?? "")
            + (slow > 0 ? ", \(Int(slow * 100))% slow" : "") + (failing > 0 ? ", \(Int(failing * 100))% killed" : "")
            + (corrupt > 0 ? ", \(Int(corrupt * 100))% corrupting" : ""))
        print("nodes  bound s   p50    p99    max  origin×  coord peak/s  load  wait p99  holders  memory  incomplete  wall s")
        var last: SimulationReport?
        for n in counts {
            var c = SimulationConfiguration(nodes: n, layers: layerSizes, nodeRate: bytesPerSecond,
                                            originRate: (originRate ?? rate) * 1e6 / 8)
            c.pieceSize = Int(piece)
            c.latency = .microseconds(Int64(latency * 1000))
            if let step { c.step = .microseconds(Int64(step * 1000)) }
            c.stagger = .milliseconds(Int64(stagger * 1000))
            c.pullers = pullers
            c.slowFraction = slow
            c.slowFactor = slowFactor
            c.failingFraction = failing
            c.corruptFraction = corrupt
            c.coordinatorService = .nanoseconds(Int64(coordinatorCost * 1000))
            c.seed = seed
            c.timeLimit = .milliseconds(Int64(timeLimit * 1000))
            c.uploadSlots = uploadSlots
            c.uploadsPerRequester = uploadsPerRequester
            if let originFetchers { c.coordinator.originFetchers = originFetchers }
            if let originPiecesPerFetcher { c.coordinator.originPiecesPerFetcher = originPiecesPerFetcher }
            c.peersTellHoldings = peersTellHoldings
            if let announcementRate { c.coordinator.announcementRate = announcementRate }
            if let maxHolders { c.coordinator.maxHolders = maxHolders }
            if let probes { c.scheduler.probes = probes }
            if let peersPerAnswer { c.coordinator.peersPerAnswer = peersPerAnswer }
            if let dealtOriginRequests {
                c.scheduler.dealtOriginRequests = dealtOriginRequests
                c.mesh.download.dealtOriginRequests = dealtOriginRequests
            }
            if let originFetchers { c.mesh.coordinator.originFetchers = originFetchers }
            if let originPiecesPerFetcher { c.mesh.coordinator.piecesPerFetcher = originPiecesPerFetcher }
            if let busyBackoff { c.scheduler.busyBackoff = .milliseconds(busyBackoff) }
            if let requestsPerPeer { c.scheduler.requestsPerPeer = requestsPerPeer }
            if let maxPeerRequests { c.scheduler.maxPeerRequests = maxPeerRequests }
            c.mesh.download.neighbours = neighbours
            c.mesh.download.incoming = incoming
            if let streamWindow { c.mesh.download.streamWindow = streamWindow }
            if let orphanAfter { c.mesh.download.orphanAfter = .milliseconds(Int64(orphanAfter * 1000)) }
            c.mesh.coordinator.neighbours = neighbours
            c.mesh.uploads = uploadGrants
            c.mesh.coordinatorService = .nanoseconds(Int64(meshCoordinatorCost * 1000))
            let began = ContinuousClock.now
            let report: SimulationReport
            if mesh {
                var sim = MeshSimulation(c)
                report = sim.run()
            } else {
                var sim = Simulation(c)
                report = sim.run()
            }
            let wall = (ContinuousClock.now - began).inSeconds
            let s = report.summary
            let memory = HumanReadable.bytes(Int64(s.coordinatorPeakMemoryBytes))
            print(String(format: "%5d  %7.1f  %5.2f  %5.2f  %5.2f  %6.2f  %12d  %4.0f%%  %6.0f ms  %7d  ",
                         n, s.boundSeconds, s.p50, s.p99, s.max, s.originRatio, s.peakAnnouncesPerSecond, s.peakCoordinatorLoad * 100,
                         s.coordinatorWaitP99 * 1000, s.coordinatorPeakHolders)
                + String(repeating: " ", count: max(0, 6 - memory.count)) + memory
                + String(format: "  %10d  %6.1f", s.incomplete, wall))
            if let micros = s.coordinatorMicrosPerMessage {
                print(String(format: "       mesh: coordinator %.1f µs per message (measured), %d HAVEs (%.0f per node per piece)", micros, s.haves ?? 0,
                             Double(s.haves ?? 0) / Double(n) / Double(max(1, (image + piece - 1) / piece))))
            }
            if let slowMax = s.slowMax { print(String(format: "       slow nodes: max %.2f × their own bound", slowMax)) }
            print("       \(s.announcements) announcements (\(s.announcementsShed) shed, \(s.coordinatorUnreachable) unanswered in time), \(s.busyRefusals) busy refusals"
                + (s.corruptPieces > 0 ? ", \(s.corruptPieces) corrupt pieces rejected" : "") + (s.killed > 0 ? ", \(s.killed) agents killed" : ""))
            print("       origin requests: \(s.originDealtRequests) for dealt pieces, \(s.originFallbackRequests) for pieces waited for in vain (\(s.originEndgameRequests ?? 0) of them the endgame's second sources), "
                + "\(s.originAloneRequests) while no coordinator answered")
            if verbose {
                let times = report.nodes.compactMap { $0.seconds.map { $0 / report.bound } }.sorted()
                print("       nodes ÷ bound: " + times.map { String(format: "%.2f", $0) }.joined(separator: " "))
                let slowest = report.nodes.filter { $0.seconds != nil }.sorted { $0.seconds! > $1.seconds! }.prefix(5)
                print("       slowest: " + slowest.map { n in
                    String(format: "node-%d %.2f", n.node, n.seconds! / report.bound)
                        + (n.slow ? " (slow)" : "") + (n.failed ? " (killed)" : "") + (n.corrupt ? " (corrupting)" : "")
                }.joined(separator: ", "))
                for n in report.nodes where n.seconds == nil {
                    print("       node-\(n.node) incomplete" + (n.slow ? ", slow" : "") + (n.failed ? ", killed" : "") + (n.corrupt ? ", corrupting" : ""))
                }
            }
            if let json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                // With no node complete the percentiles are NaN, which JSON cannot hold.
                encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
                var line = try encoder.encode(WallClocked(summary: s, wallSeconds: wall))
                line.append(UInt8(ascii: "\n"))
                try append(line, to: json)
            }
            last = report
        }
        if let samples, let last {
            var csv = "seconds,origin_bytes,peer_bytes\n"
            for s in last.samples { csv += String(format: "%.1f,%.0f,%.0f\n", s.at, s.originBytes, s.peerBytes) }
            try csv.write(toFile: samples, atomically: true, encoding: .utf8)
        }
    }

    struct WallClocked: Encodable {
        var summary: SimulationReport.Summary
        var wallSeconds: Double
    }

    func append(_ data: Data, to path: String) throws {
        if !FileManager.default.fileExists(atPath: path), !FileManager.default.createFile(atPath: path, contents: nil) {
            throw ValidationError("--json: cannot create \(path)")
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw ValidationError("--json: cannot write \(path)") }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: data)
    }
}
