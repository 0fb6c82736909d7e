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
/// back by `remove()`, so uninstalling leaves the node as it was. Its top-level trust
/// settings (`ca`, `client`, `skip_verify`: how the node reaches the origin, e.g. a
/// private CA in `ca.crt` beside it) carry over to the `server` fallback written in its
/// place. The agent's own CA goes into `peerpull-agent-ca.crt`, never over a file of the
/// operator's.
public struct ContainerdHostsConfig: Sendable {
    public var configPath: String
    public var agentEndpoint: String
    public var rule: P2PHostRule
    /// Origins reached over plain HTTP (test registries).
    public var plainHTTPOrigins: Set<String>
    /// The agent's CA, written as `peerpull-agent-ca.crt` beside each `hosts.toml` when the agent speaks TLS.
    public var agentCAPEM: String?

    public static let agentCAFile = "peerpull-agent-ca.crt"
    /// Top-level keys of an operator's `hosts.toml` that say how to reach its `server`.
    static let inheritedKeys: Set<String> = ["ca", "client", "skip_verify"]

    static let marker = "# Written by peerpull agent; `peerpull agent --undo-containerd-config` removes it."
    static let backupSuffix = ".peerpull-backup"

    public init(configPath: String, agentEndpoint: String, rule: P2PHostRule, plainHTTPOrigins: Set<String> = [], agentCAPEM: String? = nil) {
        self.configPath = configPath
        self.agentEndpoint = agentEndpoint
        self.rule = rule
        self.plainHTTPOrigins = plainHTTPOrigins
        self.agentCAPEM = agentCAPEM
    }

    /// The files to write: host directory name → `hosts.toml` content. `originTrust`: the
    /// top-level trust lines of the operator's own file for an origin, if any; they apply
    /// to the `server` fallback (in the origin's directory, where its files are; the P2P
    /// host's file names them relative to its own directory, as containerd resolves them).
    public func documents(origins: [String], originTrust: [String: [String]] = [:]) -> [(host: String, toml: String)] {
        var out: [(String, String)] = []
        for origin in origins.sorted() {
            let scheme = plainHTTPOrigins.contains(origin) ? "http" : "https"
            let caLine = agentCAPEM == nil ? "" : "\n  ca = \"\(Self.agentCAFile)\""
            func body(_ trust: [String]) -> String {
                """
                \(Self.marker)
                server = "\(scheme)://\(origin)"
                \(trust.map { $0 + "\n" }.joined())
                [host."\(agentEndpoint)"]
                  capabilities = ["pull", "resolve"]\(caLine)

                """
            }
            let trust = originTrust[origin] ?? []
            if let p2p = rule.p2pDomain(forOrigin: origin) { out.append((p2p, body(trust.map { fromSibling($0, in: origin) }))) }
            out.append((origin, body(trust)))
        }
        return out
    }

    /// `ca = "ca.crt"` of the origin's directory as seen from a sibling directory
    /// (`../<origin>/ca.crt`); absolute paths stay.
    private func fromSibling(_ line: String, in origin: String) -> String {
        line.replacingOccurrences(of: #""([^"/][^"]*)""#, with: "\"../\(origin)/$1\"", options: .regularExpression)
    }

    /// The top-level `ca`, `client` and `skip_verify` lines of a `hosts.toml` (before its first table).
    static func trustLines(of toml: String) -> [String] {
        var lines: [String] = []
        for line in toml.split(separator: "\n", omittingEmptySubsequences: false) {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("[") { break }
            guard let eq = t.firstIndex(of: "="), !t.hasPrefix("#") else { continue }
            if inheritedKeys.contains(t[..<eq].trimmingCharacters(in: .whitespaces)) { lines.append(t) }
        }
        return lines
    }

    /// The operator's trust lines for each origin, from its file or the backup of it.
    func originTrust(origins: [String]) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for origin in origins {
            let file = "\(configPath)/\(origin)/hosts.toml"
            let theirs = [file + Self.backupSuffix, file].lazy
                .compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }
                .first { !$0.hasPrefix(Self.marker) }
            if let theirs { out[origin] = Self.trustLines(of: theirs) }
        }
        return out
    }

    /// Writes the configuration for `origins`, backing up files it did not write itself.
    public func write(origins: [String]) throws {
        let fm = FileManager.default
        for (host, toml) in documents(origins: origins, originTrust: originTrust(origins: origins)) {
            let dir = "\(configPath)/\(host)"
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let file = "\(dir)/hosts.toml"
            if let existing = try? String(contentsOfFile: file, encoding: .utf8), !existing.hasPrefix(Self.marker),
               !fm.fileExists(atPath: file + Self.backupSuffix) {
                try fm.moveItem(atPath: file, toPath: file + Self.backupSuffix)
            }
            try toml.write(toFile: file, atomically: true, encoding: .utf8)
            if let agentCAPEM { try agentCAPEM.write(toFile: "\(dir)/\(Self.agentCAFile)", atomically: true, encoding: .utf8) }
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
            if agentCAPEM != nil { try? fm.removeItem(atPath: "\(dir)/\(Self.agentCAFile)") }
            if fm.fileExists(atPath: file + Self.backupSuffix) {
                try fm.moveItem(atPath: file + Self.backupSuffix, toPath: file)
            } else if (try? fm.contentsOfDirectory(atPath: dir))?.isEmpty == true {
                try? fm.removeItem(atPath: dir)
            }
        }
    }
}
