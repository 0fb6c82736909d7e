/// A set of piece indices `0..<count` as a bitmap: which pieces a peer holds, which are
/// in flight. A value, cheap to copy for a blob of a few thousand pieces (a 10 GiB blob
/// in 1 MiB pieces is 160 words).
public struct PieceSet: Hashable, Sendable, CustomStringConvertible {
    public let count: Int
    private var words: [UInt64]
    /// Members, kept so `isFull` and `memberCount` are O(1).
    public private(set) var memberCount: Int

    public init(count: Int) {
        precondition(count >= 0)
        self.count = count
        self.words = Array(repeating: 0, count: (count + 63) / 64)
        self.memberCount = 0
    }

    /// Every piece of `count`.
    public static func full(count: Int) -> PieceSet {
        var s = PieceSet(count: count)
        for i in 0..<s.words.count { s.words[i] = ~0 }
        s.clearPadding()
        s.memberCount = count
        return s
    }

    public init(count: Int, _ members: some Sequence<Int>) {
        self.init(count: count)
        for m in members { insert(m) }
    }

    public var isEmpty: Bool { memberCount == 0 }
    public var isFull: Bool { memberCount == count }

    public func contains(_ index: Int) -> Bool {
        guard index >= 0, index < count else { return false }
        return words[index >> 6] & (1 << UInt64(index & 63)) != 0
    }

    /// Inserts `index`; returns whether it was new.
    @discardableResult
    public mutating func insert(_ index: Int) -> Bool {
        precondition(index >= 0 && index < count, "piece \(index) of \(count)")
        let bit: UInt64 = 1 << UInt64(index & 63)
        guard words[index >> 6] & bit == 0 else { return false }
        words[index >> 6] |= bit
        memberCount += 1
        return true
    }

    @discardableResult
    public mutating func remove(_ index: Int) -> Bool {
        guard contains(index) else { return false }
        words[index >> 6] &= ~(1 << UInt64(index & 63))
        memberCount -= 1
        return true
    }

    /// Pieces in `self` and not in `other` (sets of the same count).
    public func subtracting(_ other: PieceSet) -> PieceSet {
        precondition(count == other.count)
        var r = self
        for i in 0..<words.count { r.words[i] &= ~other.words[i] }
        r.recount()
        return r
    }

    public func union(_ other: PieceSet) -> PieceSet {
        precondition(count == other.count)
        var r = self
        for i in 0..<words.count { r.words[i] |= other.words[i] }
        r.recount()
        return r
    }

    /// Adds the pieces of `other` that are not in `except`, in place (no set is built).
    public mutating func formUnion(_ other: PieceSet, except: PieceSet) {
        precondition(count == other.count && count == except.count)
        for i in 0..<words.count { words[i] |= other.words[i] & ~except.words[i] }
        recount()
    }

    public func intersection(_ other: PieceSet) -> PieceSet {
        precondition(count == other.count)
        var r = self
        for i in 0..<words.count { r.words[i] &= other.words[i] }
        r.recount()
        return r
    }

    /// Whether `self` and `other` share a piece, without building the intersection.
    public func intersects(_ other: PieceSet) -> Bool {
        for i in 0..<min(words.count, other.words.count) where words[i] & other.words[i] != 0 { return true }
        return false
    }

    /// Whether every member of `self` is in `other`, without building the difference.
    public func isSubset(of other: PieceSet) -> Bool {
        for i in 0..<words.count where words[i] & ~(i < other.words.count ? other.words[i] : 0) != 0 { return false }
        return true
    }

    /// The members in ascending order.
    public var members: [Int] {
        var out: [Int] = []
        out.reserveCapacity(memberCount)
        for (w, word) in words.enumerated() {
            var bits = word
            while bits != 0 {
                out.append(w << 6 + bits.trailingZeroBitCount)
                bits &= bits - 1
            }
        }
        return out
    }

    /// The smallest member at or after `start`, or nil.
    public func first(from start: Int = 0) -> Int? {
        guard start < count else { return nil }
        var w = max(0, start) >> 6
        var bits = words[w] & (~0 << UInt64(max(0, start) & 63))
        while true {
            if bits != 0 { return w << 6 + bits.trailingZeroBitCount }
            w += 1
            guard w < words.count else { return nil }
            bits = words[w]
        }
    }

    /// The smallest index at or after `start` that is not a member, or nil.
    public func firstMissing(from start: Int = 0) -> Int? {
        var inverted = self
        for i in 0..<inverted.words.count { inverted.words[i] = ~inverted.words[i] }
        inverted.clearPadding()
        return inverted.first(from: start)
    }

    /// Pieces `0..<n` are all members: the verified prefix a client may stream.
    public var prefixLength: Int { firstMissing() ?? count }

    // MARK: Wire form

    /// The bitmap as bytes, piece 0 in the high bit of byte 0 (BitTorrent's bitfield order).
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: (count + 7) / 8)
        for i in members { out[i >> 3] |= 0x80 >> UInt8(i & 7) }
        return out
    }

    /// A bitmap of `count` pieces from `bytes`; nil when the length is wrong or a bit past
    /// `count` is set (a peer's message that does not describe this blob).
    public init?(count: Int, bytes: some Collection<UInt8>) {
        guard count >= 0, bytes.count == (count + 7) / 8 else { return nil }
        self.init(count: count)
        for (b, byte) in bytes.enumerated() where byte != 0 {
            for bit in 0..<8 where byte & (0x80 >> UInt8(bit)) != 0 {
                let index = b << 3 + bit
                guard index < count else { return nil }
                insert(index)
            }
        }
    }

    public var description: String { "\(memberCount)/\(count) pieces" }

    private mutating func clearPadding() {
        guard count & 63 != 0, !words.isEmpty else { return }
        words[words.count - 1] &= (1 << UInt64(count & 63)) - 1
    }

    private mutating func recount() { memberCount = words.reduce(0) { $0 + $1.nonzeroBitCount } }
}
