import Foundation

extension Duration {
    /// The duration in seconds, for logs, metrics and rates.
    public var inSeconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}

/// Sizes as people read them, in powers of 1024: `812 B`, `1.5 MiB`, `256.0 MiB`.
public enum HumanReadable {
    public static func bytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n)
        var i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(n) B" : String(format: "%.1f", v) + " " + units[i]
    }
}
