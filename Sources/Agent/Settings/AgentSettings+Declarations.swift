import CloudRegistries
import OCI
import Settings
import Swarm

extension AgentSettings: DeclaredSettings {
    /// Every setting of `peerpull agent`: its flag, `--config` key, chart value, default,
    /// help and checks. docs/configuration.md is generated from this table.
    public static let settingTable = SettingTable<AgentSettings>([
        .text(\.listen, yaml: "listen", flag: "listen", help: "Address to listen on."),
        .number(\.port, in: 1...65535, yaml: "port", flag: "port", chart: "p2p.port",
                help: "Port of the registry API: the port in the P2P host names containerd pulls from."),
        .text(\.dataDir, yaml: "dataDir", flag: "data-dir", help: "Directory for the blob cache and generated TLS files.",
              valid: { $0.isEmpty ? "must not be empty" : nil }),
        .parsed(\.cacheSize, yaml: "cacheSize", flag: "cache-size", chart: "p2p.cacheSize",
                help: "Cache size limit, e.g. 20Gi, 500Mi, 10G; 0 turns the cache off.", parse: ByteSize.init(parsing:)),
        .list(\.origins, yaml: "origins", flag: "origin", chart: "p2p.registryInstances",
              help: "Origin registry domains to accelerate (the flag repeated for several); ACR instance ids (cri-…) are resolved with ramRole.",
              valid: registryDomainProblem),
        .list(\.plainHTTPOrigins, yaml: "plainHTTPOrigins", flag: "plain-http-origin",
              help: "Origins reached over plain HTTP, counted among the origins (test registries only; the flag repeated for several).",
              valid: registryDomainProblem),
        .parsed(\.rateLimit, yaml: "ratelimit", flag: "ratelimit", chart: "p2p.ratelimit", default: "512M",
                help: "Total rate for bytes crossing the network: 512M means 512 MB/s (K/M/G decimal, Ki/Mi/Gi binary).",
                parse: RateLimit.init(parsing:)),
        .optionalText(\.originCACert, yaml: "originCACert", flag: "origin-ca-cert", chart: "p2p.originCACert",
                      help: "PEM file of a CA to trust for origins, in addition to the system roots."),
        .optionalText(\.tlsDir, yaml: "tlsDir", flag: "tls-dir", chart: "p2p.tls",
                      help: "Serve HTTPS with ca.crt, tls.crt and tls.key from this directory, generating them when missing (the CA is written next to each hosts.toml as peerpull-agent-ca.crt)."),
        .optionalText(\.containerdConfigPath, yaml: "containerdConfigPath", flag: "containerd-config-path", chart: "p2p.containerdConfig.configPath",
                      help: "containerd's registry config_path (e.g. /etc/containerd/certs.d): write hosts.toml there for each origin and its P2P host."),
        .text(\.containerdConfig, yaml: "containerdConfig", flag: "containerd-config", chart: "p2p.containerdConfig.configFile",
              help: "containerd's config file as the node names it, read with its imports to check that its CRI registry config_path names --containerd-config-path; until it does, /readyz answers 503 saying what to set. \"\" skips the check.",
              valid: { $0.isEmpty || $0.hasPrefix("/") ? nil : "\"\($0.prefix(200))\" must be an absolute path on the node, like /etc/containerd/config.toml (\"\" skips the check)" }),
        .text(\.hostRoot, yaml: "hostRoot", flag: "host-root",
              help: "Where the node's files are mounted in the agent's container (the chart: /host): containerd's config file, its imports and config_path are read under it.",
              valid: { $0.isEmpty || $0.hasPrefix("/") ? nil : "\"\($0.prefix(200))\" must be an absolute path, like /host" }),
        .number(\.authCacheSeconds, in: 0...86_400, yaml: "authCacheSeconds", flag: "auth-cache-seconds", chart: "p2p.authCacheSeconds",
                help: "Seconds an allowed authorization check at the origin is remembered (0 checks every request)."),
        .number(\.idleTimeoutSeconds, in: 1...3600, yaml: "idleTimeoutSeconds", flag: nil,
                help: "Seconds a client connection may stay silent before the agent closes it."),
        .logLevel(\.logLevel, yaml: "logLevel", flag: "log-level", chart: "logLevel",
                  help: "Log level: trace, debug, info, notice, warning, error, critical."),
        .optionalText(\.ramRole, yaml: "ramRole", flag: nil, chart: "controller.ramRole", emptyIsUnset: true,
                      help: "RAM role whose credentials resolve ACR instance ids (cri-…) among the origins."),
        .optionalText(\.acrRegion, yaml: "acrRegion", flag: nil, chart: "controller.region", default: "the node's (ECS metadata)", emptyIsUnset: true,
                      help: "ACR region of the instance ids among the origins."),
        .optionalText(\.nodeName, yaml: "nodeName", flag: "node-name", chart: "p2p.swarm.enabled", emptyIsUnset: true,
                      help: "This agent's node name among the swarm's members (the Kubernetes node name)."),
        .optionalText(\.peersFile, yaml: "peersFile", flag: "peers", emptyIsUnset: true,
                      help: "The swarm's member list, `node address [port]` per line, read again when it changes; without it (or membershipService) the agent works alone."),
        .optionalText(\.advertiseAddress, yaml: "advertiseAddress", flag: "advertise-address", chart: "p2p.swarm.enabled",
                      default: "this node's entry in peersFile", emptyIsUnset: true,
                      help: "The address other agents dial: required with membershipService (the chart passes the node's status.hostIP). Its family (IPv4 or IPv6) picks the EndpointSlices of a dual-stack Service."),
        .number(\.peerPort, in: 1...65535, yaml: "peerPort", flag: "peer-port", chart: "p2p.peerPort",
                help: "Port for agent-to-agent transfers and coordination."),
        .optionalText(\.peerSecretFile, yaml: "peerSecretFile", flag: "peer-secret-file", chart: "p2p.swarm.enabled", emptyIsUnset: true,
                      help: "File holding the cluster's shared secret that signs peer-port requests (at least 16 bytes)."),
        .parsed(\.pieceSize, yaml: "pieceSize", flag: "piece-size", chart: "p2p.swarm.pieceSize",
                help: "Piece size of swarm transfers (256Ki to 16Mi).", parse: ByteSize.init(parsing:),
                valid: { PieceLayout.allowedPieceSizes.contains(Int($0.bytes)) ? nil : "\($0) is outside 256Ki...16Mi" }),
        .number(\.coordinators, in: 1...16, yaml: "coordinators", flag: nil,
                help: "Coordinators per blob (rendezvous hashing over the members)."),
        .optionalText(\.membershipService, yaml: "membershipService", flag: "membership-service", chart: "p2p.swarm.enabled", emptyIsUnset: true,
                      help: "In a cluster: the headless Service whose EndpointSlices list the agents (the swarm's members)."),
        .optionalText(\.membershipNamespace, yaml: "membershipNamespace", flag: "membership-namespace", chart: "p2p.swarm.enabled",
                      default: "the pod's", emptyIsUnset: true, help: "Namespace of membershipService."),
        .optionalText(\.kubeconfig, yaml: "kubeconfig", flag: "kubeconfig", emptyIsUnset: true,
                      help: "kubeconfig for the membership watch, when not running in a pod."),
    ])
}

/// The first entry that is neither a registry domain nor an ACR instance id.
@Sendable func registryDomainProblem(_ registries: [String]) -> String? {
    for o in registries where !isACRInstanceID(o) {
        guard (try? ImageReference(parsing: "\(o)/x")).map({ $0.domain == o }) == true else {
            return "\"\(o.prefix(100))\" is not a registry domain like registry.example.com or host:5000"
        }
    }
    return nil
}
