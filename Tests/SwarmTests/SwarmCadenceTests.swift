import Swarm
import Testing

@Suite struct SwarmCadenceTests {
    @Test("refused downloads come back spread over one interval, not all at once")
    func refusedDownloadsAreSpread() {
        // 1,000 downloads refused at the same instant, told 2 s: their next announcements
        // fall over one whole interval, about as many in each tenth of it.
        var rng = SystemRandomNumberGenerator()
        var buckets = [Int](repeating: 0, count: 10)
        for _ in 0..<1_000 {
            let delay = SwarmCadence.delayAfterRefusal(announceEvery: .seconds(2), random: .random(in: 0..<1, using: &rng))
            #expect(delay >= .zero && delay < .seconds(2))
            buckets[Int(delay.inSeconds / 0.2)] += 1
        }
        #expect(buckets.allSatisfy { (40...170).contains($0) }, "per 200 ms: \(buckets)")
        // Told nothing, the spread is the agents' own interval.
        #expect(SwarmCadence.delayAfterRefusal(announceEvery: .zero, random: 0.5) == SwarmCadence.announceEvery / 2)
        #expect(SwarmCadence.delayAfterRefusal(announceEvery: .seconds(4), random: 7) == .seconds(4))
    }
}
