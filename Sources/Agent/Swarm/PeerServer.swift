import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import OCI
import Swarm
import Synchronization

/// The peer port: the coordinator's announcements and other agents' piece requests.
/// Every request must carry a `PeerCredential` signature by an agent of the cluster,
/// checked from the request's head: a request without one, or with a forged one, gets a
/// 401 and its connection is closed before a byte of its body is read. Bodies are bounded
/// by what each route needs (none for a piece, `PeerMessages.maximumBytes` for an
/// announcement), connections by `PeerPortLimits`, and refusals are logged as counts.
///
/// Plain NIO rather than Hummingbird, for one reason: a piece leaves the cache file for
/// the socket with `sendfile` (a `FileRegion`), never copied through the agent's
/// memory, and Hummingbird's response bodies are byte buffers only.
public final class PeerServer: Sendable {
    public let credential: PeerCredential
    /// This agent's node name: requests must be signed for it, and answers are signed by it.
    public let node: String
    private let replays = Mutex(ReplayGuard())
    public let coordinator: SwarmCoordinator
    public let cache: BlobCache
    public let bucket: TokenBucket?
    public let metrics: AgentMetrics
    /// Test-only fault injection: every piece served to a peer has one byte flipped.
    let corruptPieces: Bool
    /// Pieces sent at once, at most; a request beyond them is answered 503 at once, and
    /// the asking agent turns to another holder. Without a bound every agent's requests
    /// queue on the best-stocked uplinks, time out and go to the origin.
    /// Why 8: docs/decisions/swarm-tuning.md#upload-slots.
    /// Of those, each asking agent may hold an equal share among the agents that asked
    /// lately (`UploadSlots`).
    let uploadSlots: Int
    private let uploading: Mutex<UploadSlots>
    /// Announcements taken and not yet answered (`SwarmCadence.coordinatorQueue`).
    private let waitingAnnouncements = Atomic<Int>(0)
    let coordinatorQueue: Int
    private let epoch = ContinuousClock.now
    let logger: Logger
    let gate: PeerConnectionGate
    private let refusals = Mutex(RefusalTally())

    public static let announcePath = "/swarm/v1/announce"
    /// With a busy coordinator's 503: the least milliseconds between announcements it asks for.
    public static let announceEveryHeader = "PeerPull-Announce-Every"
    /// A piece whose rate-limit wait is longer gets its head at once, its bytes after the wait.
    static var headFirstAfter: Duration { .milliseconds(250) }
    /// Idle connections from peers are closed after this long.
    static var idleTimeout: TimeAmount { .seconds(120) }

    public static func piecePath(_ blob: Digest, index: Int, layout: PieceLayout) -> String {
        "/swarm/v1/blobs/\(blob)/pieces/\(index)?size=\(layout.size)&pieceSize=\(layout.pieceSize)"
    }

    public init(credential: PeerCredential, node: String, coordinator: SwarmCoordinator, cache: BlobCache, bucket: TokenBucket?,
                metrics: AgentMetrics, corruptPieces: Bool = false, uploadSlots: Int = UploadSlots.defaultSlots,
                coordinatorQueue: Int = SwarmCadence.coordinatorQueue, limits: PeerPortLimits = PeerPortLimits(), logger: Logger) {
        self.credential = credential
        self.node = node
        self.coordinator = coordinator
        self.cache = cache
        self.bucket = bucket
        self.metrics = metrics
        self.corruptPieces = corruptPieces
        self.uploadSlots = uploadSlots
        self.uploading = Mutex(UploadSlots(slots: uploadSlots))
        self.coordinatorQueue = coordinatorQueue
        self.gate = PeerConnectionGate(limits: limits)
        self.logger = logger
    }

    /// Counts a refused request or connection; logs the counts at most once a minute.
    func refused(_ reason: String, from address: String) {
        metrics.peerRefused()
        let now = ContinuousClock.now - epoch
        guard let counts = refusals.withLock({ $0.record(reason, now: now) }) else { return }
        let total = counts.values.reduce(0, +)
        logger.notice("refused \(total) peer-port requests or connections since the last report (the peer port serves only this cluster's agents)", metadata: [
            "reasons": "\(counts.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))",
            "lastFrom": "\(address)", "connections": "\(gate.count)"])
    }

