/// Lower-case hexadecimal, as digests, piece hashes and peer credentials write bytes.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// `bytes` as lower-case hex, two characters a byte.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of exactly `count` bytes' worth of lower-case hex; nil for anything else.
    public static func decode(_ text: some StringProtocol, count: Int) -> [UInt8]? {
        let utf8 = text.utf8
        guard utf8.count == 2 * count else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(count)
        var high: UInt8?
        for c in utf8 {
            guard let n = nibble(c) else { return nil }
            if let h = high { out.append(h << 4 | n); high = nil } else { high = n }
        }
        return out
    }

    /// The value of one lower-case hex character.
    public static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
