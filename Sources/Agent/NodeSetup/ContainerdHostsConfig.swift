import Foundation
import OCI

/// Writes containerd's registry host configuration (`<config_path>/<host>/hosts.toml`,
/// containerd docs/hosts.md) so that pulls go through the local agent and fall back to
/// the origin when the agent is down:
///
/// - for the P2P host `R.distributed.Y:65001`, which pods name after the controller's
///   rewrite: the agent first, then `server = "https://R.Y"`;
/// - for the origin `R.Y` itself (mirror mode): the agent first, which learns the origin
///   from containerd's `?ns=` parameter.
///
/// A `hosts.toml` that was there before is kept as `hosts.toml.peerpull-backup` and put
/// back by `remove()`, so uninstalling leaves the node as it was.
public struct ContainerdHostsConfig: Sendable {
    public var configPath: String
    public var agentEndpoint: String
    public var rule: P2PHostRule
    /// Origins reached over plain HTTP (test registries).
    public var plainHTTPOrigins: Set<String>
    /// The agent's CA, written as `ca.crt` beside each `hosts.toml` when the agent speaks TLS.
    public var agentCAPEM: String?

    static let marker = "# Written by peerpull agent; `peerpull agent --undo-containerd-config` removes it."
    static let backupSuffix = ".peerpull-backup"

    public init(configPath: String, agentEndpoint: String, rule: P2PHostRule, plainHTTPOrigins: Set<String> = [], agentCAPEM: String? = nil) {
        self.configPath = configPath
        self.agentEndpoint = agentEndpoint
        self.rule = rule
        self.plainHTTPOrigins = plainHTTPOrigins
        self.agentCAPEM = agentCAPEM
    }

    /// The files to write: host directory name → `hosts.toml` content.
    public func documents(origins: [String]) -> [(host: String, toml: String)] {
        var out: [(String, String)] = []
        for origin in origins.sorted() {
            let scheme = plainHTTPOrigins.contains(origin) ? "http" : "https"
            let caLine = agentCAPEM == nil ? "" : "\n  ca = \"ca.crt\""
            let body = """
            \(Self.marker)
            server = "\(scheme)://\(origin)"

            [host."\(agentEndpoint)"]
              capabilities = ["pull", "resolve"]\(caLine)

            """
            if let p2p = rule.p2pDomain(forOrigin: origin) { out.append((p2p, body)) }
            out.append((origin, body))
        }
        return out
    }

    /// Writes the configuration for `origins`, backing up files it did not write itself.
    public func write(origins: [String]) throws {
        let fm = FileManager.default
        for (host, toml) in documents(origins: origins) {
            let dir = "\(configPath)/\(host)"
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let file = "\(dir)/hosts.toml"
            if let existing = try? String(contentsOfFile: file, encoding: .utf8), !existing.hasPrefix(Self.marker),
               !fm.fileExists(atPath: file + Self.backupSuffix) {
                try fm.moveItem(atPath: file, toPath: file + Self.backupSuffix)
            }
            try toml.write(toFile: file, atomically: true, encoding: .utf8)
            if let agentCAPEM { try agentCAPEM.write(toFile: "\(dir)/ca.crt", atomically: true, encoding: .utf8) }
        }
    }

    /// Removes what `write` wrote and restores backups; leaves others' files alone.
    public func remove(origins: [String]) throws {
        let fm = FileManager.default
        for (host, _) in documents(origins: origins) {
            let dir = "\(configPath)/\(host)"
            let file = "\(dir)/hosts.toml"
            guard let existing = try? String(contentsOfFile: file, encoding: .utf8), existing.hasPrefix(Self.marker) else { continue }
            try fm.removeItem(atPath: file)
            if agentCAPEM != nil { try? fm.removeItem(atPath: "\(dir)/ca.crt") }
            if fm.fileExists(atPath: file + Self.backupSuffix) {
                try fm.moveItem(atPath: file + Self.backupSuffix, toPath: file)
            } else if (try? fm.contentsOfDirectory(atPath: dir))?.isEmpty == true {
                try? fm.removeItem(atPath: dir)
            }
        }
    }
}