    /// Serves on `host:port` until the task is cancelled.
    public func run(host: String, port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                // Past the limits a connection is closed as it is accepted: no buffer, no read.
                let address = channel.remoteAddress?.ipAddress ?? "unknown"
                guard self.gate.admit(address) else {
                    self.refused("too many connections", from: address)
                    return channel.eventLoop.makeFailedFuture(ChannelError.inputClosed)
                }
                channel.closeFuture.whenComplete { _ in self.gate.release(address) }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(IdleStateHandler(readTimeout: Self.idleTimeout))
                    try sync.addHandler(PeerRequestHandler(server: self, address: address))
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
        /// `delay`: the rate limit's wait, past which the bytes follow the head.
        case file(NIOFileHandle, offset: Int64, length: Int, asker: String, delay: Duration)

        static func refuse(_ status: HTTPResponseStatus, _ message: String) -> Answer {
            .bytes(status, contentType: "text/plain", ByteBuffer(string: message + "\n"))
        }
    }

    /// The most body bytes a request may have: none but an announcement's.
    static func bodyLimit(method: HTTPMethod, path: Substring) -> Int {
        method == .POST && path == announcePath ? PeerMessages.maximumBytes : 0
    }

    /// Whether a request signed `signed` is seen for the first time (`ReplayGuard`).
    func firstUse(of signed: PeerCredential.Signed, now: Int64) -> Bool {
        replays.withLock { $0.admit(signed, window: credential.window, now: now) }
    }

    /// Answers a request whose head `asker` signed and whose body matched the signature.
    func answer(method: HTTPMethod, uri: String, signed: PeerCredential.Signed, body: ByteBuffer) async -> Answer {
        let asker = signed.node
        let path = uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri
        let bytes = Array(body.readableBytesView)
        if method == .POST, path == Self.announcePath {
            let announcement: Announcement
            do { announcement = try PeerMessages.decodeAnnouncement(Data(bytes)) } catch { return .refuse(.badRequest, "\(error)") }
            // An agent announces itself: a member named other than its signer is refused.
            guard announcement.member.node == asker else {
                return .refuse(.forbidden, "an announcement signed by \(asker.prefix(253)) names another member")
            }
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
            let answer = PeerMessages.encode(await coordinator.announce(announcement))
            return .bytes(.ok, contentType: "application/json", ByteBuffer(bytes: answer),
                          headers: [(PeerCredential.answerHeader, credential.answerSignature(nonce: signed.nonce, responder: node, body: answer))])
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
        // A short wait for the rate limit is taken here; past `headFirstAfter` the head goes
        // at once and the bytes follow (`PeerRequestHandler.respond`): the asker gives up on
        // a peer that sends no head within its answer timeout.
        var delay = await bucket?.reserve(Int(range.count)) ?? .zero
        if delay <= Self.headFirstAfter {
            if delay > .zero { try? await Task.sleep(for: delay) }
            delay = .zero
        }
        metrics.uploaded(Int(range.count))
        return .file(file, offset: range.lowerBound, length: Int(range.count), asker: asker, delay: delay)
    }

    private func takeSlot(for asker: String) -> Bool {
        let now = ContinuousClock.now - epoch
        return uploading.withLock { $0.take(for: asker, now: now) }
    }

    /// A piece answered with `.file` has been sent (or its connection is gone).
    func uploadDone(for asker: String) { uploading.withLock { $0.release(for: asker) } }
}

/// One request at a time per connection (NIO's server pipeline holds back pipelined
/// ones). The credential is checked at the head; a refused request is answered and its
/// connection closed without reading its body. A signed request's body is collected up to
/// its route's bound, checked against the signed hash, then answered.
private final class PeerRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    struct Request {
        var head: HTTPRequestHead
        var signed: PeerCredential.Signed?
        var limit: Int
        var body = ByteBuffer()
    }

    enum State {
        case idle
        case reading(Request)
        /// Answered early (refused, too large): the rest is dropped and the connection closed.
        case closing
    }

    let server: PeerServer
    let address: String
    private var state = State.idle
    private var busy = false
    private var signedOnce = false
    private var deadline: Scheduled<Void>?

