import NIOCore
import OCI
import Swarm

/// Another agent: a signed request to its peer port (`PeerServer`).
public struct PeerPieceSource: PieceSource {
    let client: PeerClient
    let member: Member

    public init(client: PeerClient, member: Member) {
        self.client = client
        self.member = member
    }

    public func piece(_ index: Int, of blob: OCI.Digest, layout: PieceLayout, into pool: BufferPool, timeout: Duration) async throws -> (ByteBuffer, PieceHash) {
        try await client.piece(index, of: blob, layout: layout, from: member, into: pool, timeout: timeout)
    }
}
