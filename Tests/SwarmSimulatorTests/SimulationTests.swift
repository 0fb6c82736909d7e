import Swarm
@testable import SwarmSimulator
import Testing

@Suite("Simulated links")
struct FlowNetworkTests {
    @Test("water-filling gives capped flows their cap and the rest an equal share")
    func waterFill() {
        let (alloc, offer) = FlowNetwork.waterFill(100, caps: [10, .infinity, .infinity])
        #expect(alloc == [10, 45, 45])
        #expect(offer == [45, 45, 45], "the capped flow could have had the level")
        let (all, spare) = FlowNetwork.waterFill(100, caps: [10, 20])
        #expect(all == [10, 20])
        #expect(spare == [80, 90], "with capacity left, each could have had its share plus what is left")
    }

    @Test("a flow limited by its receiver leaves its sender's capacity to the sender's other flows")
    func maxMin() {
        // Node 0 sends to 1 and 2; node 1 also receives from 3, so 0→1 gets half of 1's downlink.
        var net = FlowNetwork(up: [100, 100, 100, 100], down: [100, 100, 100, 100])
        let a = net.start(from: 0, to: 1, bytes: 1e9)
        let b = net.start(from: 0, to: 2, bytes: 1e9)
        let c = net.start(from: 3, to: 1, bytes: 1e9)
        for _ in 0..<4 { net.balance() }
        let rates = [a, b, c].map { net.flow($0)!.rate }
        #expect(abs(rates[0] - 50) < 1e-9 && abs(rates[1] - 50) < 1e-9 && abs(rates[2] - 50) < 1e-9, "\(rates)")
        net.stop(c)
        for _ in 0..<4 { net.balance() }
        #expect(abs(net.flow(a)!.rate - 50) < 1e-9, "node 0's uplink is shared by two flows")
        // No link ever carries more than its rate.
        #expect(net.flow(a)!.rate + net.flow(b)!.rate <= 100 + 1e-9)
    }

    @Test("flows finish at the right fraction of a step, and their bytes count for their sender")
    func advance() {
        var net = FlowNetwork(up: [100, 0], down: [0, 100])
        let f = net.start(from: 0, to: 1, bytes: 25)
        net.balance()
        let done = net.advance(by: 0.5)
        #expect(done.count == 1 && done[0].id == f && abs(done[0].at - 0.5) < 1e-9)
        #expect(net.sent[0] == 25)
    }
}

@Suite("Simulated rollouts with the real scheduler and coordinator")
struct SimulationTests {
    static func configuration(nodes: Int, mib: Int64 = 64) -> SimulationConfiguration {
        var c = SimulationConfiguration(nodes: nodes, layers: [mib << 19, mib << 19], nodeRate: 12.5e6, originRate: 12.5e6)
        c.pieceSize = 1 << 20
        c.timeLimit = .seconds(600)
        return c
    }

    @Test("a cold rollout completes on every node near the bound, reading the origin about once")
    func cold() {
        var sim = Simulation(Self.configuration(nodes: 8))
        let r = sim.run()
        #expect(r.incomplete == 0)
        let s = r.summary
        #expect(s.p50 >= 1, "no node beats the physical bound")
        #expect(s.max < 2, "max \(s.max) (direct pulls: 8)")
        #expect(s.originRatio < 1.15, "origin \(s.originRatio)")
        #expect(r.peerBytes > 6 * Double(r.configuration.imageSize), "the rest came from peers")
        #expect(s.originDealtRequests >= 64, "every one of the 64 pieces was dealt and fetched: \(s.originDealtRequests)")
        #expect(s.originAloneRequests == 0, "a coordinator answered every node")
    }

    @Test("one node pulling alone keeps the origin link busy: through the swarm about as fast as without it",
          arguments: [(125e6, 1 << 20), (125e6, 4 << 20), (1.25e9, 1 << 20)])
    func lonePull(rate: Double, piece: Int) {
        // One pod of a new image on one node, its agent one of two: every piece is dealt to
        // it for the origin. Waiting for the announcement cadence between deals took one
        // piece per ~200 ms (1 MiB at 1 Gbit/s: 20 x the bound).
        var c = SimulationConfiguration(nodes: 2, layers: [64 << 20], nodeRate: rate, originRate: rate)
        c.pieceSize = piece
        c.pullers = 1
        c.timeLimit = .seconds(300)
        var sim = Simulation(c)
        let r = sim.run()
        #expect(r.nodes.count == 1 && r.incomplete == 0)
        #expect(r.summary.max < 1.3, "the lone pull took \(r.summary.max) x the bound (\(c.bound) s)")
        #expect(r.summary.originRatio < 1.05, "origin \(r.summary.originRatio)")
    }

    @Test("the default step is a 32nd of a piece's time on a node's link, at most 10 ms")
    func defaultStep() {
        var c = SimulationConfiguration(nodes: 2, layers: [1 << 30], nodeRate: 125e6, originRate: 125e6)
        c.pieceSize = 4 << 20
        #expect(c.effectiveStep == .microseconds(1048), "4 MiB at 1 Gbit/s: 33.6 ms a piece")
        c.nodeRate = 1e6
        #expect(c.effectiveStep == .milliseconds(10), "4 MiB at 8 Mbit/s: 4.2 s a piece, the step stays 10 ms")
        c.step = .milliseconds(3)
        #expect(c.effectiveStep == .milliseconds(3), "a step given is kept")
    }

    @Test("the same seed gives the same run")
    func deterministic() {
        var a = Simulation(Self.configuration(nodes: 6, mib: 16))
        var b = Simulation(Self.configuration(nodes: 6, mib: 16))
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
        var sim = Simulation(c)
        let r = sim.run()
        #expect(r.incomplete == 0, "the slow node too (its requests given time for its link)")
        #expect(r.corruptPieces > 0, "the corrupting peer was asked and caught")
        #expect(r.summary.killed == 3)
    }

    @Test("a rolling update: late nodes take the image from peers, not from the origin")
    func rolling() {
        var c = Self.configuration(nodes: 6, mib: 32)
        c.stagger = .seconds(3)
        var sim = Simulation(c)
        let r = sim.run()
        #expect(r.incomplete == 0)
        #expect(r.originRatio < 1.15, "origin \(r.originRatio)")
        #expect(r.summary.max < 1.5, "each node near one node's bound: \(r.summary.max)")
    }
}
