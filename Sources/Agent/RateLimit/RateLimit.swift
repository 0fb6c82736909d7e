/// A byte rate as operators write it: `512M` (the product's default, MB/s), `100K`,
/// `1G`, binary `64Mi`, or plain bytes per second. K/M/G are powers of 1000, Ki/Mi/Gi
/// powers of 1024; a trailing `B`, `B/s` or `/s` is accepted.
public struct RateLimit: Hashable, Sendable, CustomStringConvertible {
    public var bytesPerSecond: Double

    public init(bytesPerSecond: Double) {
        self.bytesPerSecond = bytesPerSecond
    }

    public static let productDefault = RateLimit(bytesPerSecond: 512e6)

    public init(parsing text: String) throws(RateLimitError) {
        var t = Substring(text.trimmingCharacters(in: .whitespaces))
        for suffix in ["/s", "B", "b"] where t.hasSuffix(suffix) { t = t.dropLast(suffix.count) }
        let units: [(String, Double)] = [("Ki", 1024), ("Mi", 1_048_576), ("Gi", 1_073_741_824), ("K", 1e3), ("M", 1e6), ("G", 1e9), ("k", 1e3)]
        var multiplier = 1.0
        for (unit, m) in units where t.hasSuffix(unit) {
            multiplier = m
            t = t.dropLast(unit.count)
            break
        }
        guard !t.isEmpty, t.allSatisfy({ $0.isNumber || $0 == "." }), let value = Double(t), value > 0, value.isFinite else {
            throw RateLimitError(input: text)
        }
        bytesPerSecond = value * multiplier
    }

    public var description: String {
        bytesPerSecond >= 1e6 ? "\(bytesPerSecond / 1e6) MB/s" : "\(bytesPerSecond) B/s"
    }
}

import Foundation