    init(server: PeerServer, address: String) {
        self.server = server
        self.address = address
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // A connection that sends no signed request in time is closed.
        let limit = TimeAmount.nanoseconds(Int64(server.gate.limits.firstRequestDeadline.inSeconds * 1e9))
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: limit) {
            let (handler, context) = loopBound.value
            if !handler.signedOnce, context.channel.isActive {
                handler.server.refused("no signed request in time", from: handler.address)
                context.close(promise: nil)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard case .idle = state else { return }
            let path = head.uri.split(separator: "?", maxSplits: 1).first ?? ""
            if head.method == .GET, path == "/healthz" {
                signedOnce = true  // a health check is no attack: it is answered, not timed out
                state = .reading(Request(head: head, signed: nil, limit: 0))
                return
            }
            let signed: PeerCredential.Signed
            do throws(PeerCredential.Refusal) {
                let now = Int64(Date().timeIntervalSince1970)
                signed = try server.credential.verifyHead(head.headers.first(name: "authorization"), method: head.method.rawValue,
                                                          path: head.uri, me: server.node, now: now)
                guard server.firstUse(of: signed, now: now) else { throw PeerCredential.Refusal.replayed }
            } catch {
                server.refused(error.description, from: address)
                closeWith(context: context, .refuse(.unauthorized, error.description))
                return
            }
            signedOnce = true
            let limit = PeerServer.bodyLimit(method: head.method, path: path)
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > limit {
                closeWith(context: context, .refuse(.payloadTooLarge, "a body of \(length) bytes; this request takes at most \(limit)"))
                return
            }
            state = .reading(Request(head: head, signed: signed, limit: limit))
        case .body(var chunk):
            guard case .reading(var request) = state else { return }
            guard request.body.readableBytes + chunk.readableBytes <= request.limit else {
                closeWith(context: context, .refuse(.payloadTooLarge, "this request takes at most \(request.limit) body bytes"))
                return
            }
            state = .idle  // no copy of the body while it grows
            request.body.writeBuffer(&chunk)
            state = .reading(request)
        case .end:
            guard case .reading(let request) = state else { return }
            state = .idle
            busy = true
            let keepAlive = request.head.isKeepAlive
            guard let signed = request.signed else {
                respond(context: context, .bytes(.ok, contentType: "text/plain", ByteBuffer(string: "ok")), keepAlive: keepAlive)
                return
            }
            guard signed.matches(body: request.body.readableBytesView) else {
                server.refused(PeerCredential.Refusal.bodyMismatch.description, from: address)
                closeWith(context: context, .refuse(.unauthorized, PeerCredential.Refusal.bodyMismatch.description))
                return
            }
            let server = self.server, head = request.head, body = request.body
            context.eventLoop.makeFutureWithTask {
                await server.answer(method: head.method, uri: head.uri, signed: signed, body: body)
            }.assumeIsolated().whenSuccess { [weak self] answer in
                guard let self else {
                    if case .file(let f, _, _, let asker, _) = answer {
                        try? f.close()
                        server.uploadDone(for: asker)
                    }
                    return
                }
                self.respond(context: context, answer, keepAlive: keepAlive)
            }
        }
    }

    /// Answers at once and closes the connection; what else arrives on it is dropped.
    private func closeWith(context: ChannelHandlerContext, _ answer: PeerServer.Answer) {
        state = .closing
        respond(context: context, answer, keepAlive: false)
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
        case .file(let file, let offset, let length, let asker, let delay):
            headers.add(name: "Content-Type", value: "application/octet-stream")
            headers.add(name: "Content-Length", value: String(length))
            let region = FileRegion(fileHandle: file, readerIndex: Int(offset), endIndex: Int(offset) + length)
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            let sent = context.eventLoop.makePromise(of: Void.self)
            func sendBytes() {
                context.write(wrapOutboundOut(.body(.fileRegion(region))), promise: nil)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: sent)
            }
            if delay == .zero {
                sendBytes()
            } else {
                // The head at once: the asker gives up on a peer that sends no head within its
                // answer timeout (a stopped or wedged agent). The bytes follow the rate limit.
                context.flush()
                context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) { sendBytes() }
            }
            done = sent.futureResult
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
