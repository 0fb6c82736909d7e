import Foundation
import OCI

/// Credentials read from a Docker `config.json` (`auths` with `auth` or
/// `username`/`password`), matched by registry host the way kubelet normalises keys.
public struct DockerConfigCredentials: Sendable {
    public private(set) var entries: [String: RegistryCredentials] = [:]

    public init(entries: [String: RegistryCredentials] = [:]) {
        for (k, v) in entries { self.entries[Self.normalizeKey(k)] = v }
    }

    /// Reads `path`. A missing file yields no credentials; a malformed one throws.
    public init(contentsOf path: String) throws(ConfigFileError) {
        guard FileManager.default.fileExists(atPath: path) else {
            self.init()
            return
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ConfigFileError(path: path, reason: "cannot read it: \(error.localizedDescription)")
        }
        try self.init(json: data, path: path)
    }

    public init(json data: Data, path: String = "<inline>") throws(ConfigFileError) {
        struct Entry: Decodable { var auth: String?; var username: String?; var password: String? }
        struct File: Decodable { var auths: [String: Entry]? }
        let file: File
        do { file = try BoundedJSON.decode(File.self, from: data) } catch {
            throw ConfigFileError(path: path, reason: "not a Docker config.json: \(error)")
        }
        for (key, entry) in file.auths ?? [:] {
            if let auth = entry.auth, !auth.isEmpty {
                guard let decoded = Data(base64Encoded: auth).flatMap({ String(data: $0, encoding: .utf8) }),
                      let colon = decoded.firstIndex(of: ":")
                else { throw ConfigFileError(path: path, reason: "auths[\"\(key)\"].auth is not base64 of user:password") }
                entries[Self.normalizeKey(key)] = RegistryCredentials(
                    username: String(decoded[..<colon]), password: String(decoded[decoded.index(after: colon)...]))
            } else if let u = entry.username, let p = entry.password {
                entries[Self.normalizeKey(key)] = RegistryCredentials(username: u, password: p)
            }
        }
    }

    /// Credentials for a registry domain (`host[:port]`).
    public func credentials(for domain: String) -> RegistryCredentials? {
        if let c = entries[domain.lowercased()] { return c }
        if domain == ImageReference.defaultDomain {
            return entries["index.docker.io"] ?? entries["registry-1.docker.io"]
        }
        return nil
    }

    /// `https://host:port/v1/` → `host:port`, as kubelet's keyring parses keys.
    static func normalizeKey(_ key: String) -> String {
        var k = Substring(key)
        for prefix in ["https://", "http://"] where k.hasPrefix(prefix) { k = k.dropFirst(prefix.count) }
        if let slash = k.firstIndex(of: "/") { k = k[..<slash] }
        return k.lowercased()
    }
}
