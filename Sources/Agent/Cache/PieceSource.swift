import NIOCore
import OCI
import Swarm

/// Where the bytes of one piece come from: the origin registry by `Range`
/// (`OriginPieceSource`) or another agent's peer port (`PeerPieceSource`). The piece
/// download asks a source per request and checks what comes back against the piece's
/// published hash (from a peer) or publishes it (from the origin); `InMemoryPieceSource`
/// stands in for either in unit tests.
public protocol PieceSource: Sendable {
    /// Exactly the bytes of piece `index` of `blob` as `layout` cuts it, in a buffer taken
    /// from `pool`, and their SHA-256. Throws when the source fails or sends anything but
    /// that many bytes (`PeerClient.classify` says what a failure means to the scheduler).
    func piece(_ index: Int, of blob: OCI.Digest, layout: PieceLayout, into pool: BufferPool, timeout: Duration) async throws -> (ByteBuffer, PieceHash)
}
