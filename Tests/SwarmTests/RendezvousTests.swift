import OCI
import Swarm
import Testing

@Suite("Rendezvous hashing of coordinators")
struct RendezvousTests {
    static let members = (0..<50).map { Member(node: "node-\($0)", address: "198.18.0.\($0 + 1)") }
    static let digests = (0..<1000).map { Digest.compute(of: Array("blob \($0)".utf8)) }

    @Test func everyAgentComputesTheSameCoordinators() throws {
        let d = Self.digests[0]
        let a = Rendezvous.coordinators(for: d, among: Self.members, count: 3)
        let b = Rendezvous.coordinators(for: d, among: Self.members.reversed(), count: 3)
        #expect(a.count == 3 && a == b, "independent of the order members are listed in")
        #expect(Rendezvous.coordinators(for: d, among: Self.members.prefix(2), count: 3).count == 2)
        #expect(Rendezvous.coordinators(for: d, among: [Member](), count: 3).isEmpty)
        // The weight is a pure function of its inputs: this value is the same in every process.
        #expect(Rendezvous.top(1, of: Self.members, for: "sha256:0")[0].node == Rendezvous.top(1, of: Self.members.shuffled(), for: "sha256:0")[0].node)
    }

    @Test func aLeavingMemberMovesOnlyTheBlobsItCoordinated() throws {
        let before = Self.digests.map { Rendezvous.coordinators(for: $0, among: Self.members, count: 3) }
        let gone = Self.members[17]
        let rest = Self.members.filter { $0 != gone }
        var moved = 0
        for (i, d) in Self.digests.enumerated() {
            let after = Rendezvous.coordinators(for: d, among: rest, count: 3)
            if before[i].contains(gone) {
                // The other two stay, in order; one new member takes the third place.
                #expect(after.filter { before[i].contains($0) } == before[i].filter { $0 != gone })
                moved += 1
            } else {
                #expect(after == before[i])
            }
        }
        // About R/N = 3/50 of the blobs had it among their coordinators.
        #expect((30...90).contains(moved), "\(moved)")
    }

    @Test func theLoadIsSpreadOverTheMembers() throws {
        var load: [String: Int] = [:]
        for d in Self.digests { for m in Rendezvous.coordinators(for: d, among: Self.members, count: 3) { load[m.node, default: 0] += 1 } }
        // 3,000 places over 50 members: 60 each on average.
        #expect(load.count == 50)
        #expect(load.values.min()! >= 30 && load.values.max()! <= 100, "\(load.values.sorted())")
    }
}
