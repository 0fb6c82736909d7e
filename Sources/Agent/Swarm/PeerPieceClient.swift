import Crypto
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Swarm

/// Piece downloads from other agents over kept-alive HTTP/1.1 connections, on NIO
/// directly rather than AsyncHTTPClient.
///
/// At 100 Mbit/s a piece trickles in a few packets per socket wake-up, and what a
/// wake-up costs (the read, the HTTP parser, a hand-off to a Swift task per chunk) was
/// most of the agent's CPU. Here the body is copied into the piece's buffer and hashed
/// on the event loop as it arrives, with no task hop, and `SO_RCVLOWAT` asks the kernel
/// to wake the loop only once a good part of the rest of the piece (at most
/// `wakeBytes`) has arrived: the body length is known, so the last bytes never wait.
final class PeerPieceClient: Sendable {
    struct Failure: Error, CustomStringConvertible {
        enum Kind: Equatable { case status(Int), short, connection, timeout, closedBeforeAnswer }
        let kind: Kind
        let detail: String
        var description: String { detail }
    }

    let group: any EventLoopGroup
    /// The most bytes the kernel collects before it wakes the reader.
    let wakeBytes: Int
    /// Idle connections kept per peer.
    let idlePerPeer: Int
    /// A peer that sends no response head this long after the request is given up, whatever
    /// time the piece itself is allowed: an agent answers the head at once (busy, not held,
    /// or the piece's length before its bytes), so silence means it is stopped or wedged,
    /// while its kernel still accepts connections.
    let answerTimeout: Duration
    private let idle = NIOLockedValueBox<[String: [any Channel]]>([:])

    init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, wakeBytes: Int = 128 << 10, idlePerPeer: Int = 8,
         answerTimeout: Duration = .seconds(2)) {
        self.group = group
        self.wakeBytes = wakeBytes
        self.idlePerPeer = idlePerPeer
        self.answerTimeout = answerTimeout
    }

    /// GETs `path` from `host:port` and returns exactly `length` bytes with their SHA-256.
    func get(host: String, port: Int, path: String, authorization: String, length: Int, into pool: BufferPool?,
             timeout: Duration) async throws -> (ByteBuffer, PieceHash) {
        let key = "\(host):\(port)"
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        // A kept connection the peer has meanwhile closed fails before any byte: that
        // one is retried once on a new connection, so it never counts against the peer.
        if let channel = checkOut(key) {
            do { return try await request(on: channel, key: key, host: host, path: path, authorization: authorization, length: length, pool: pool, deadline: deadline) }
            catch let f as Failure where f.kind == .closedBeforeAnswer {}
        }
        let channel = try await connect(host: host, port: port, deadline: deadline)
        return try await request(on: channel, key: key, host: host, path: path, authorization: authorization, length: length, pool: pool, deadline: deadline)
    }

    func shutdown() {
        let all = idle.withLockedValue { map in defer { map = [:] }; return map.values.flatMap { $0 } }
        for c in all { c.close(promise: nil) }
    }

    private func checkOut(_ key: String) -> (any Channel)? {
        idle.withLockedValue { map in
            while let c = map[key]?.popLast() {
                if c.isActive { return c }
            }
            return nil
        }
    }

    private func checkIn(_ channel: any Channel, key: String) {
        let kept = idle.withLockedValue { map -> Bool in
            guard map[key, default: []].count < idlePerPeer else { return false }
            map[key, default: []].append(channel)
            return true
        }
        if !kept { channel.close(promise: nil) }
    }

    private func connect(host: String, port: Int, deadline: NIODeadline) async throws -> any Channel {
        let timeout = min(deadline - .now(), .seconds(2))
        do {
            return try await ClientBootstrap(group: group)
                .connectTimeout(max(timeout, .milliseconds(1)))
                .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(PieceResponseHandler())
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            throw Failure(kind: .connection, detail: "cannot connect to peer \(host):\(port): \(error)")
        }
    }

    private func request(on channel: any Channel, key: String, host: String, path: String, authorization: String,
                         length: Int, pool: BufferPool?, deadline: NIODeadline) async throws -> (ByteBuffer, PieceHash) {
        let promise = channel.eventLoop.makePromise(of: (ByteBuffer, PieceHash, Bool).self)
        let wake = wakeBytes
        let answerBy = min(deadline, .now() + TimeAmount(answerTimeout))
        channel.eventLoop.execute {
            do {
                let handler = try channel.pipeline.syncOperations.handler(type: PieceResponseHandler.self)
                var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
                head.headers.add(name: "Host", value: host.contains(":") ? "[\(host)]" : host)
                head.headers.add(name: "Authorization", value: authorization)
                let body = pool?.take(capacity: length) ?? channel.allocator.buffer(capacity: length)
                handler.start(head, length: length, into: body, wakeBytes: wake, answerBy: answerBy, deadline: deadline, promise: promise)
            } catch {
                promise.fail(error)
            }
        }
        do {
            let (buffer, hash, keepAlive) = try await promise.futureResult.get()
            if keepAlive { checkIn(channel, key: key) } else { channel.close(promise: nil) }
            return (buffer, hash)
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }
}

