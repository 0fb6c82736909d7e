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

    public init(http: HTTPClient, credential: PeerCredential, me: Member) {
        self.http = http
        self.credential = credential
        self.me = me
    }

    public enum Failure: Error, CustomStringConvertible {
        case status(Int, String)
        case short(Int, expected: Int)

        public var description: String {
            switch self {
            case .status(let s, let body): "peer answered \(s): \(body.prefix(200))"
            case .short(let n, let e): "peer sent \(n) of \(e) bytes"
            }
        }
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    public func announce(_ a: Announcement, to coordinator: Member, timeout: Duration) async throws -> CoordinatorAnswer {
        let body = PeerMessages.encode(a)
        let path = PeerServer.announcePath
        var request = HTTPClientRequest(url: "http://\(coordinator.endpoint)\(path)")
        request.method = .POST
        request.headers.add(name: "Authorization", value: credential.authorization(method: "POST", path: path, body: body, node: me.node, now: Self.now()))
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await http.execute(request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000))
        let data = try await response.body.collect(upTo: PeerMessages.maximumBytes)
        guard response.status == .ok else { throw Failure.status(Int(response.status.code), String(buffer: data)) }
        return try PeerMessages.decodeAnswer(Data(data.readableBytesView))
    }

    /// Exactly the bytes of piece `index` of `blob`, as `layout` cuts it.
    public func piece(_ index: Int, of blob: Digest, layout: PieceLayout, from peer: Member, timeout: Duration) async throws -> ByteBuffer {
        let path = PeerServer.piecePath(blob, index: index, layout: layout)
        var request = HTTPClientRequest(url: "http://\(peer.endpoint)\(path)")
        request.headers.add(name: "Authorization", value: credential.authorization(method: "GET", path: path, node: me.node, now: Self.now()))
        let response = try await http.execute(request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000))
        let length = layout.length(of: index)
        guard response.status == .ok else {
            let body = try? await response.body.collect(upTo: 4096)
            throw Failure.status(Int(response.status.code), body.map { String(buffer: $0) } ?? "")
        }
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        for try await var chunk in response.body {
            guard buffer.readableBytes + chunk.readableBytes <= length else { throw Failure.short(buffer.readableBytes + chunk.readableBytes, expected: length) }
            buffer.writeBuffer(&chunk)
        }
        guard buffer.readableBytes == length else { throw Failure.short(buffer.readableBytes, expected: length) }
        return buffer
    }
}
