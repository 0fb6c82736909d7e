import Foundation

/// Hosts on this machine for multi-node tests: a network namespace per node and one for
/// the origin, links shaped with tc, addresses in 198.18.0.0/15 (`scripts/netlab.sh`,
/// which the demo and the benchmark use too). `down()` removes every namespace it made,
/// and `scripts/test.sh` removes leftovers of a test process that died.
public final class NetworkLab: Sendable {
    public enum Host: Sendable, Equatable {
        case origin
        case node(Int)

        var argument: String {
            switch self {
            case .origin: "origin"
            case .node(let i): String(i)
            }
        }
    }

    public let prefix: String
    public let nodes: Int
    static var script: String { HelmChart.repositoryRoot + "/scripts/netlab.sh" }

    private init(prefix: String, nodes: Int) {
        self.prefix = prefix
        self.nodes = nodes
    }

    /// `nodes` hosts (1-based) with `rate` each way, the origin with `originRate`.
    public static func up(nodes: Int, rate: String, originRate: String? = nil) async throws -> NetworkLab {
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        let prefix = "pp" + String((0..<4).map { _ in letters.randomElement()! })
        let lab = NetworkLab(prefix: prefix, nodes: nodes)
        do {
            try await Command.run([script, "up", prefix, String(nodes), rate, originRate ?? rate])
        } catch {
            await lab.down()
            throw error
        }
        return lab
    }

    public func namespace(_ host: Host) -> String {
        switch host {
        case .origin: "\(prefix)-origin"
        case .node(let i): "\(prefix)-n\(i)"
        }
    }

    public static func address(_ host: Host) -> String {
        switch host {
        case .origin: "198.18.0.1"
        case .node(let i): "198.18.0.\(10 + i)"
        }
    }

    /// `arguments` run in `host`'s namespace.
    public func exec(_ host: Host, _ arguments: [String]) -> [String] {
        ["ip", "netns", "exec", namespace(host)] + arguments
    }

    /// Bytes `host` has sent on its link.
    public func sentBytes(_ host: Host) async throws -> Int {
        Int(try await Command.run([Self.script, "tx", prefix, host.argument]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    public func down() async {
        _ = try? await Command.run([Self.script, "down", prefix], check: false)
    }
}
