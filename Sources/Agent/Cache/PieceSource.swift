import Crypto
import NIOCore
import OCI
import OCIClient
import Swarm
import Synchronization

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

/// The origin: one `Range` request per piece through the registry client, with the
/// credentials of the client that started the download.
public struct OriginPieceSource: PieceSource {
    let fetch: @Sendable (ByteRange?) async throws -> BlobResponse

    public init(fetch: @escaping @Sendable (ByteRange?) async throws -> BlobResponse) { self.fetch = fetch }

    public func piece(_ index: Int, of blob: OCI.Digest, layout: PieceLayout, into pool: BufferPool, timeout: Duration) async throws -> (ByteBuffer, PieceHash) {
        let range = layout.range(of: index)
        let length = Int(range.count)
        let response = try await fetch(.closed(first: range.lowerBound, last: range.upperBound - 1))
        guard response.status == 206, response.contentRange?.first == range.lowerBound else {
            throw RegistryError.invalidResponse(registry: "origin", detail: "answered \(response.status) to a piece's Range")
        }
        var buffer = pool.take(capacity: length)
        // Hashed as it arrives, while the bytes are in the CPU's cache.
        var hasher = SHA256()
        for try await var chunk in response.body {
            guard buffer.readableBytes + chunk.readableBytes <= length else {
                throw RegistryError.invalidResponse(registry: "origin", detail: "sent more than the piece")
            }
            chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
            buffer.writeBuffer(&chunk)
        }
        guard buffer.readableBytes == length else {
            throw RegistryError.invalidResponse(registry: "origin", detail: "sent \(buffer.readableBytes) of \(length) bytes")
        }
        return (buffer, PieceHash(hasher.finalize()))
    }
}

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