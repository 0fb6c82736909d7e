/// How a blob is cut into pieces: every piece is `pieceSize` bytes but the last.
///
/// The layout is part of the blob's identity in the swarm: agents exchange piece indices
/// and piece hashes, so all of them must cut a blob the same way. The coordinator keeps
/// the layout the first announcer used, and every agent adopts it for that blob.
public struct PieceLayout: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Bytes in the blob.
    public let size: Int64
    /// Bytes in every piece but the last.
    public let pieceSize: Int

    /// Piece sizes agents accept: each piece is hashed and sent as one request, so tiny
    /// pieces cost requests and hashes per byte, and huge ones add latency per hop
    /// (4 MiB at 100 Mbit/s is 335 ms to forward).
    public static let allowedPieceSizes: ClosedRange<Int> = (256 << 10)...(16 << 20)
    public static let defaultPieceSize = 1 << 20

    public init(size: Int64, pieceSize: Int = PieceLayout.defaultPieceSize) {
        precondition(size >= 0 && pieceSize > 0)
        self.size = size
        self.pieceSize = pieceSize
    }

    /// A layout from untrusted input (a peer's message), or nil when it is not one agents use.
    public init?(validatingSize size: Int64, pieceSize: Int) {
        guard size >= 0, Self.allowedPieceSizes.contains(pieceSize), size / Int64(pieceSize) < Int64(Self.maximumPieces) else { return nil }
        self.init(size: size, pieceSize: pieceSize)
    }

    /// Pieces per blob at most (128 GiB in 1 MiB pieces): what one coordinator keeps per
    /// blob (a hash and two bits a piece) stays bounded whatever a peer announces.
    public static let maximumPieces = 1 << 17

    /// Number of pieces (zero for an empty blob).
    public var count: Int { Int((size + Int64(pieceSize) - 1) / Int64(pieceSize)) }

    /// The byte offsets of piece `index`.
    public func range(of index: Int) -> Range<Int64> {
        precondition(index >= 0 && index < count, "piece \(index) of \(count)")
        let start = Int64(index) * Int64(pieceSize)
        return start..<min(start + Int64(pieceSize), size)
    }

    /// Bytes in piece `index`.
    public func length(of index: Int) -> Int { Int(range(of: index).count) }

    /// The piece holding byte `offset`.
    public func piece(containing offset: Int64) -> Int { Int(offset / Int64(pieceSize)) }

    public var description: String { "\(count) pieces of \(pieceSize) bytes (\(size) bytes)" }
}
