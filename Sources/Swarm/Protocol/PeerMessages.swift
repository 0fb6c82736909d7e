import Foundation
import OCI

/// The peer protocol's JSON bodies. Decoded from the network only through `BoundedJSON`,
/// and turned into the state machines' values only after every field is checked: a
/// layout agents use, bitfields of the right length, bounded lists and names.
public enum PeerMessages {
    /// Bytes an announcement or answer may take: a 10 GiB blob in 1 MiB pieces has 10,240
    /// pieces, 1,280 bytes per bitfield and 64 hex characters per hash.
    public static let maximumBytes = 4 << 20
    static let maximumPeers = 64
    static let maximumName = 253
    /// Milliseconds: a coordinator asks for at most this long between announcements (well
    /// within the holder TTL, which keeps downloading agents known).
    static let maximumAnnounceEvery = 5_000

    struct WireMember: Codable {
        var node: String
        var address: String
        var peerPort: Int
    }

    struct WireAnnouncement: Codable {
        var blob: String
        var size: Int64
        var pieceSize: Int
        var member: WireMember
        var have: String
        var fetching: String
        var hashes: [String: String]
        var wantHashes: String
        var originWork: Bool
        var unreachable: [String]?
    }

    struct WirePeer: Codable {
        var member: WireMember
        var have: String
    }

    struct WireAnswer: Codable {
        var size: Int64
        var pieceSize: Int
        var peers: [WirePeer]
        var hashes: [String: String]
        var origin: [Int]
        var dealt: String
        var cursor: Int
        var hashesKnown: String
        var version: UInt64
        /// Milliseconds (`CoordinatorAnswer.announceEvery`); absent from older agents.
        var every: Int?
    }

    /// Why a message was refused.
    public struct Malformed: Error, CustomStringConvertible, Equatable {
        public let description: String
        init(_ d: String) { description = "malformed peer message: \(d)" }
    }

    public static func encode(_ a: Announcement) -> Data {
        let wire = WireAnnouncement(
            blob: a.blob.description, size: a.layout.size, pieceSize: a.layout.pieceSize, member: wireMember(a.member),
            have: Data(a.have.bytes).base64EncodedString(), fetching: Data(a.fetching.bytes).base64EncodedString(),
            hashes: Dictionary(uniqueKeysWithValues: a.hashes.map { (String($0.key), $0.value.hex) }),
            wantHashes: Data(a.wantHashes.bytes).base64EncodedString(), originWork: a.wantsOriginWork,
            unreachable: a.unreachable.isEmpty ? nil : a.unreachable)
        return (try? JSONEncoder().encode(wire)) ?? Data()
    }

    public static func decodeAnnouncement(_ data: Data) throws(Malformed) -> Announcement {
        let w: WireAnnouncement
        do { w = try BoundedJSON.decode(WireAnnouncement.self, from: data, maximumDepth: 8, maximumBytes: maximumBytes) } catch {
            throw Malformed("announcement: \(error)")
        }
        guard let blob = try? Digest(parsing: w.blob) else { throw Malformed("blob is not a digest") }
        guard let layout = PieceLayout(validatingSize: w.size, pieceSize: w.pieceSize) else { throw Malformed("size \(w.size) or piece size \(w.pieceSize)") }
        return Announcement(
            blob: blob, layout: layout, member: try member(w.member),
            have: try pieces(w.have, layout, "have"), fetching: try pieces(w.fetching, layout, "fetching"),
            hashes: try hashes(w.hashes, layout), wantHashes: try pieces(w.wantHashes, layout, "wantHashes"),
            wantsOriginWork: w.originWork, unreachable: try unreachable(w.unreachable ?? []))
    }

