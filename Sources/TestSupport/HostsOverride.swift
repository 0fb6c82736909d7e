import Foundation

/// Names that resolve only for the commands a test wraps: each runs in its own mount
/// namespace (`unshare -m`) with a private file bind-mounted over `/etc/hosts`, so a test
/// can use real registry host names (`reg.p2ptest.example`, its P2P host) without
/// touching the machine's resolver. Needs root.
public struct HostsOverride: Sendable {
    public let path: String

    /// Writes `entries` (address → names) plus localhost into `directory`.
    public init(in directory: TemporaryDirectory, entries: [(String, [String])]) throws {
        path = directory.file("hosts")
        try Self.write(entries, to: path)
    }

    /// A hosts file: localhost plus `entries` (address → names).
    public static func write(_ entries: [(String, [String])], to path: String) throws {
        let lines = ["127.0.0.1 localhost", "::1 localhost"] + entries.map { "\($0.0) \($0.1.joined(separator: " "))" }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// `arguments`, wrapped to run with these names.
    public func wrap(_ arguments: [String]) -> [String] {
        ["unshare", "-m", "sh", "-c", #"mount --bind "$0" /etc/hosts && exec "$@""#, path] + arguments
    }

    /// A random address of 127.0.0.0/8 (not 127.0.0.1), so a test may bind well-known
    /// ports such as 80 or 65001 without meeting another test.
    public static func randomLoopbackAddress() -> String {
        "127.\(Int.random(in: 100...250)).\(Int.random(in: 0...255)).\(Int.random(in: 2...254))"
    }
}