/// One piece request at a time on one connection: the response's body goes straight
/// into the piece's buffer and its hash.
private final class PieceResponseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private struct Pending {
        var promise: EventLoopPromise<(ByteBuffer, PieceHash, Bool)>
        var length: Int
        var wakeBytes: Int
        var body: ByteBuffer
        var hasher = SHA256()
        var status: HTTPResponseStatus?
        var keepAlive = true
        var error = ""
        var timer: Scheduled<Void>?
        var answerTimer: Scheduled<Void>?
    }

    private var pending: Pending?
    private var lowat = 1
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func start(_ head: HTTPRequestHead, length: Int, into body: ByteBuffer, wakeBytes: Int, answerBy: NIODeadline, deadline: NIODeadline,
               promise: EventLoopPromise<(ByteBuffer, PieceHash, Bool)>) {
        guard let context, pending == nil, context.channel.isActive else {
            promise.fail(PeerPieceClient.Failure(kind: .closedBeforeAnswer, detail: "connection closed before the request was sent"))
            return
        }
        let timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] () -> Void in
            guard let self else { return }
            self.finish(.failure(PeerPieceClient.Failure(kind: .timeout, detail: "peer sent no complete piece in time")))
        }
        let answerTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: answerBy) { [weak self] () -> Void in
            guard let self, self.pending?.status == nil else { return }
            self.finish(.failure(PeerPieceClient.Failure(kind: .timeout, detail: "peer did not answer the request in time")))
        }
        pending = Pending(promise: promise, length: length, wakeBytes: wakeBytes, body: body, timer: timer, answerTimer: answerTimer)
        // Woken by the first bytes (an error answer is short); by larger batches once the
        // head shows a piece is coming.
        setLowWatermark(1)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard pending != nil else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            pending!.status = head.status
            pending!.keepAlive = head.isKeepAlive
            if head.status == .ok, let declared = head.headers.first(name: "content-length").flatMap(Int.init), declared != pending!.length {
                finish(.failure(PeerPieceClient.Failure(kind: .short, detail: "peer announced \(declared) bytes for a piece of \(pending!.length)")))
            }
        case .body(var chunk):
            if pending!.status == .ok {
                guard pending!.body.readableBytes + chunk.readableBytes <= pending!.length else {
                    finish(.failure(PeerPieceClient.Failure(kind: .short, detail: "peer sent more than the piece's \(pending!.length) bytes")))
                    return
                }
                chunk.withUnsafeReadableBytes { pending!.hasher.update(bufferPointer: $0) }
                pending!.body.writeBuffer(&chunk)
                let rest = pending!.length - pending!.body.readableBytes
                if rest > 0 { setLowWatermark(min(rest, pending!.wakeBytes)) }
            } else if pending!.error.utf8.count < 512 {
                pending!.error += String(buffer: chunk)
            }
        case .end:
            let p = pending!
            guard p.status == .ok else {
                let code = Int(p.status?.code ?? 0)
                finish(.failure(PeerPieceClient.Failure(kind: .status(code), detail: "peer answered \(code): \(p.error.prefix(200))")))
                return
            }
            guard p.body.readableBytes == p.length else {
                finish(.failure(PeerPieceClient.Failure(kind: .short, detail: "peer sent \(p.body.readableBytes) of \(p.length) bytes")))
                return
            }
            setLowWatermark(1)
            finish(.success((p.body, PieceHash(p.hasher.finalize()), p.keepAlive)))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let received = pending?.status != nil
        finish(.failure(received ? PeerPieceClient.Failure(kind: .connection, detail: "peer closed the connection mid-piece")
                                 : PeerPieceClient.Failure(kind: .closedBeforeAnswer, detail: "peer closed the connection before it answered")))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(PeerPieceClient.Failure(kind: .connection, detail: "peer connection failed: \(error)")))
        context.close(promise: nil)
    }

    private func finish(_ result: Result<(ByteBuffer, PieceHash, Bool), any Error>) {
        guard let p = pending else { return }
        pending = nil
        p.timer?.cancel()
        p.answerTimer?.cancel()
        if case .failure = result { context?.close(promise: nil) }
        p.promise.completeWith(result)
    }

    /// `SO_RCVLOWAT`: the kernel reports the socket readable once this many bytes wait.
    private func setLowWatermark(_ bytes: Int) {
        guard let context, lowat != bytes else { return }
        lowat = bytes
        let option = ChannelOptions.Types.SocketOption(level: .socket, name: .init(rawValue: SO_RCVLOWAT))
        _ = try? context.channel.syncOptions?.setOption(option, value: SocketOptionValue(bytes))
    }
}
