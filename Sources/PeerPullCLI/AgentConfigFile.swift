import Agent
import Foundation
import Logging
import OCI
import Yams

/// The agent's YAML file (`--config`). Field names are the `AgentSettings` names;
/// an unknown field or a value of the wrong type stops the agent with the field's path,
/// because a silently ignored typo (say `cachesize:`) is worse than a refusal.
///
/// ```yaml
/// port: 65001
/// dataDir: /var/lib/peerpull
/// cacheSize: 20Gi
/// ratelimit: 512M
/// origins: [registry.example.com]
/// ```
struct AgentConfigFile: Decodable {
    var listen: String?
    var port: Int?
    var dataDir: String?
    var cacheSize: String?
    var ratelimit: String?
    var origins: [String]?
    var plainHTTPOrigins: [String]?
    var originCACert: String?
    var tlsDir: String?
    var containerdConfigPath: String?
    var authCacheSeconds: Int?
    var idleTimeoutSeconds: Int?
    var logLevel: String?

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case listen, port, dataDir, cacheSize, ratelimit, origins, plainHTTPOrigins, originCACert, tlsDir
        case containerdConfigPath, authCacheSeconds, idleTimeoutSeconds, logLevel
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let all = try decoder.container(keyedBy: AnyKey.self)
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let unknown = all.allKeys.first(where: { !known.contains($0.stringValue) }) {
            throw AgentSettingsError(field: unknown.stringValue,
                                     problem: "is not a known setting (known: \(CodingKeys.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        listen = try c.decodeIfPresent(String.self, forKey: .listen)
        port = try c.decodeIfPresent(Int.self, forKey: .port)
        dataDir = try c.decodeIfPresent(String.self, forKey: .dataDir)
        cacheSize = try c.decodeIfPresent(String.self, forKey: .cacheSize)
        ratelimit = try c.decodeIfPresent(String.self, forKey: .ratelimit)
        origins = try c.decodeIfPresent([String].self, forKey: .origins)
        plainHTTPOrigins = try c.decodeIfPresent([String].self, forKey: .plainHTTPOrigins)
        originCACert = try c.decodeIfPresent(String.self, forKey: .originCACert)
        tlsDir = try c.decodeIfPresent(String.self, forKey: .tlsDir)
        containerdConfigPath = try c.decodeIfPresent(String.self, forKey: .containerdConfigPath)
        authCacheSeconds = try c.decodeIfPresent(Int.self, forKey: .authCacheSeconds)
        idleTimeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .idleTimeoutSeconds)
        logLevel = try c.decodeIfPresent(String.self, forKey: .logLevel)
    }

    /// Reads and decodes `path`, turning decoding errors into `AgentSettingsError`s that name the field.
    static func load(_ path: String) throws(AgentSettingsError) -> AgentConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AgentSettingsError(field: "--config", problem: "cannot read \(path)")
        }
        let text = String(decoding: data, as: UTF8.self)
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return try! YAMLDecoder().decode(AgentConfigFile.self, from: "{}") }
        do {
            return try YAMLDecoder().decode(AgentConfigFile.self, from: text)
        } catch let e as AgentSettingsError {
            throw e
        } catch let DecodingError.typeMismatch(type, context) {
            throw AgentSettingsError(field: Self.path(context.codingPath), problem: "expected \(Self.name(of: type)) in \(path)")
        } catch let DecodingError.dataCorrupted(context) {
            // Yams reports errors thrown by our own decoding (unknown fields) and YAML
            // syntax errors this way; both carry the real cause underneath.
            if let e = context.underlyingError as? AgentSettingsError { throw e }
            if context.codingPath.isEmpty, let cause = context.underlyingError {
                throw AgentSettingsError(field: "--config", problem: "\(path) is not valid YAML: \(cause)")
            }
            throw AgentSettingsError(field: Self.path(context.codingPath), problem: "\(context.debugDescription) in \(path)")
        } catch let DecodingError.valueNotFound(type, context) {
            throw AgentSettingsError(field: Self.path(context.codingPath), problem: "expected \(Self.name(of: type)), found null in \(path)")
        } catch {
            throw AgentSettingsError(field: "--config", problem: "\(path) is not valid YAML: \(error)")
        }
    }

    private static func path(_ codingPath: [any CodingKey]) -> String {
        codingPath.isEmpty ? "(top level)" : codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    private static func name(of type: Any.Type) -> String {
        switch type {
        case is Int.Type: "a whole number"
        case is String.Type: "a string"
        case is [String].Type: "a list of strings"
        default: "\(type)"
        }
    }

    /// Applies the file's values over `settings`.
    func apply(to settings: inout AgentSettings) throws(AgentSettingsError) {
        if let listen { settings.listen = listen }
        if let port { settings.port = port }
        if let dataDir { settings.dataDir = dataDir }
        if let cacheSize {
            do { settings.cacheSize = try ByteSize(parsing: cacheSize) } catch { throw .init(field: "cacheSize", problem: error.description) }
        }
        if let ratelimit {
            do { settings.rateLimit = try RateLimit(parsing: ratelimit) } catch { throw .init(field: "ratelimit", problem: error.description) }
        }
        if let origins { settings.origins = origins }
        if let plainHTTPOrigins { settings.plainHTTPOrigins = plainHTTPOrigins }
        if let originCACert { settings.originCACert = originCACert }
        if let tlsDir { settings.tlsDir = tlsDir }
        if let containerdConfigPath { settings.containerdConfigPath = containerdConfigPath }
        if let authCacheSeconds { settings.authCacheSeconds = authCacheSeconds }
        if let idleTimeoutSeconds { settings.idleTimeoutSeconds = idleTimeoutSeconds }
        if let logLevel {
            guard let level = Logger.Level(rawValue: logLevel) else {
                throw .init(field: "logLevel", problem: "\"\(logLevel)\" is not one of trace, debug, info, notice, warning, error, critical")
            }
            settings.logLevel = level
        }
    }
}
