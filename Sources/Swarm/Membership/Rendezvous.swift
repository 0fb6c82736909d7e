import OCI

/// Rendezvous (highest-random-weight) hashing: every agent computes, from the same
/// membership, the same top-R members for a blob, with no coordination service. When a
/// member joins or leaves, only the blobs whose top R it enters or leaves move (about
/// R/N of them), so coordinator state is rebuilt for few blobs.
///
/// The weight must be identical in every process, so it is not Swift's `Hasher` (seeded
/// per process) but FNV-1a over the digest and the node name, finished with the
/// SplitMix64 mixer so that close names do not get close weights.
public enum Rendezvous {
    /// The `count` members with the highest weight for `key`, best first.
    public static func top(_ count: Int, of members: some Collection<Member>, for key: String) -> [Member] {
        guard count > 0 else { return [] }
        let seed = fnv1a(key.utf8, 0xcbf2_9ce4_8422_2325)
        var best: [(weight: UInt64, member: Member)] = []
        best.reserveCapacity(count + 1)
        for m in members {
            let w = weight(seed: seed, node: m.node)
            // A partial insertion sort: O(N·R) with R small (3), no sort of all N.
            if best.count == count, let last = best.last, !(w > last.weight || (w == last.weight && m.node < last.member.node)) { continue }
            let at = best.firstIndex { w > $0.weight || (w == $0.weight && m.node < $0.member.node) } ?? best.count
            best.insert((w, m), at: at)
            if best.count > count { best.removeLast() }
        }
        return best.map(\.member)
    }

    /// The coordinators of blob `digest`.
    public static func coordinators(for digest: Digest, among members: some Collection<Member>, count: Int) -> [Member] {
        top(count, of: members, for: digest.description)
    }

    static func weight(seed: UInt64, node: String) -> UInt64 {
        mix(fnv1a(node.utf8, seed ^ 0x9e37_79b9_7f4a_7c15))
    }

    static func fnv1a(_ bytes: some Sequence<UInt8>, _ start: UInt64) -> UInt64 {
        var h = start
        for b in bytes {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01b3
        }
        return h
    }

    /// SplitMix64's step and finalizer: `x` advanced by the golden ratio, its bits mixed
    /// (also the simulator's seedable generator).
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
