import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import OCI
import Swarm
import Synchronization

/// The peer port: the coordinator's announcements and other agents' piece requests.
/// Every request must carry a `PeerCredential` signature by an agent of the cluster; a
/// request without one, or with a forged one, gets a 401 and no byte.
///
/// Plain NIO rather than Hummingbird, for one reason: a piece leaves the cache file for
/// the socket with `sendfile` (a `FileRegion`), never copied through the agent's
/// memory, and Hummingbird's response bodies are byte buffers only.
public final class PeerServer: Sendable {
    public let credential: PeerCredential
    public let coordinator: SwarmCoordinator
    public let cache: BlobCache
    public let bucket: TokenBucket?
    public let metrics: AgentMetrics
    /// Test-only fault injection: every piece served to a peer has one byte flipped.
    let corruptPieces: Bool
    /// Pieces sent at once, at most; a request beyond them is answered 503 at once, and
    /// the asking agent turns to another holder. Without a bound every agent's requests
    /// queue on the best-stocked uplinks (at N = 16, 60 pieces deep, 10 s at 50 Mbit/s),
    /// time out and go to the origin. (`UploadSlots.defaultSlots` says why 8.)
    /// Of those, each asking agent may hold an equal share among the agents that asked
    /// lately (`UploadSlots`).
    let uploadSlots: Int
    private let uploading: Mutex<UploadSlots>
    /// Announcements taken and not yet answered (`SwarmCadence.coordinatorQueue`).
    private let waitingAnnouncements = Atomic<Int>(0)
    let coordinatorQueue: Int
    private let epoch = ContinuousClock.now
    let logger: Logger

    public static let announcePath = "/swarm/v1/announce"
    /// With a busy coordinator's 503: the least milliseconds between announcements it asks for.
    public static let announceEveryHeader = "PeerPull-Announce-Every"
    /// Idle connections from peers are closed after this long.
    static var idleTimeout: TimeAmount { .seconds(120) }

    public static func piecePath(_ blob: Digest, index: Int, layout: PieceLayout) -> String {
        "/swarm/v1/blobs/\(blob)/pieces/\(index)?size=\(layout.size)&pieceSize=\(layout.pieceSize)"
    }

    public init(credential: PeerCredential, coordinator: SwarmCoordinator, cache: BlobCache, bucket: TokenBucket?,
                metrics: AgentMetrics, corruptPieces: Bool = false, uploadSlots: Int = UploadSlots.defaultSlots,
                coordinatorQueue: Int = SwarmCadence.coordinatorQueue, logger: Logger) {
        self.credential = credential
        self.coordinator = coordinator
        self.cache = cache
        self.bucket = bucket
        self.metrics = metrics
        self.corruptPieces = corruptPieces
        self.uploadSlots = uploadSlots
        self.uploading = Mutex(UploadSlots(slots: uploadSlots))
        self.coordinatorQueue = coordinatorQueue
        self.logger = logger
    }

