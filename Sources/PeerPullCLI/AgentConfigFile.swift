import Agent
import OCI
import Logging

/// The agent's YAML file (`--config`). Field names are the `AgentSettings` names:
///
/// ```yaml
/// port: 65001
/// dataDir: /var/lib/peerpull
/// cacheSize: 20Gi
/// ratelimit: 512M
/// origins: [registry.example.com]
/// ```
enum AgentConfigFile {
    static let fields = ["listen", "port", "dataDir", "cacheSize", "ratelimit", "origins", "plainHTTPOrigins", "originCACert",
                         "tlsDir", "containerdConfigPath", "containerdConfig", "hostRoot", "authCacheSeconds", "idleTimeoutSeconds", "logLevel", "ramRole", "acrRegion",
                         "nodeName", "peersFile", "advertiseAddress", "peerPort", "peerSecretFile", "pieceSize", "coordinators",
                         "membershipService", "membershipNamespace", "kubeconfig"]

    /// Applies the file's values over `settings`; errors name the field.
    static func apply(_ path: String, to s: inout AgentSettings) throws(SettingError) {
        let f = try SettingsFile(path: path, known: fields)
        if let v = try f.string("listen") { s.listen = v }
        if let v = try f.int("port") { s.port = v }
        if let v = try f.string("dataDir") { s.dataDir = v }
        if let v = try f.string("cacheSize") {
            do { s.cacheSize = try ByteSize(parsing: v) } catch { throw SettingError(field: "cacheSize", problem: error.description) }
        }
        if let v = try f.string("ratelimit") {
            do { s.rateLimit = try RateLimit(parsing: v) } catch { throw SettingError(field: "ratelimit", problem: error.description) }
        }
        if let v = try f.strings("origins") { s.origins = v }
        if let v = try f.strings("plainHTTPOrigins") { s.plainHTTPOrigins = v }
        if let v = try f.string("originCACert") { s.originCACert = v }
        if let v = try f.string("tlsDir") { s.tlsDir = v }
        if let v = try f.string("containerdConfigPath") { s.containerdConfigPath = v }
        if let v = try f.string("containerdConfig") { s.containerdConfig = v }
        if let v = try f.string("hostRoot") { s.hostRoot = v }
        if let v = try f.int("authCacheSeconds") { s.authCacheSeconds = v }
        if let v = try f.int("idleTimeoutSeconds") { s.idleTimeoutSeconds = v }
        if let v = try f.string("ramRole") { s.ramRole = v.isEmpty ? nil : v }
        if let v = try f.string("acrRegion") { s.acrRegion = v.isEmpty ? nil : v }
        if let v = try f.logLevel("logLevel") { s.logLevel = v }
        if let v = try f.string("nodeName") { s.nodeName = v.isEmpty ? nil : v }
        if let v = try f.string("peersFile") { s.peersFile = v.isEmpty ? nil : v }
        if let v = try f.string("advertiseAddress") { s.advertiseAddress = v.isEmpty ? nil : v }
        if let v = try f.int("peerPort") { s.peerPort = v }
        if let v = try f.string("peerSecretFile") { s.peerSecretFile = v.isEmpty ? nil : v }
        if let v = try f.string("pieceSize") {
            do { s.pieceSize = try ByteSize(parsing: v) } catch { throw SettingError(field: "pieceSize", problem: error.description) }
        }
        if let v = try f.int("coordinators") { s.coordinators = v }
        if let v = try f.string("membershipService") { s.membershipService = v.isEmpty ? nil : v }
        if let v = try f.string("membershipNamespace") { s.membershipNamespace = v.isEmpty ? nil : v }
        if let v = try f.string("kubeconfig") { s.kubeconfig = v.isEmpty ? nil : v }
    }
}
