/// Test-only fault injection: how an agent misbehaves toward its peers (hidden flags of
/// `peerpull agent`, used by the multi-node tests and benchmarks).
public struct PeerFaults: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Every piece sent to a peer has its first byte flipped.
    public static let corruptPieces = PeerFaults(rawValue: 1)
    /// A consistent liar: it also publishes, for each piece it takes from the origin, the
    /// hash of the flipped piece, so that what it sends matches what it published.
    public static let lyingHashes = PeerFaults(rawValue: 2)

    /// Whether pieces sent to peers are corrupted (either fault).
    var corruptsPieces: Bool { !isDisjoint(with: [.corruptPieces, .lyingHashes]) }
}
