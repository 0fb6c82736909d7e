import Certificates
import Logging
import OCI
import Settings

/// Everything `peerpull agent` is configured with, validated. Each setting's flag, YAML
/// key, default, help and checks are declared once, in `settingTable`
/// (AgentSettings+Declarations.swift); every check names the setting so an operator can fix it.
public struct AgentSettings: Sendable, Equatable {
    public var listen = "0.0.0.0"
    public var port = P2PHostRule.defaultPort
    /// Holds the blob cache and the generated TLS material.
    public var dataDir = "/var/lib/peerpull"
    /// Zero turns the cache off (every blob passes through).
    public var cacheSize = ByteSize(bytes: 20 << 30)
    public var rateLimit = RateLimit.productDefault
    /// Empty is valid (the chart installed before its registries are chosen): the agent
    /// then answers 404 to every pull, and says so at start.
    public var origins: [String] = []
    public var plainHTTPOrigins: [String] = []
    public var originCACert: String?
    public var tlsDir: String?
    /// How long the generated certificates live and when the serving one is issued again
    /// (short ones only in tests: hidden flags).
    public var tlsLifetimes = CertificateLifetimes.standard
    /// How often the running agent checks its serving certificate (and re-reads `tlsDir`).
    public var tlsCheckInterval = Duration.seconds(3600)
    /// containerd's registry `config_path` directory where the agent writes `hosts.toml`.
    public var containerdConfigPath: String?
    /// containerd's config file, as the node names it: read (with its imports) to check
    /// that containerd's `config_path` names `containerdConfigPath`; "" skips the check.
    public var containerdConfig = "/etc/containerd/config.toml"
    /// Where the node's files are seen from the agent (the chart mounts them under `/host`):
    /// containerd's config file, its imports and its `config_path` are node paths read
    /// under it, and `containerdConfigPath` is compared without it. "" on the node itself.
    public var hostRoot = ""
    /// How long an allowed authorization check is remembered.
    public var authCacheSeconds = 60
    /// Seconds a client connection may stay silent before the agent closes it.
    public var idleTimeoutSeconds = 60
    public var logLevel = Logger.Level.info
    /// RAM role whose credentials resolve ACR instance ids (`cri-…`) among the origins.
    public var ramRole: String?
    public var acrRegion: String?

    // The swarm (off unless `peersFile` names the member list).
    /// This agent's name among the members (the Kubernetes node name).
    public var nodeName: String?
    /// A member list, `node address [port]` per line, read again when it changes.
    public var peersFile: String?
    /// The address other agents dial; default: this node's entry in the member list.
    public var advertiseAddress: String?
    public var peerPort = 65002
    /// The cluster's shared secret (at least 16 bytes) that signs peer-port requests.
    public var peerSecretFile: String?
    public var pieceSize = ByteSize(bytes: 1 << 20)
    /// Coordinators per blob (rendezvous hashing over the members).
    public var coordinators = 3
    /// In a cluster: the headless Service whose EndpointSlices list the agents (the chart's
    /// `<release>-agent`), in `membershipNamespace` (default: the pod's own).
    public var membershipService: String?
    public var membershipNamespace: String?
    /// A kubeconfig for the membership watch when not running in a pod.
    public var kubeconfig: String?

    /// Whether the agent joins a swarm (a member list or a membership Service is named).
    public var swarmEnabled: Bool { peersFile != nil || membershipService != nil }

    public init() {}

    /// These settings checked, with plain-HTTP origins counted among the origins (so
    /// tests and demos name a registry once); throws the first invalid setting.
    public func validated() throws(SettingError) -> AgentSettings {
        var s = self
        for p in plainHTTPOrigins where !s.origins.contains(p) { s.origins.append(p) }
        try s.validate()
        return s
    }

    /// Names the first invalid setting, as `field: problem`: each setting's own checks (in
    /// `settingTable`), then the ones between settings.
    public func validate() throws(SettingError) {
        try Self.settingTable.validate(self)
        if let (field, problem) = tlsLifetimes.problem(checkInterval: tlsCheckInterval) { throw .init(field: field, problem: problem) }
        guard peerPort != port else { throw .init(field: "peerPort", problem: "must differ from port \(port)") }
        if peersFile != nil, membershipService != nil {
            throw .init(field: "peersFile", problem: "name either peersFile or membershipService, not both")
        }
        if swarmEnabled {
            guard nodeName?.isEmpty == false else { throw .init(field: "nodeName", problem: "the swarm needs this agent's node name") }
            guard peerSecretFile != nil else { throw .init(field: "peerSecretFile", problem: "the swarm needs the cluster's peer secret") }
            // The member list of a Service is empty until the first list arrives (and the
            // agent is listed only once it is ready): this agent cannot look itself up in it.
            if membershipService != nil, advertiseAddress?.isEmpty ?? true {
                throw .init(field: "advertiseAddress",
                            problem: "with membershipService the agent needs the address other agents dial (the chart passes the node's status.hostIP)")
            }
        }
    }
}

