import Foundation
import OCI

/// The registry credentials of a pull secret, keyed as kubelet matches them.
///
/// Both secret types are read: `kubernetes.io/dockerconfigjson` (`.dockerconfigjson`,
/// `{"auths":{…}}`) and the legacy `kubernetes.io/dockercfg` (`.dockercfg`, the bare map).
/// Entries are kept as JSON, so a copy carries `auth`, `username`, `password` and
/// `identitytoken` exactly as the original had them.
public struct DockerConfig: Sendable, Equatable {
    public enum Format: String, Sendable {
        case dockerConfigJSON = "kubernetes.io/dockerconfigjson"
        case dockerCfg = "kubernetes.io/dockercfg"

        public var dataKey: String { self == .dockerConfigJSON ? ".dockerconfigjson" : ".dockercfg" }
    }

    public var format: Format
    /// Registry key (as written in the secret) → its entry, in the secret's order.
    public var entries: [(key: String, entry: JSONValue)]

    public static func == (a: Self, b: Self) -> Bool {
        a.format == b.format && a.entries.map(\.key) == b.entries.map(\.key) && a.entries.map(\.entry) == b.entries.map(\.entry)
    }

    /// Reads a secret's credentials; nil when it is not a pull secret or cannot be read.
    public init?(secret: Secret) {
        guard let type = secret.type.flatMap(Format.init(rawValue:)),
              let encoded = secret.data?[type.dataKey],
              let data = Data(base64Encoded: encoded) else { return nil }
        self.init(format: type, json: data)
    }

    public init?(format: Format, json: Data) {
        guard case .object(let top)? = try? BoundedJSON.decode(JSONValue.self, from: json) else { return nil }
        let map: [String: JSONValue]
        switch format {
        case .dockerConfigJSON:
            guard case .object(let auths)? = top["auths"] else { return nil }
            map = auths
        case .dockerCfg:
            map = top
        }
        self.format = format
        self.entries = map.keys.sorted().map { ($0, map[$0]!) }
    }

    public init(format: Format, entries: [(key: String, entry: JSONValue)]) {
        self.format = format
        self.entries = entries
    }

    /// The secret data value (JSON, not yet base64).
    public func encoded() -> Data {
        let map = JSONValue.object(Dictionary(entries.map { ($0.key, $0.entry) }, uniquingKeysWith: { a, _ in a }))
        let top = format == .dockerConfigJSON ? JSONValue.object(["auths": map]) : map
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(top)) ?? Data()
    }

    /// True when the entry `key` is one kubelet would use for an image in `repository`
    /// at `domain` (kubelet `credentialprovider/keyring.go`: `https://` implied, a `/v1/`
    /// or `/v2/` path dropped, ports equal, hosts equal label by label with `*` globs,
    /// the key's path a prefix of the repository).
    public static func key(_ key: String, covers domain: String, repository: String) -> Bool {
        guard let k = RegistryKey(key), let target = RegistryKey(domain + "/" + repository) else { return false }
        guard k.port == target.port else { return false }
        let kl = k.host.split(separator: ".", omittingEmptySubsequences: false)
        let tl = target.host.split(separator: ".", omittingEmptySubsequences: false)
        guard kl.count == tl.count else { return false }
        for (a, b) in zip(kl, tl) where !Self.glob(String(a), matches: String(b)) { return false }
        return target.path.hasPrefix(k.path)
    }

    /// The path part of a key (after the host), with kubelet's `/v1/` `/v2/` removal.
    public static func path(of key: String) -> String { RegistryKey(key)?.path ?? "" }

    private static func glob(_ pattern: String, matches text: String) -> Bool {
        guard pattern.contains("*") else { return pattern == text }
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false).map(String.init)
        var rest = Substring(text)
        guard rest.hasPrefix(parts[0]) else { return false }
        rest = rest.dropFirst(parts[0].count)
        for (i, part) in parts.enumerated().dropFirst() {
            if i == parts.count - 1 { return rest.hasSuffix(part) }
            guard let r = rest.range(of: part) else { return false }
            rest = rest[r.upperBound...]
        }
        return true
    }

    /// A key or image location as kubelet normalises it.
    private struct RegistryKey {
        var host: String
        var port: String
        var path: String

        init?(_ raw: String) {
            var s = Substring(raw.lowercased())
            for scheme in ["https://", "http://"] where s.hasPrefix(scheme) { s = s.dropFirst(scheme.count) }
            let slash = s.firstIndex(of: "/") ?? s.endIndex
            var hostPort = s[..<slash]
            var path = String(s[slash...])
            if path.hasPrefix("/v2/") || path.hasPrefix("/v1/") { path = String(path.dropFirst(3)) }
            if path == "/v1" || path == "/v2" || path == "/" { path = "" }
            if path.hasSuffix("/") { path = String(path.dropLast()) }
            var port = ""
            if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]") {
                port = String(hostPort[hostPort.index(after: colon)...])
                hostPort = hostPort[..<colon]
            }
            guard !hostPort.isEmpty else { return nil }
            host = String(hostPort)
            self.port = port
            self.path = path
        }
    }
}
