import Certificates
import Logging
import OCI
import Settings

/// Everything `peerpull controller` is configured with, validated; checks name the setting.
/// Each setting's flag, YAML key, default, help and checks are declared once, in
/// `settingTable` (ControllerSettings+Declarations.swift).
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
    /// The ACR region and OpenAPI endpoint for instance ids; nil: the node's region (ECS
    /// metadata) and `https://cr.<region>.aliyuncs.com`.
    public var acrRegion: String?
    public var acrEndpoint: String?
    public var ecsMetadataEndpoint: String?
    /// The agents' DaemonSet in `namespace`: while it is not ready on every node that should
    /// run it, pods are admitted unchanged (`AgentPresence`). nil: always rewrite.
    public var agentDaemonSet: String?
    /// Extra IP addresses in the generated webhook certificate.
    public var certificateIPAddresses = ["127.0.0.1"]
    public var logLevel = Logger.Level.info

    public init() {}

    /// Names the first invalid setting: each setting's own checks (in `settingTable`), then
    /// the ones between settings.
    public func validate() throws(SettingError) {
        try Self.settingTable.validate(self)
        if let (field, problem) = tlsLifetimes.problem(checkInterval: tlsCheckInterval) { throw .init(field: field, problem: problem) }
        guard (tlsCertFile == nil) == (tlsKeyFile == nil) else {
            throw .init(field: "tlsCertFile", problem: "tlsCertFile and tlsKeyFile go together")
        }
    }

}

