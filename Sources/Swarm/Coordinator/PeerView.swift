/// A peer as the coordinator last heard from it.
public struct PeerView: Sendable, Equatable {
    public var member: Member
    public var have: PieceSet

    public init(member: Member, have: PieceSet) {
        self.member = member
        self.have = have
    }
}
