import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OCI
import Swarm

/// Requests to other agents' peer ports, each signed with the cluster secret.
public struct PeerClient: Sendable {
    public let http: HTTPClient
    public let credential: PeerCredential
    public let me: Member
    let pieces: PeerPieceClient

    public init(http: HTTPClient, credential: PeerCredential, me: Member) {
        self.http = http
        self.pieces = PeerPieceClient()
        self.credential = credential
        self.me = me
    }

    public enum Failure: Error, CustomStringConvertible {
        case status(Int, String)
        /// A coordinator refused the announcement, busy, asking for announcements no more
        /// often than `announceEvery` (its pace: `CoordinatorAnswer.announceEvery`).
        case busy(announceEvery: Duration)

        public var description: String {
            switch self {
            case .status(let s, let body): "peer answered \(s): \(body.prefix(200))"
            case .busy(let every): "coordinator busy; announce again in \(every)"
            }
        }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    public func announce(_ a: Announcement, to coordinator: Member, timeout: Duration) async throws -> CoordinatorAnswer {
        let body = PeerMessages.encode(a)
        let path = PeerServer.announcePath
        var request = HTTPClientRequest(url: "http://\(coordinator.endpoint)\(path)")
        request.method = .POST
        let nonce = PeerCredential.nonce()
        request.headers.add(name: "Authorization", value: credential.authorization(method: "POST", path: path, body: body, node: me.node,
                                                                                   to: coordinator.node, nonce: nonce, now: Self.now()))
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await http.execute(request, timeout: TimeAmount(timeout))
        let data = try await response.body.collect(upTo: PeerMessages.maximumBytes)
        if response.status == .serviceUnavailable, let every = response.headers.first(name: PeerServer.announceEveryHeader).flatMap(Int.init) {
            throw Failure.busy(announceEvery: .milliseconds(min(max(every, 0), 5_000)))
        }
        guard response.status == .ok else { throw Failure.status(Int(response.status.code), String(buffer: data)) }
        // Only the coordinator asked, answering this request, can have signed it.
        try credential.verifyAnswer(response.headers.first(name: PeerCredential.answerHeader), nonce: nonce, responder: coordinator.node,
                                    body: data.readableBytesView)
        return try PeerMessages.decodeAnswer(Data(data.readableBytesView))
    }

    /// Exactly the bytes of piece `index` of `blob`, as `layout` cuts it, and their SHA-256
    /// (the caller checks it against the piece's published hash).
    func piece(_ index: Int, of blob: Digest, layout: PieceLayout, from peer: Member, into pool: BufferPool?,
               timeout: Duration) async throws -> (ByteBuffer, PieceHash) {
        let path = PeerServer.piecePath(blob, index: index, layout: layout)
        return try await pieces.get(host: peer.address, port: peer.peerPort, path: path,
                                    authorization: credential.authorization(method: "GET", path: path, node: me.node, to: peer.node, now: Self.now()),
                                    length: layout.length(of: index), into: pool, timeout: timeout)
    }

    /// What a failed piece request means for the scheduler, and whether the peer seems gone
    /// (reported to the coordinator, which drops a reported holder that is also silent).
    /// A slow peer is not gone: a busy seeder reported as unreachable would lose its holdings.
    static func classify(_ error: any Error) -> (failure: PieceScheduler.Failure, unreachable: Bool) {
        switch (error as? PeerPieceClient.Failure)?.kind {
        case .status(503): (.busy, false)
        case .status(let code) where code < 500: (.refused, false)
        case .status, .timeout, .short: (.failed, false)
        case .connection, .closedBeforeAnswer, nil: (.failed, true)
        }
    }

    /// A failed piece request's kind, for the metrics.
    static func reason(_ error: any Error) -> String {
        switch (error as? PeerPieceClient.Failure)?.kind {
        case .status(let code): code == 404 ? "refused" : code == 503 ? "busy" : "status"
        case .timeout: "timeout"
        case .short: "short"
        case .connection, .closedBeforeAnswer: "connection"
        case nil: "other"
        }
    }

    public func shutdown() { pieces.shutdown() }
}
