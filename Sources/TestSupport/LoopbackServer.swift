import Certificates
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import OCI

/// A Hummingbird server on 127.0.0.1 (or another address of this machine) with a
/// kernel-chosen port, for tests: token servers, redirecting storage hosts, misbehaving
/// registries.
public final class LoopbackServer: Sendable {
    public let host: String
    public let port: Int
    private let task: Task<Void, any Error>

    /// Starts the server; with `tls` (PEM certificate chain and key) it speaks HTTPS. On
    /// `port` when given (a server that comes up late at an address a client already has).
    public static func start<Context: RequestContext>(
        router: Router<Context>, host: String = "127.0.0.1", port requested: Int = 0, tls: (certificatePEM: String, keyPEM: String)? = nil
    ) async throws -> LoopbackServer
    where Context.Source == ApplicationRequestContextSource {
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "peerpull.test.loopback")
        logger.logLevel = .critical  // cancellation at stop() is logged as an error
        var server: HTTPServerBuilder = .http1()
        if let tls {
            server = try .tls(.http1(), tlsConfiguration: TLSServerIdentity.configuration(certificatePEM: tls.certificatePEM, privateKeyPEM: tls.keyPEM))
        }
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(host, port: requested), serverName: "peerpull-test"),
            onServerRunning: { channel in
                continuation.yield(channel.localAddress?.port ?? 0)
                continuation.finish()
            },
            logger: logger
        )
        let task = Task { try await app.run() }
        var port = 0
        for await p in stream { port = p }
        guard port > 0 else {
            task.cancel()
            throw TestSupportError("loopback server did not start")
        }
        return LoopbackServer(host: host, port: port, task: task)
    }

    private init(host: String, port: Int, task: Task<Void, any Error>) {
        self.host = host
        self.port = port
        self.task = task
    }

    public var baseURL: String { "http://\(host):\(port)" }

    public func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}
