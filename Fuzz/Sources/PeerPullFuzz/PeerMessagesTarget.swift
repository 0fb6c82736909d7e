import Foundation
import OCI
import Swarm

/// The peer protocol as an agent's peer port reads it: announcements (then answered by a
/// coordinator, as `PeerServer` does), coordinators' answers, and request credentials.
/// The first byte picks which (modulo 3), the rest is the body or the header.
///
/// Properties: a decoded message is within its layout (bitfields of its piece count,
/// hash and origin indices inside it, bounded lists) and encodes to a body that decodes
/// to an equal message; the coordinator's answer to it is within the layout, encodes
/// and decodes back; a credential verifies only for a node it names.
enum PeerMessagesTarget {
    static let credential = PeerCredential(secret: Array("a cluster secret of 32 bytes....".utf8))!

    static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let kind = bytes.first else { return }
        let body = Data(bytes.dropFirst())
        switch kind % 3 {
        case 0: announcement(body)
        case 1: answer(body)
        default:
            let header = String(decoding: body, as: UTF8.self)
            if let node = try? credential.verify(header, method: "POST", path: "/swarm/v1/announce", body: [UInt8](), me: "node-b", now: 1_000) {
                require(!node.isEmpty && header.contains("node=\(node)"), "\(header) verified as node \(node)")
            }
        }
    }

    static func announcement(_ body: Data) {
        guard let a = try? PeerMessages.decodeAnnouncement(body) else { return }
        let count = a.layout.count
        require(a.have.count == count && a.fetching.count == count && a.wantHashes.count == count, "bitfields of another length than \(count)")
        require(a.hashes.keys.allSatisfy { (0..<count).contains($0) }, "hash index outside \(count) pieces")
        let again = try? PeerMessages.decodeAnnouncement(PeerMessages.encode(a))
        require(again == a, "announcement does not round-trip")

        var coordinator = CoordinatorState()
        _ = coordinator.answerChecked(a, now: .seconds(1))
        var second = a
        second.member = Member(node: a.member.node == "fuzz-peer" ? "fuzz-peer-2" : "fuzz-peer", address: "198.18.0.2", peerPort: 65002)
        second.have = PieceSet(count: count)
        _ = coordinator.answerChecked(second, now: .seconds(2))
    }

    static func answer(_ body: Data) {
        guard let answer = try? PeerMessages.decodeAnswer(body) else { return }
        check(answer)
        let again = try? PeerMessages.decodeAnswer(PeerMessages.encode(answer))
        require(again == answer, "answer does not round-trip")
    }

    static func check(_ answer: CoordinatorAnswer) {
        let count = answer.layout.count
        require(answer.originPieces.allSatisfy { (0..<count).contains($0) }, "origin piece outside \(count) pieces")
        require((0...count).contains(answer.cursor), "cursor \(answer.cursor) outside \(count) pieces")
        require(answer.peers.allSatisfy { $0.have.count == count }, "a peer's bitfield of another length than \(count)")
        require(answer.dealt.count == count && answer.hashesKnown.count == count, "bitfields of another length than \(count)")
        require(answer.hashes.keys.allSatisfy { (0..<count).contains($0) }, "hash index outside \(count) pieces")
    }
}

extension CoordinatorState {
    /// Announces `a` and checks the answer as its receiver will decode it.
    mutating func answerChecked(_ a: Announcement, now: SwarmInstant) -> CoordinatorAnswer {
        let answer = announce(a, now: now)
        PeerMessagesTarget.check(answer)
        let decoded = try? PeerMessages.decodeAnswer(PeerMessages.encode(answer))
        require(decoded == answer, "the coordinator's answer does not round-trip")
        return answer
    }
}
