import Crypto
import NIOCore
import OCI
import OCIClient
import Swarm

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
