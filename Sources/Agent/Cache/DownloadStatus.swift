import Swarm

/// One blob download as the agent's `/status` shows it (and `peerpull status` prints it).
public struct DownloadStatus: Codable, Sendable, Equatable {
    public var digest: String
    public var size: Int64
    /// Piece mode only (the swarm): the cut and the verified pieces.
    public var pieceSize: Int?
    public var pieces: Int?
    public var verifiedPieces: Int?
    /// The verified pieces, one character per group of pieces: `#` all verified, `+`
    /// some, `.` none; at most `mapWidth` characters.
    public var pieceMap: String?
    /// Bytes verified in order and handed to clients.
    public var verifiedPrefix: Int64
    public var peerBytes: Int64
    public var originBytes: Int64
    public var peers: [String]
    public var seconds: Double?

    public static let mapWidth = 64

    static func map(of set: PieceSet) -> String {
        let n = set.count
        guard n > 0 else { return "" }
        let width = Swift.min(n, mapWidth)
        var out = ""
        for column in 0..<width {
            let lo = column * n / width, hi = Swift.max(lo + 1, (column + 1) * n / width)
            let held = (lo..<hi).reduce(0) { $0 + (set.contains($1) ? 1 : 0) }
            out.append(held == hi - lo ? "#" : held > 0 ? "+" : ".")
        }
        return out
    }
}