    public static func encode(_ a: CoordinatorAnswer) -> Data {
        let wire = WireAnswer(
            size: a.layout.size, pieceSize: a.layout.pieceSize,
            peers: a.peers.map { WirePeer(member: wireMember($0.member), have: Data($0.have.bytes).base64EncodedString()) },
            hashes: Dictionary(uniqueKeysWithValues: a.hashes.map { (String($0.key), $0.value.hex) }),
            origin: a.originPieces, dealt: Data(a.dealt.bytes).base64EncodedString(), cursor: a.cursor,
            hashesKnown: Data(a.hashesKnown.bytes).base64EncodedString(), version: a.version,
            every: a.announceEvery > .zero ? Int(a.announceEvery.inSeconds * 1000) : nil)
        return (try? JSONEncoder().encode(wire)) ?? Data()
    }

    public static func decodeAnswer(_ data: Data) throws(Malformed) -> CoordinatorAnswer {
        let w: WireAnswer
        do { w = try BoundedJSON.decode(WireAnswer.self, from: data, maximumDepth: 8, maximumBytes: maximumBytes) } catch {
            throw Malformed("answer: \(error)")
        }
        guard let layout = PieceLayout(validatingSize: w.size, pieceSize: w.pieceSize) else { throw Malformed("size \(w.size) or piece size \(w.pieceSize)") }
        guard w.peers.count <= maximumPeers else { throw Malformed("\(w.peers.count) peers") }
        guard w.origin.count <= layout.count, w.origin.allSatisfy({ $0 >= 0 && $0 < layout.count }) else { throw Malformed("origin pieces") }
        var peers: [PeerView] = []
        for p in w.peers { peers.append(PeerView(member: try member(p.member), have: try pieces(p.have, layout, "peer have"))) }
        guard (0...layout.count).contains(w.cursor) else { throw Malformed("cursor \(w.cursor)") }
        guard (0...maximumAnnounceEvery).contains(w.every ?? 0) else { throw Malformed("announce interval \(w.every ?? 0) ms") }
        return CoordinatorAnswer(layout: layout, peers: peers, hashes: try hashes(w.hashes, layout), originPieces: w.origin,
                                 dealt: try pieces(w.dealt, layout, "dealt"), cursor: w.cursor,
                                 hashesKnown: try pieces(w.hashesKnown, layout, "hashesKnown"), version: w.version,
                                 announceEvery: .milliseconds(w.every ?? 0))
    }

    static func wireMember(_ m: Member) -> WireMember { WireMember(node: m.node, address: m.address, peerPort: m.peerPort) }

    static func member(_ w: WireMember) throws(Malformed) -> Member {
        guard !w.node.isEmpty, w.node.utf8.count <= maximumName, !w.address.isEmpty, w.address.utf8.count <= 64,
              (1...65535).contains(w.peerPort) else { throw Malformed("member \(w.node.prefix(64))") }
        return Member(node: w.node, address: w.address, peerPort: w.peerPort)
    }

    static func unreachable(_ nodes: [String]) throws(Malformed) -> [String] {
        guard nodes.count <= maximumPeers, nodes.allSatisfy({ !$0.isEmpty && $0.utf8.count <= maximumName }) else {
            throw Malformed("unreachable peers")
        }
        return nodes
    }

    static func pieces(_ base64: String, _ layout: PieceLayout, _ field: String) throws(Malformed) -> PieceSet {
        guard let data = Data(base64Encoded: base64), let set = PieceSet(count: layout.count, bytes: data) else {
            throw Malformed("\(field) is not a bitfield of \(layout.count) pieces")
        }
        return set
    }

    static func hashes(_ map: [String: String], _ layout: PieceLayout) throws(Malformed) -> [Int: PieceHash] {
        guard map.count <= layout.count else { throw Malformed("\(map.count) hashes for \(layout.count) pieces") }
        var out: [Int: PieceHash] = [:]
        for (k, v) in map {
            guard let i = Int(k), i >= 0, i < layout.count, let h = PieceHash(hex: v) else { throw Malformed("hash \(k.prefix(20))") }
            out[i] = h
        }
        return out
    }
}