    /// Serves on `host:port` until the task is cancelled.
    public func run(host: String, port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(IdleStateHandler(readTimeout: Self.idleTimeout))
                    try sync.addHandler(PeerRequestHandler(server: self))
                }
            }
            .bind(host: host, port: port).get()
        logger.debug("peer port listening", metadata: ["address": "\(host):\(port)"])
        try await withTaskCancellationHandler {
            try await channel.closeFuture.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    /// What to send back.
    enum Answer: Sendable {
        case bytes(HTTPResponseStatus, contentType: String, ByteBuffer, headers: [(String, String)] = [])
        /// A piece sent from the cache file; `asker`'s upload slot is freed once it is sent.
        case file(NIOFileHandle, offset: Int64, length: Int, asker: String)

        static func refuse(_ status: HTTPResponseStatus, _ message: String) -> Answer {
            .bytes(status, contentType: "text/plain", ByteBuffer(string: message + "\n"))
        }
    }

    func answer(method: HTTPMethod, uri: String, authorization: String?, body: ByteBuffer) async -> Answer {
        let path = uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri
        if method == .GET, path == "/healthz" { return .bytes(.ok, contentType: "text/plain", ByteBuffer(string: "ok")) }
        let bytes = Array(body.readableBytesView)
        let asker: String
        do {
            asker = try credential.verify(authorization, method: method.rawValue, path: uri, body: bytes, now: Int64(Date().timeIntervalSince1970))
        } catch {
            metrics.peerRefused()
            logger.info("refused a peer-port request", metadata: ["path": "\(uri.prefix(200))", "why": "\(error)"])
            return .refuse(.unauthorized, error.description)
        }
        if method == .POST, path == Self.announcePath {
            let announcement: Announcement
            do { announcement = try PeerMessages.decodeAnnouncement(Data(bytes)) } catch { return .refuse(.badRequest, "\(error)") }
            // Past the queue's bound an answer would come after its asker gave up: refused
            // at once, so that the coordinator's memory and latency stay bounded.
            let waiting = waitingAnnouncements.wrappingAdd(1, ordering: .relaxed).newValue
            defer { waitingAnnouncements.wrappingSubtract(1, ordering: .relaxed) }
            guard waiting <= coordinatorQueue else {
                metrics.announcementHandled(shed: true)
                if !announcement.have.isFull { coordinator.refusedFetching() }
                let every = Int(coordinator.announceEvery.inSeconds * 1000)
                return .bytes(.serviceUnavailable, contentType: "text/plain",
                              ByteBuffer(string: "coordinator busy: \(waiting - 1) announcements waiting; announce again in \(every) ms\n"),
                              headers: [(Self.announceEveryHeader, String(every))])
            }
            metrics.announcementHandled(shed: false)
            let answer = await coordinator.announce(announcement)
            return .bytes(.ok, contentType: "application/json", ByteBuffer(bytes: PeerMessages.encode(answer)))
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard method == .GET, parts.count == 7, parts[1] == "swarm", parts[2] == "v1", parts[3] == "blobs", parts[5] == "pieces" else {
            return .refuse(.notFound, "no such peer endpoint: \(method) \(path.prefix(200))")
        }
        var query: [Substring: Substring] = [:]
        if let q = uri.split(separator: "?", maxSplits: 1).dropFirst().first {
            for pair in q.split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                if kv.count == 2 { query[kv[0]] = kv[1] }
            }
        }
        guard let digest = try? Digest(parsing: String(parts[4])), let index = Int(parts[6]),
              let size = query["size"].flatMap({ Int64($0) }), let pieceSize = query["pieceSize"].flatMap({ Int($0) }),
              let layout = PieceLayout(validatingSize: size, pieceSize: pieceSize), index >= 0, index < layout.count
        else { return .refuse(.badRequest, "expected /swarm/v1/blobs/<digest>/pieces/<index>?size=&pieceSize=") }
        let range = layout.range(of: index)
        let notHeld = Answer.refuse(.notFound, "piece \(index) of \(digest) is not held here")
        if corruptPieces {
            guard var bytes = await cache.piece(digest, range: range) else { return notHeld }
            if let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) { bytes.setInteger(first ^ 0xff, at: bytes.readerIndex) }
            try? await bucket?.acquire(bytes.readableBytes)
            metrics.uploaded(bytes.readableBytes)
            return .bytes(.ok, contentType: "application/octet-stream", bytes)
        }
        guard takeSlot(for: asker) else { return .refuse(.serviceUnavailable, "busy: sending \(uploadSlots) pieces already, or this agent's share") }
        guard let file = await cache.pieceFile(digest, range: range) else {
            uploadDone(for: asker)
            return notHeld
        }
        try? await bucket?.acquire(Int(range.count))
        metrics.uploaded(Int(range.count))
        return .file(file, offset: range.lowerBound, length: Int(range.count), asker: asker)
    }

    private func takeSlot(for asker: String) -> Bool {
        let now = ContinuousClock.now - epoch
        return uploading.withLock { $0.take(for: asker, now: now) }
    }

    /// A piece answered with `.file` has been sent (or its connection is gone).
    func uploadDone(for asker: String) { uploading.withLock { $0.release(for: asker) } }
}

/// One request at a time per connection (NIO's server pipeline holds back pipelined
/// ones): the body is collected, bounded, then answered.
private final class PeerRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let server: PeerServer
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var tooLarge = false
    private var busy = false

    init(server: PeerServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body.clear()
            tooLarge = false
        case .body(var chunk):
            if body.readableBytes + chunk.readableBytes > PeerMessages.maximumBytes { tooLarge = true } else { body.writeBuffer(&chunk) }
        case .end:
            guard let head else { return }
            self.head = nil
            busy = true
            let keepAlive = head.isKeepAlive
            if tooLarge {
                respond(context: context, .refuse(.payloadTooLarge, "request larger than \(PeerMessages.maximumBytes) bytes"), keepAlive: false)
                return
            }
            let server = self.server, body = self.body
            let authorization = head.headers.first(name: "authorization")
            context.eventLoop.makeFutureWithTask {
                await server.answer(method: head.method, uri: head.uri, authorization: authorization, body: body)
            }.assumeIsolated().whenSuccess { [weak self] answer in
                guard let self else {
                    if case .file(let f, _, _, let asker) = answer {
                        try? f.close()
                        server.uploadDone(for: asker)
                    }
                    return
                }
                self.respond(context: context, answer, keepAlive: keepAlive)
            }
        }
    }

    private func respond(context: ChannelHandlerContext, _ answer: PeerServer.Answer, keepAlive: Bool) {
        var headers = HTTPHeaders()
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let done: EventLoopFuture<Void>
        switch answer {
        case .bytes(let status, let type, let bytes, let extra):
            headers.add(name: "Content-Type", value: type)
            for (name, value) in extra { headers.add(name: name, value: value) }
            headers.add(name: "Content-Length", value: String(bytes.readableBytes))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil)
            done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        case .file(let file, let offset, let length, let asker):
            headers.add(name: "Content-Type", value: "application/octet-stream")
            headers.add(name: "Content-Length", value: String(length))
            let region = FileRegion(fileHandle: file, readerIndex: Int(offset), endIndex: Int(offset) + length)
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.fileRegion(region))), promise: nil)
            done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            let server = self.server
            done.whenComplete { _ in
                try? file.close()
                server.uploadDone(for: asker)
            }
        }
        busy = false
        if !keepAlive { done.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent, !busy {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
