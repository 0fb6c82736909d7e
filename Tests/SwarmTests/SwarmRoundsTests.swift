import OCI
import Swarm
import Testing

/// The coordinator and the schedulers of several agents together, in rounds of 100 ms
/// with every transfer taking one round: the two state machines fit, every agent ends
/// with every piece, and the origin sends each piece once.
@Suite("Coordinator and schedulers in rounds")
struct SwarmRoundsTests {
    struct Transfer {
        var agent: Int
        var piece: Int
        var source: PieceScheduler.Source
        var due: SwarmInstant
    }

    static func run(agents n: Int, pieces: Int, lateJoiners: Int = 0) -> (originFetches: Int, rounds: Int, complete: Bool) {
        let layout = PieceLayout(size: Int64(pieces) << 20, pieceSize: 1 << 20)
        let blob = Digest.compute(of: Array("rounds".utf8))
        let members = (0..<(n + lateJoiners)).map { Member(node: "node-\($0)", address: "198.18.1.\($0 + 1)") }
        var coordinator = CoordinatorState()
        var agents = members.map { _ in PieceScheduler(layout: layout) }
        var published: [[Int: PieceHash]] = Array(repeating: [:], count: members.count)
        var transfers: [Transfer] = []
        var originFetches = 0
        let round = Duration.milliseconds(100)
        var now = SwarmInstant.zero
        for r in 0..<2000 {
            // Late joiners start once the first wave is done with a quarter of the blob.
            let active = r < 20 ? n : members.count
            for (i, t) in transfers.enumerated().reversed() where t.due <= now {
                transfers.remove(at: i)
                if case .peer(let m) = t.source {
                    let from = members.firstIndex(of: m)!
                    precondition(agents[from].have.contains(t.piece), "asked a peer for a piece it does not hold")
                } else {
                    published[t.agent][t.piece] = PieceHash(hashing: [UInt8(t.piece & 0xff)])
                }
                let more = agents[t.agent].pieceArrived(t.piece, from: t.source, now: now)
                transfers += start(more, agent: t.agent, now: now, round: round, origin: &originFetches)
            }
            for i in 0..<active where !agents[i].isComplete || r % 10 == 0 {
                let a = Announcement(blob: blob, layout: layout, member: members[i], have: agents[i].have,
                                     fetching: agents[i].fetching, hashes: published[i], wantHashes: agents[i].wantHashes)
                published[i] = [:]
                let answer = coordinator.announce(a, now: now)
                var actions = agents[i].coordinatorAnswered(answer, hashes: Array(answer.hashes.keys), now: now)
                actions += agents[i].tick(now: now)
                transfers += start(actions, agent: i, now: now, round: round, origin: &originFetches)
            }
            if agents.allSatisfy(\.isComplete) { return (originFetches, r, true) }
            now += round
        }
        return (originFetches, 2000, false)
    }

    static func start(_ actions: [PieceScheduler.Action], agent: Int, now: SwarmInstant, round: Duration, origin: inout Int) -> [Transfer] {
        var out: [Transfer] = []
        for case .fetch(let piece, let source) in actions {
            if source == .origin { origin += 1 }
            out.append(Transfer(agent: agent, piece: piece, source: source, due: now + round))
        }
        return out
    }

    @Test("eight agents at once: each piece leaves the origin once", arguments: [1, 2, 8])
    func coldRollout(agents: Int) throws {
        let r = Self.run(agents: agents, pieces: 40)
        #expect(r.complete)
        #expect(r.originFetches == 40, "\(r.originFetches) origin fetches for 40 pieces")
    }

    @Test func lateJoinersTakeEverythingFromPeers() throws {
        let r = Self.run(agents: 4, pieces: 24, lateJoiners: 4)
        #expect(r.complete)
        #expect(r.originFetches == 24)
    }
}
