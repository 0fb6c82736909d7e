import NIOCore
import OCI
import Swarm
import Synchronization

/// A source that holds one blob's bytes in memory: the twin of the origin and of a peer in
/// unit tests. It can be told to flip a byte of every piece (a corrupting peer) or to fail
/// every request with an error of the real sources' kinds; it counts what it was asked.
public final class InMemoryPieceSource: PieceSource {
    public enum Behaviour: Sendable { case serve, corrupt, fail(any Error) }

    let bytes: [UInt8]
    private let state: Mutex<(behaviour: Behaviour, asked: [Int])>

    public init(bytes: [UInt8], behaviour: Behaviour = .serve) {
        self.bytes = bytes
        self.state = Mutex((behaviour, []))
    }

    /// The pieces asked of it, in order.
    public var asked: [Int] { state.withLock { $0.asked } }

    public func behave(_ behaviour: Behaviour) { state.withLock { $0.behaviour = behaviour } }

    public func piece(_ index: Int, of blob: OCI.Digest, layout: PieceLayout, into pool: BufferPool, timeout: Duration) async throws -> (ByteBuffer, PieceHash) {
        let behaviour = state.withLock { s -> Behaviour in
            s.asked.append(index)
            return s.behaviour
        }
        let range = layout.range(of: index)
        guard range.upperBound <= Int64(bytes.count) else { throw PeerPieceClient.Failure(kind: .status(404), detail: "piece \(index) is not held here") }
        var piece = Array(bytes[Int(range.lowerBound)..<Int(range.upperBound)])
        switch behaviour {
        case .serve: break
        case .corrupt: piece[0] ^= 0xff
        case .fail(let error): throw error
        }
        var buffer = pool.take(capacity: piece.count)
        buffer.writeBytes(piece)
        // The hash of what was sent, as a peer client computes it: the download checks it
        // against the published one.
        return (buffer, PieceHash(hashing: piece))
    }
}
