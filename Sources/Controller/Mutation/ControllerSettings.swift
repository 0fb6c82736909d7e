import Certificates
import CloudRegistries
import Logging
import OCI

/// Everything `peerpull controller` is configured with, validated; checks name the setting.
public struct ControllerSettings: Sendable, Equatable {
    /// Registry domains and ACR instance ids (`cri-…`), as `p2p.registryInstances` lists them.
    /// Empty is valid (a chart installed before its registries are chosen): every pod is
    /// then admitted unchanged, and the controller says so at start.
    public var registryInstances: [String] = []
    public var anonymousRegistries: [String] = []
    public var agentPort = P2PHostRule.defaultPort
    public var labelKey = "k8s.aliyun.com/image-accelerate-mode"
    public var labelValue = "p2p"
    public var excludedNamespaces: [String] = ["kube-system"]
    /// The controller's own namespace (always excluded; holds the webhook certificate).
    public var namespace = "kube-system"
    public var serviceName = "peerpull-controller"
    public var webhookConfiguration = "peerpull-controller"
    /// The Secret in `namespace` holding the swarm's peer-signing key, created when absent
    /// and never changed (`SwarmSecret`); nil: the controller makes none (no swarm, or the
    /// chart's `p2p.swarm.existingSecret`).
    public var swarmSecret: String?
    public var listen = "0.0.0.0"
    public var port = 9443
    /// A certificate mounted by cert-manager; otherwise one is generated and shared through a Secret.
    public var tlsCertFile: String?
    public var tlsKeyFile: String?
    /// How long the generated webhook certificates live and when the serving one is issued
    /// again (short ones only in tests: hidden flags).
    public var tlsLifetimes = CertificateLifetimes.standard
    /// How often each replica re-reads the certificate (its Secret, or the files of
    /// `tlsCertFile`), and the lease holder checks whether it is due again.
    public var tlsCheckInterval = Duration.seconds(60)
    public var kubeconfig: String?
    public var ramRole: String?
    public var logLevel = Logger.Level.info

    public init() {}

    public func validate() throws(SettingError) {
        for (field, port) in [("agentPort", agentPort), ("port", port)] where !(1...65535).contains(port) {
            throw .init(field: field, problem: "\(port) is not a port between 1 and 65535")
        }
        for r in registryInstances + anonymousRegistries where !isACRInstanceID(r) {
            guard (try? ImageReference(parsing: "\(r)/x")).map({ $0.domain.lowercased() == r.lowercased() }) == true else {
                throw .init(field: registryInstances.contains(r) ? "registryInstances" : "anonymousRegistries",
                            problem: "\"\(r.prefix(100))\" is neither a registry domain (registry.example.com, host:5000) nor an ACR instance id (cri-…)")
            }
        }
        guard tlsLifetimes.leaf > tlsLifetimes.renewBefore, tlsLifetimes.renewBefore > 0 else {
            throw .init(field: "--tls-leaf-lifetime-seconds", problem: "the serving certificate must live longer than --tls-renew-before-seconds (> 0)")
        }
        guard tlsCheckInterval >= .milliseconds(100), tlsCheckInterval < .seconds(tlsLifetimes.renewBefore) else {
            throw .init(field: "--tls-check-seconds", problem: "must be at least 0.1 s and shorter than --tls-renew-before-seconds")
        }
        if let swarmSecret, swarmSecret.count > 253 || swarmSecret.wholeMatch(of: /[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/) == nil {
            throw .init(field: "swarmSecret", problem: "\"\(swarmSecret.prefix(100))\" is not a Secret name (lower-case letters, digits, '-' and '.')")
        }
        guard (tlsCertFile == nil) == (tlsKeyFile == nil) else {
            throw .init(field: "tlsCertFile", problem: "tlsCertFile and tlsKeyFile go together")
        }
    }

}

