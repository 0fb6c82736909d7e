import Foundation

/// A size as Kubernetes operators write it: `20Gi`, `512Mi`, `10G`, `1500M`, or bytes.
/// Ki/Mi/Gi/Ti are powers of 1024, K/M/G/T powers of 1000.
public struct ByteSize: Hashable, Sendable, CustomStringConvertible {
    public var bytes: Int64

    public init(bytes: Int64) { self.bytes = bytes }

    public init(parsing text: String) throws(ByteSizeError) {
        let t = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Int64)] = [
            ("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40),
            ("K", 1_000), ("k", 1_000), ("M", 1_000_000), ("G", 1_000_000_000), ("T", 1_000_000_000_000),
        ]
        var number = Substring(t)
        var multiplier: Int64 = 1
        for (unit, m) in units where number.hasSuffix(unit) {
            number = number.dropLast(unit.count)
            multiplier = m
            break
        }
        guard !number.isEmpty, number.allSatisfy(\.isASCII), number.allSatisfy(\.isNumber),
              let value = Int64(number), value >= 0 else { throw ByteSizeError(input: text) }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw ByteSizeError(input: text) }
        bytes = product
    }

    public var description: String {
        for (unit, m) in [("Ti", Int64(1) << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] where bytes >= m && bytes % m == 0 {
            return "\(bytes / m)\(unit)"
        }
        return "\(bytes)"
    }
}
