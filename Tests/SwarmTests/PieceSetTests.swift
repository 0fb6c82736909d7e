import Swarm
import Testing

@Suite("Pieces: layout and sets")
struct PieceSetTests {
    @Test func layoutCutsTheBlobIntoFixedPieces() throws {
        let l = PieceLayout(size: 5 << 20 | 17, pieceSize: 1 << 20)
        #expect(l.count == 6)
        #expect(l.range(of: 0) == 0..<(1 << 20))
        #expect(l.length(of: 5) == 17)
        #expect(l.piece(containing: (2 << 20) + 5) == 2)
        #expect(PieceLayout(size: 0).count == 0)
        #expect(PieceLayout(size: 1 << 20, pieceSize: 1 << 20).count == 1)
        #expect(PieceLayout(validatingSize: 100, pieceSize: 1000) == nil, "piece sizes below 256 KiB are refused")
        #expect(PieceLayout(validatingSize: -1, pieceSize: 1 << 20) == nil)
    }

    @Test func subsetsAreFoundWordByWord() throws {
        let a = PieceSet(count: 130, [1, 64, 129])
        #expect(a.isSubset(of: PieceSet(count: 130, [0, 1, 64, 100, 129])))
        #expect(a.isSubset(of: a) && PieceSet(count: 130).isSubset(of: a))
        #expect(!a.isSubset(of: PieceSet(count: 130, [1, 64])), "129, in the last word, is missing")
        #expect(!a.isSubset(of: PieceSet(count: 130, [64, 129])), "1, in the first word, is missing")
    }

    @Test func setsTrackMembersAndThePrefix() throws {
        var s = PieceSet(count: 130)
        #expect(s.isEmpty && s.prefixLength == 0 && s.firstMissing() == 0)
        for i in [0, 1, 2, 64, 129] { let new = s.insert(i); #expect(new) }
        let again = s.insert(64)
        #expect(!again)
        #expect(s.memberCount == 5 && s.members == [0, 1, 2, 64, 129])
        #expect(s.prefixLength == 3)
        #expect(s.first(from: 3) == 64 && s.first(from: 65) == 129 && s.first(from: 130) == nil)
        #expect(s.firstMissing(from: 129) == nil && s.firstMissing(from: 64) == 65)
        #expect(!s.contains(-1) && !s.contains(130))
        let removed = s.remove(0), removedAgain = s.remove(0)
        #expect(removed && !removedAgain && s.prefixLength == 0)
        let full = PieceSet.full(count: 130)
        #expect(full.isFull && full.memberCount == 130 && full.firstMissing() == nil)
        #expect(full.subtracting(s).memberCount == 126 && full.intersection(s) == s && s.union(full) == full)
        #expect(s.intersects(full) && !PieceSet(count: 130).intersects(full))
    }

    @Test func theWireFormIsBitTorrentsBitfield() throws {
        let s = PieceSet(count: 10, [0, 7, 8, 9])
        #expect(s.bytes == [0b1000_0001, 0b1100_0000])
        #expect(PieceSet(count: 10, bytes: s.bytes) == s)
        #expect(PieceSet(count: 10, bytes: [0xff, 0xe0]) == nil, "a bit past the last piece is refused")
        #expect(PieceSet(count: 10, bytes: [0xff]) == nil, "a wrong length is refused")
        #expect(PieceSet(count: 0, bytes: []) == PieceSet(count: 0))
    }

    @Test func pieceHashesRoundTrip() throws {
        let h = PieceHash(hashing: Array("piece".utf8))
        #expect(PieceHash(hex: h.hex) == h && PieceHash(bytes: h.bytes) == h)
        #expect(h.hex == "34235a2c502e3919d3f00af5dabb87cb58aef4566b10631f2a5db94950ebffbd")
        #expect(PieceHash(hex: String(h.hex.dropLast())) == nil && PieceHash(hex: "G" + h.hex.dropFirst()) == nil)
    }
}
