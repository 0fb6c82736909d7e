import Controller
import OCI
import Logging

/// The controller's YAML file (`--config`), with the `ControllerSettings` names:
///
/// ```yaml
/// registryInstances: [test-registry-vpc.cn-hangzhou.cr.aliyuncs.com, cri-xxx]
/// agentPort: 65001
/// ramRole: acr-reader
/// ```
enum ControllerConfigFile {
    static let fields = ["registryInstances", "anonymousRegistries", "agentPort", "labelKey", "labelValue", "excludedNamespaces",
                         "namespace", "serviceName", "webhookConfiguration", "swarmSecret", "listen", "port", "tlsCertFile", "tlsKeyFile",
                         "kubeconfig", "ramRole", "acrRegion", "acrEndpoint", "logLevel"]

    /// Applies the file's values over `settings`; also returns the ACR region and endpoint.
    static func apply(_ path: String, to s: inout ControllerSettings) throws(SettingError) -> (region: String?, endpoint: String?) {
        let f = try SettingsFile(path: path, known: fields)
        if let v = try f.strings("registryInstances") { s.registryInstances = v }
        if let v = try f.strings("anonymousRegistries") { s.anonymousRegistries = v }
        if let v = try f.int("agentPort") { s.agentPort = v }
        if let v = try f.string("labelKey") { s.labelKey = v }
        if let v = try f.string("labelValue") { s.labelValue = v }
        if let v = try f.strings("excludedNamespaces") { s.excludedNamespaces = v }
        if let v = try f.string("namespace") { s.namespace = v }
        if let v = try f.string("serviceName") { s.serviceName = v }
        if let v = try f.string("webhookConfiguration") { s.webhookConfiguration = v }
        if let v = try f.string("swarmSecret") { s.swarmSecret = v.isEmpty ? nil : v }
        if let v = try f.string("listen") { s.listen = v }
        if let v = try f.int("port") { s.port = v }
        if let v = try f.string("tlsCertFile") { s.tlsCertFile = v }
        if let v = try f.string("tlsKeyFile") { s.tlsKeyFile = v }
        if let v = try f.string("kubeconfig") { s.kubeconfig = v }
        if let v = try f.string("ramRole") { s.ramRole = v.isEmpty ? nil : v }
        if let v = try f.logLevel("logLevel") { s.logLevel = v }
        return (try f.string("acrRegion"), try f.string("acrEndpoint"))
    }
}
