import HTTPTypes
import Hummingbird
import NIOCore

/// The front end's request context: Hummingbird's basic one plus the connection's event
/// loop, which `PacedResponses` waits on.
public struct AgentRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let eventLoop: any EventLoop

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.eventLoop = source.channel.eventLoop
    }
}

/// Makes every response body wait for its connection's event loop after each buffer.
///
/// NIO's async channel writer learns that a socket is full only once the connection's
/// event loop has run the previous write, so until then it accepts every buffer it is
/// given. On a busy node a blob stream read buffers faster than that and queued about
/// 12 MiB per connection (five parallel layer pulls took the agent from 40 to 100 MiB
/// RSS). Once the loop has run the write, the writer sees the socket's real state, so a
/// connection holds at most about two buffers. Waiting after the write rather than before
/// the next one also lets a stream reuse the buffer it just sent, which by then the
/// socket has usually released (waiting before cost 0.3-0.5 CPU s/GiB of fresh pages).
struct PacedResponses: RouterMiddleware {
    typealias Context = AgentRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        let body = response.body
        let eventLoop = context.eventLoop
        // The length is kept: a body without one would drop the Content-Length header.
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            try await body.write(PacedWriter(base: writer, eventLoop: eventLoop))
        }
        return response
    }

    struct PacedWriter: ResponseBodyWriter {
        var base: any ResponseBodyWriter
        let eventLoop: any EventLoop

        mutating func write(_ buffer: ByteBuffer) async throws {
            try await base.write(buffer)
            try await eventLoop.submit {}.get()
        }

        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
            try await base.finish(trailingHeaders)
        }
    }
}
