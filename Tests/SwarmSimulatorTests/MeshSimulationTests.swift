import Swarm
@testable import SwarmSimulator
import Testing

@Suite("Simulated rollouts in the mesh, with the real download, grants and coordinator")
struct MeshSimulationTests {
    static func configuration(nodes: Int, mib: Int64 = 64) -> SimulationConfiguration {
        SimulationTests.configuration(nodes: nodes, mib: mib)
    }

    @Test("a cold rollout completes on every node near the bound, reading the origin once, with no refusals")
    func cold() {
        var sim = MeshSimulation(Self.configuration(nodes: 12))
        let r = sim.run()
        #expect(r.incomplete == 0)
        let s = r.summary
        #expect(s.p50 >= 1, "no node beats the physical bound")
        #expect(s.max < 1.4, "max \(s.max) (the first pieces leave the origin 8 at a time: 0.7 s of 5.4)")
        #expect(s.originRatio < 1.02, "origin \(s.originRatio)")
        #expect(s.originDealtRequests == 64, "each of the 64 pieces dealt once: \(s.originDealtRequests)")
        #expect(s.originFallbackRequests == 0, "no piece waited for in vain")
        #expect(s.busyRefusals == 0, "every request was made under a grant")
        #expect((s.haves ?? 0) > 0 && (s.coordinatorMicrosPerMessage ?? 0) > 0)
    }

    @Test("one node pulling alone keeps the origin link busy", arguments: [(125e6, 1 << 20), (1.25e9, 4 << 20)])
    func lonePull(rate: Double, piece: Int) {
        var c = SimulationConfiguration(nodes: 2, layers: [64 << 20], nodeRate: rate, originRate: rate)
        c.pieceSize = piece
        c.pullers = 1
        c.timeLimit = .seconds(300)
        var sim = MeshSimulation(c)
        let r = sim.run()
        #expect(r.nodes.count == 1 && r.incomplete == 0)
        #expect(r.summary.max < 1.1, "the lone pull took \(r.summary.max) x the bound (\(c.bound) s)")
        #expect(r.summary.originRatio < 1.01)
    }

    @Test("the same seed gives the same run")
    func deterministic() {
        var a = MeshSimulation(Self.configuration(nodes: 6, mib: 16))
        var b = MeshSimulation(Self.configuration(nodes: 6, mib: 16))
        let (ra, rb) = (a.run(), b.run())
        #expect(ra.nodes.map(\.seconds) == rb.nodes.map(\.seconds))
        #expect(ra.originBytes == rb.originBytes)
    }

    @Test("killed agents, a corrupting peer and slow nodes: every node still completes")
    func faults() {
        var c = Self.configuration(nodes: 12, mib: 32)
        c.failingFraction = 0.25
        c.corruptFraction = 0.1
        c.slowFraction = 0.1
        var sim = MeshSimulation(c)
        let r = sim.run()
        #expect(r.incomplete == 0)
        #expect(r.corruptPieces > 0, "the corrupting peer was asked and caught")
        #expect(r.summary.killed == 3)
        #expect(r.originRatio < 2.5, "origin \(r.originRatio) (3 of 12 agents lose what they had)")
    }

    @Test("a rolling update: late nodes take the image from peers, not from the origin")
    func rolling() {
        var c = Self.configuration(nodes: 6, mib: 32)
        c.stagger = .seconds(3)
        var sim = MeshSimulation(c)
        let r = sim.run()
        #expect(r.incomplete == 0)
        #expect(r.originRatio < 1.02, "origin \(r.originRatio)")
        #expect(r.summary.max < 1.2, "each node near one node's bound: \(r.summary.max)")
    }
}
