import Foundation
import OCI
import Swarm
import Testing

@Suite("Peer protocol: messages, credentials, member lists")
struct PeerProtocolTests {
    static let layout = PieceLayout(size: 10 << 20 | 5, pieceSize: 1 << 20)
    static let me = Member(node: "node-a", address: "198.18.0.1", peerPort: 65002)

    @Test func announcementsAndAnswersRoundTrip() throws {
        let a = Announcement(blob: Digest.compute(of: [1]), layout: Self.layout, member: Self.me,
                             have: PieceSet(count: 11, [0, 3, 10]), fetching: PieceSet(count: 11, [4]),
                             hashes: [3: PieceHash(hashing: [3])], wantHashes: PieceSet(count: 11, [5, 6]), wantsOriginWork: false,
                             unreachable: ["node-z"])
        #expect(try PeerMessages.decodeAnnouncement(PeerMessages.encode(a)) == a)
        let answer = CoordinatorAnswer(layout: Self.layout, peers: [PeerView(member: Self.me, have: PieceSet(count: 11, [1]))],
                                       hashes: [1: PieceHash(hashing: [1])], originPieces: [7, 8], dealt: PieceSet(count: 11, [7, 8, 9]),
                                       cursor: 10, hashesKnown: PieceSet(count: 11, [1, 3]), version: 42, announceEvery: .milliseconds(1250))
        #expect(try PeerMessages.decodeAnswer(PeerMessages.encode(answer)) == answer)
        // An answer of an agent that predates the interval means "the agent's own cadence".
        var old = try JSONSerialization.jsonObject(with: PeerMessages.encode(answer)) as! [String: Any]
        #expect(old.removeValue(forKey: "every") as? Int == 1250)
        #expect(try PeerMessages.decodeAnswer(JSONSerialization.data(withJSONObject: old)).announceEvery == .zero)
        // A coordinator may not silence an agent for longer than its holder TTL allows.
        old["every"] = 60_000
        #expect(throws: PeerMessages.Malformed.self) { try PeerMessages.decodeAnswer(JSONSerialization.data(withJSONObject: old)) }
    }

