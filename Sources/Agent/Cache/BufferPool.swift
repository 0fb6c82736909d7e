import NIOConcurrencyHelpers
import NIOCore

/// Piece-sized buffers used again rather than freed. The agent maps buffers above 256 KiB
/// one by one (see `AgentCommand`), and a fresh mapping is faulted in and zeroed page by
/// page as it is filled: with a new 1 MiB buffer per piece that was a tenth of the
/// agent's CPU in a swarm rollout.
///
/// A buffer given back may still be shared (a reader's slice of it, say); taking it
/// then costs a new allocation, never a write into memory someone else reads.
public final class BufferPool: Sendable {
    private let free = NIOLockedValueBox<[ByteBuffer]>([])
    /// Buffers kept at most; beyond that, given-back buffers are freed.
    let keep: Int

    public init(keep: Int) { self.keep = keep }

    /// An empty buffer with room for `capacity` bytes.
    public func take(capacity: Int) -> ByteBuffer {
        guard var buffer = free.withLockedValue({ $0.popLast() }) else { return ByteBufferAllocator().buffer(capacity: capacity) }
        buffer.clear(minimumCapacity: capacity)
        return buffer
    }

    public func give(_ buffer: consuming ByteBuffer) {
        let b = buffer
        free.withLockedValue { if $0.count < keep { $0.append(b) } }
    }
}
