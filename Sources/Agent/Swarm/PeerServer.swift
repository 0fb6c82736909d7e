import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OCI
import Swarm

/// The peer port: the coordinator's announcements and other agents' piece requests.
/// Every request must carry a `PeerCredential` signature by an agent of the cluster; a
/// request without one, or with a forged one, gets a 401 and no byte.
public struct PeerServer: Sendable {
    public let credential: PeerCredential
    public let coordinator: SwarmCoordinator
    public let cache: BlobCache
    public let bucket: TokenBucket?
    public let metrics: AgentMetrics
    /// Test-only fault injection: every piece served to a peer has one byte flipped.
    public var corruptPieces = false
    let logger: Logger

    public static let announcePath = "/swarm/v1/announce"

    public static func piecePath(_ blob: Digest, index: Int, layout: PieceLayout) -> String {
        "/swarm/v1/blobs/\(blob)/pieces/\(index)?size=\(layout.size)&pieceSize=\(layout.pieceSize)"
    }

    public init(credential: PeerCredential, coordinator: SwarmCoordinator, cache: BlobCache, bucket: TokenBucket?,
                metrics: AgentMetrics, logger: Logger) {
        self.credential = credential
        self.coordinator = coordinator
        self.cache = cache
        self.bucket = bucket
        self.metrics = metrics
        self.logger = logger
    }

    public func register(on router: Router<some RequestContext>) {
        router.get("/healthz") { _, _ in "ok" }
        router.post(RouterPath(stringLiteral: Self.announcePath)) { request, _ -> Response in
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: PeerMessages.maximumBytes) } catch {
                return Self.refuse(.contentTooLarge, "announcement larger than \(PeerMessages.maximumBytes) bytes")
            }
            let bytes = Array(body.readableBytesView)
            if let refused = authorize(request, body: bytes) { return refused }
            let announcement: Announcement
            do { announcement = try PeerMessages.decodeAnnouncement(Data(bytes)) } catch { return Self.refuse(.badRequest, "\(error)") }
            let answer = await coordinator.announce(announcement)
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(bytes: PeerMessages.encode(answer))))
        }
        router.get("/swarm/v1/blobs/:digest/pieces/:index") { request, context -> Response in
            if let refused = authorize(request, body: []) { return refused }
            guard let digest = context.parameters.get("digest").flatMap({ try? Digest(parsing: $0) }),
                  let index = context.parameters.get("index").flatMap({ Int($0) }),
                  let size = request.uri.queryParameters.get("size").flatMap({ Int64($0) }),
                  let pieceSize = request.uri.queryParameters.get("pieceSize").flatMap({ Int($0) }),
                  let layout = PieceLayout(validatingSize: size, pieceSize: pieceSize), index >= 0, index < layout.count
            else { return Self.refuse(.badRequest, "expected /swarm/v1/blobs/<digest>/pieces/<index>?size=&pieceSize=") }
            guard var bytes = await cache.piece(digest, range: layout.range(of: index)) else {
                return Self.refuse(.notFound, "piece \(index) of \(digest) is not held here")
            }
            if corruptPieces, let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) {
                bytes.setInteger(first ^ 0xff, at: bytes.readerIndex)
            }
            try? await bucket?.acquire(bytes.readableBytes)
            metrics.uploaded(bytes.readableBytes)
            return Response(status: .ok, headers: [.contentType: "application/octet-stream", .contentLength: String(bytes.readableBytes)],
                            body: .init(byteBuffer: bytes))
        }
    }

    /// Nil when the request is signed by an agent; otherwise the 401 to send.
    func authorize(_ request: Request, body: [UInt8]) -> Response? {
        let target = request.uri.string
        do {
            _ = try credential.verify(request.headers[.authorization], method: request.method.rawValue, path: target, body: body,
                                      now: Int64(Date().timeIntervalSince1970))
            return nil
        } catch {
            metrics.peerRefused()
            logger.info("refused a peer-port request", metadata: ["path": "\(target.prefix(200))", "why": "\(error)"])
            return Self.refuse(.unauthorized, error.description)
        }
    }

    static func refuse(_ status: HTTPResponse.Status, _ message: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: message + "\n")))
    }
}