    @Test("malformed messages are refused with the field named", arguments: [
        (#"{"blob":"sha256:x"}"#, "announcement"),
        (String(repeating: "[", count: 600), "nested"),
        (#"{"blob":"sha256:4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a","size":100,"pieceSize":7,"member":{"node":"n","address":"a","peerPort":1},"have":"","fetching":"","hashes":{},"wantHashes":"","originWork":true}"#, "piece size"),
        (#"{"blob":"sha256:4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a","size":2097152,"pieceSize":1048576,"member":{"node":"n","address":"a","peerPort":1},"have":"/w==","fetching":"AA==","hashes":{},"wantHashes":"AA==","originWork":true}"#, "have"),
        (#"{"blob":"sha256:4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a","size":2097152,"pieceSize":1048576,"member":{"node":"n","address":"a","peerPort":0},"have":"AA==","fetching":"AA==","hashes":{},"wantHashes":"AA==","originWork":true}"#, "member"),
        (#"{"blob":"sha256:4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a","size":2097152,"pieceSize":1048576,"member":{"node":"n","address":"a","peerPort":1},"have":"AA==","fetching":"AA==","hashes":{"2":"00"},"wantHashes":"AA==","originWork":true}"#, "hash"),
    ])
    func malformed(text: String, field: String) throws {
        do {
            _ = try PeerMessages.decodeAnnouncement(Data(text.utf8))
            Issue.record("accepted \(text.prefix(80))")
        } catch {
            #expect(error.description.contains(field), "\(error)")
        }
    }

    @Test func onlyAHolderOfTheSecretCanSignARequest() throws {
        let secret = Array("a cluster secret of 32 bytes....".utf8)
        let c = try #require(PeerCredential(secret: secret))
        let piece = "/swarm/v1/blobs/x/pieces/3"
        let header = c.authorization(method: "GET", path: piece, node: "node-a", to: "node-b", now: 1000)
        #expect(try c.verify(header, method: "GET", path: piece, me: "node-b", now: 1030) == "node-a")
        #expect(throws: PeerCredential.Refusal.badSignature) { try c.verify(header, method: "GET", path: "/swarm/v1/blobs/x/pieces/4", me: "node-b", now: 1000) }
        #expect(throws: PeerCredential.Refusal.badSignature) { try c.verify(header.replacingOccurrences(of: "node=node-a", with: "node=node-c"), method: "GET", path: piece, me: "node-b", now: 1000) }
        #expect(throws: PeerCredential.Refusal.expired) { try c.verify(header, method: "GET", path: piece, me: "node-b", now: 1100) }
        #expect(throws: PeerCredential.Refusal.missing) { try c.verify(nil, method: "GET", path: "/", me: "node-b", now: 0) }
        #expect(throws: PeerCredential.Refusal.malformed) { try c.verify("Bearer x", method: "GET", path: "/", me: "node-b", now: 0) }
        let other = try #require(PeerCredential(secret: Array("another cluster's secret........".utf8)))
        #expect(throws: PeerCredential.Refusal.badSignature) { try other.verify(header, method: "GET", path: piece, me: "node-b", now: 1000) }
        // Signed for node-b: captured on its way there, it is refused by every other agent,
        // and its addressee cannot be rewritten.
        #expect(throws: PeerCredential.Refusal.misaddressed) { try c.verify(header, method: "GET", path: piece, me: "node-c", now: 1000) }
        #expect(throws: PeerCredential.Refusal.badSignature) { try c.verify(header.replacingOccurrences(of: "to=node-b", with: "to=node-c"), method: "GET", path: piece, me: "node-c", now: 1000) }
        // Each request has a nonce of its own, under the signature.
        let again = c.authorization(method: "GET", path: piece, node: "node-a", to: "node-b", now: 1000)
        let (first, second) = (try c.verifyHead(header, method: "GET", path: piece, me: "node-b", now: 1000),
                               try c.verifyHead(again, method: "GET", path: piece, me: "node-b", now: 1000))
        #expect(first.nonce != second.nonce && first.nonce.count == 16)
        let otherNonce = header.replacing(#/n=[0-9a-f]{32}/#, with: "n=\(String(repeating: "0", count: 32))")
        #expect(throws: PeerCredential.Refusal.badSignature) { try c.verify(otherNonce, method: "GET", path: piece, me: "node-b", now: 1000) }
        // The body is signed too.
        let post = c.authorization(method: "POST", path: "/swarm/v1/announce", body: Array("{}".utf8), node: "node-a", to: "node-b", now: 5)
        #expect(throws: PeerCredential.Refusal.bodyMismatch) { try c.verify(post, method: "POST", path: "/swarm/v1/announce", body: Array("{ }".utf8), me: "node-b", now: 5) }
        // ...through the hash in the header, which the signature covers: checked from the
        // head alone, before any body is read.
        let signed = try c.verifyHead(post, method: "POST", path: "/swarm/v1/announce", me: "node-b", now: 5)
        #expect(signed.node == "node-a" && signed.matches(body: Array("{}".utf8)) && !signed.matches(body: Array("{ }".utf8)))
        let otherHash = String(repeating: "ab", count: 32)
        let swapped = post.replacing(#/b=[0-9a-f]{64}/#, with: "b=\(otherHash)")
        #expect(throws: PeerCredential.Refusal.badSignature) { try c.verifyHead(swapped, method: "POST", path: "/swarm/v1/announce", me: "node-b", now: 5) }
        // A request of an older agent (no addressee, nonce or body hash) is refused as malformed.
        let legacy = post.replacing(#/to=node-b,/#, with: "").replacing(#/n=[0-9a-f]{32},/#, with: "")
        #expect(throws: PeerCredential.Refusal.malformed) { try c.verifyHead(legacy, method: "POST", path: "/swarm/v1/announce", me: "node-b", now: 5) }
        #expect(PeerCredential(secret: Array("short".utf8)) == nil)
        // Times at the ends of Int64 are refused, not overflowed (an unsigned request once
        // could have trapped the agent this way).
        for t in [Int64.min, Int64.max, Int64.min + 1] {
            let forged = "PeerPull-HMAC node=x,to=node-b,t=\(t),n=\(String(repeating: "0", count: 32)),b=\(String(repeating: "0", count: 64)),sig=\(String(repeating: "0", count: 64))"
            #expect(throws: PeerCredential.Refusal.expired) { try c.verify(forged, method: "GET", path: "/", me: "node-b", now: 1000) }
        }
        #expect(throws: PeerCredential.Refusal.expired) { try c.verify(header, method: "GET", path: "/", me: "node-b", now: Int64.max) }
        #expect(throws: PeerCredential.Refusal.expired) { try c.verify(header, method: "GET", path: "/", me: "node-b", now: Int64.min) }
    }

    @Test("a request is taken once within its window; the guard's memory is bounded")
    func aReplayedRequestIsRefused() throws {
        let c = try #require(PeerCredential(secret: Array("a cluster secret of 32 bytes....".utf8)))
        func signed(at t: Int64) throws -> PeerCredential.Signed {
            try c.verifyHead(c.authorization(method: "GET", path: "/p", node: "node-a", to: "node-b", now: t), method: "GET", path: "/p", me: "node-b", now: t)
        }
        var guardian = ReplayGuard()
        func admit(_ s: PeerCredential.Signed, at now: Int64) -> Bool { guardian.admit(s, window: 60, now: now) }
        let one = try signed(at: 1000)
        let (first, again, later) = (admit(one, at: 1000), admit(one, at: 1001), admit(one, at: 1060))
        #expect(first && !again && !later, "the same request again, within its window: \(first) \(again) \(later)")
        let another = admit(try signed(at: 1000), at: 1001)
        #expect(another, "another request of the same second")
        // Past its window the credential expires anyway (verifyHead); the nonce is forgotten.
        _ = admit(try signed(at: 1100), at: 1100)
        #expect(guardian.count == 1)
        var small = ReplayGuard(capacity: 3)
        var taken = 0
        for _ in 0..<10 where small.admit(try signed(at: 5), window: 60, now: 5) { taken += 1 }
        #expect(taken == 10)
        #expect(small.count == 3)
    }

    @Test("an answer verifies only as the asked agent's answer to that request, byte for byte")
    func answersAreSignedForTheirRequest() throws {
        let c = try #require(PeerCredential(secret: Array("a cluster secret of 32 bytes....".utf8)))
        let nonce = PeerCredential.nonce()
        let body = Array(#"{"layout":"x"}"#.utf8)
        let header = c.answerSignature(nonce: nonce, responder: "node-b", body: body)
        try c.verifyAnswer(header, nonce: nonce, responder: "node-b", body: body)
        #expect(throws: PeerCredential.Refusal.unsignedAnswer) { try c.verifyAnswer(nil, nonce: nonce, responder: "node-b", body: body) }
        #expect(throws: PeerCredential.Refusal.unsignedAnswer) { try c.verifyAnswer(header, nonce: nonce, responder: "node-b", body: body + [32]) }
        #expect(throws: PeerCredential.Refusal.unsignedAnswer) { try c.verifyAnswer(header, nonce: PeerCredential.nonce(), responder: "node-b", body: body) }
        #expect(throws: PeerCredential.Refusal.unsignedAnswer) { try c.verifyAnswer(header, nonce: nonce, responder: "node-c", body: body) }
        let other = try #require(PeerCredential(secret: Array("another cluster's secret........".utf8)))
        #expect(throws: PeerCredential.Refusal.unsignedAnswer) { try c.verifyAnswer(other.answerSignature(nonce: nonce, responder: "node-b", body: body), nonce: nonce, responder: "node-b", body: body) }
    }

    @Test func memberListsParseAndRefuseWithTheLine() throws {
        let members = try StaticMembership.parse("""
        # the demo's nodes
        node-1 198.18.0.1
        node-2 198.18.0.2 7000   # another port

        node-3 fd00::3
        """)
        #expect(members == [Member(node: "node-1", address: "198.18.0.1"), Member(node: "node-2", address: "198.18.0.2", peerPort: 7000),
                            Member(node: "node-3", address: "fd00::3")])
        #expect(members[2].endpoint == "[fd00::3]:65002")
        #expect(throws: StaticMembership.Problem(line: 2, problem: "node n is listed twice")) { try StaticMembership.parse("n 198.18.0.1\nn 198.18.0.2") }
        #expect(throws: StaticMembership.Problem.self) { try StaticMembership.parse("n host.example.com") }
        #expect(throws: StaticMembership.Problem.self) { try StaticMembership.parse("n 198.18.0.1 99999") }
    }
}
