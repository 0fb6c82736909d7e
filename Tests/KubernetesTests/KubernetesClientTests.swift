import Kubernetes
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import TestSupport
import Testing

/// The client's retries, its waits seen through an injected sleep.
@Suite("Kubernetes client")
struct KubernetesClientTests {
    /// Answers 503 to every request, as an API server does while its etcd is away.
    final class Unavailable: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let requests = Mutex(0)

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            requests.withLock { $0 += 1 }
            let body = #"{"kind":"Status","reason":"ServiceUnavailable","message":"etcd is away"}"#
            var head = HTTPResponseHead(version: .http1_1, status: .serviceUnavailable)
            head.headers.add(name: "Content-Length", value: String(body.utf8.count))
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    @Test("a 5xx is tried three times in all, 100 then 200 ms apart, and then reported with the server's reason")
    func serverErrorsAreRetriedWithABackoff() async throws {
        let handler = Unavailable()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { server.close(promise: nil) }
        let waits = Mutex<[Duration]>([])
        let client = try KubernetesClient(connection: KubernetesConnection(server: "http://127.0.0.1:\(server.localAddress!.port!)"),
                                          sleep: { d in waits.withLock { $0.append(d) } })
        do {
            let _: Secret = try await client.get("/api/v1/namespaces/default/secrets/x", timeout: .seconds(30))
            Issue.record("a 503 was taken for an answer")
        } catch {
            guard case .status(503, "ServiceUnavailable", _) = error else {
                Issue.record("expected the server's 503, got \(error)")
                await client.shutdown()
                return
            }
        }
        await client.shutdown()
        #expect(handler.requests.withLock { $0 } == 3)
        #expect(waits.withLock { $0 } == [.milliseconds(100), .milliseconds(200)])
    }
}
