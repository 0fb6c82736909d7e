import Hummingbird
import NIOCore

/// The front end's request context: Hummingbird's basic one plus the connection's event
/// loop, which paced response bodies wait on.
public struct AgentRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let eventLoop: any EventLoop

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.eventLoop = source.channel.eventLoop
    }
}

extension ResponseBody {
    /// A body streamed from `buffers` that never runs ahead of the connection.
    ///
    /// NIO's async channel writer learns that a socket is full only once the connection's
    /// event loop has run the previous write, so until then it accepts every buffer it is
    /// given. On a busy node a blob stream read buffers faster than that and queued
    /// about 12 MiB per connection (five parallel layer pulls took the agent from 40 to
    /// 100 MiB RSS). Waiting for the event loop after each buffer lets the writer see the
    /// socket's real state, so a connection holds at most about two buffers.
    static func paced<Buffers: AsyncSequence & Sendable>(_ buffers: Buffers, on eventLoop: any EventLoop) -> ResponseBody
    where Buffers.Element == ByteBuffer {
        ResponseBody { writer in
            for try await buffer in buffers {
                try await writer.write(buffer)
                try await eventLoop.submit {}.get()
            }
            try await writer.finish(nil)
        }
    }
}
