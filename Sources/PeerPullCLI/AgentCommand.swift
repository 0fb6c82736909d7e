import Agent
import ArgumentParser
import Foundation
import Logging
import OCI

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the node agent: the OCI pull API for the accelerated registries, with a verified blob cache.",
        discussion: "Settings come from --config (YAML, same names as below in camelCase) and are overridden by flags."
    )

    @Option(help: "YAML file with the agent's settings (flags override it).")
    var config: String?

    @Option(help: "Address to listen on (default 0.0.0.0).")
    var listen: String?

    @Option(help: "Port of the registry API, the P2P host port (default 65001).")
    var port: Int?

    @Option(help: "Directory for the blob cache and generated TLS files (default /var/lib/peerpull).")
    var dataDir: String?

    @Option(help: "Cache size limit, e.g. 20Gi (the default), 500Mi, 10G; 0 turns the cache off.")
    var cacheSize: String?

    @Option(name: .customLong("origin"), help: "An origin registry domain to accelerate (repeat for several).")
    var origins: [String] = []

    @Option(name: .customLong("plain-http-origin"), help: "An origin reached over plain HTTP (test registries only; repeatable).")
    var plainHTTPOrigins: [String] = []

    @Option(help: "Total rate for bytes crossing the network: 512M (the default) means 512 MB/s (K/M/G decimal, Ki/Mi/Gi binary).")
    var ratelimit: String?

    @Option(help: "PEM file of a CA to trust for origins, in addition to the system roots.")
    var originCaCert: String?

    @Option(help: "Serve HTTPS with ca.crt, tls.crt and tls.key from this directory, generating them when missing (the CA is written next to each hosts.toml as peerpull-agent-ca.crt).")
    var tlsDir: String?

    @Option(help: "containerd's registry config_path (e.g. /etc/containerd/certs.d): write hosts.toml there for each origin and its P2P host.")
    var containerdConfigPath: String?

    @Option(help: "containerd's config file as the node names it (default /etc/containerd/config.toml), read with its imports to check that its CRI registry config_path names --containerd-config-path; until it does, /readyz answers 503 saying what to set. \"\" skips the check.")
    var containerdConfig: String?

    @Option(help: "Where the node's files are mounted in the agent's container (the chart: /host): containerd's config file, its imports and config_path are read under it.")
    var hostRoot: String?

    @Option(help: "Seconds an allowed authorization check at the origin is remembered (default 60; 0 checks every request).")
    var authCacheSeconds: Int?

    @Option(help: "Log level: trace, debug, info (the default), notice, warning, error, critical.")
    var logLevel: String?

    @Option(help: "This agent's node name among the swarm's members (the Kubernetes node name).")
    var nodeName: String?

    @Option(help: "The swarm's member list, `node address [port]` per line, read again when it changes; without it the agent works alone.")
    var peers: String?

    @Option(help: "The address other agents dial: required with --membership-service (the chart passes the node's status.hostIP); with --peers, default: this node's entry in the list. Its family (IPv4 or IPv6) picks the EndpointSlices of a dual-stack Service.")
    var advertiseAddress: String?

    @Option(help: "Port for agent-to-agent transfers and coordination (default 65002).")
    var peerPort: Int?

    @Option(help: "File holding the cluster's shared secret that signs peer-port requests (at least 16 bytes).")
    var peerSecretFile: String?

    @Option(help: "Piece size of swarm transfers (default 1Mi; 256Ki to 16Mi).")
    var pieceSize: String?

    @Option(help: "In a cluster: the headless Service whose EndpointSlices list the agents (the swarm's members).")
    var membershipService: String?

    @Option(help: "Namespace of --membership-service (default: the pod's).")
    var membershipNamespace: String?

    @Option(help: "kubeconfig for the membership watch, when not running in a pod.")
    var kubeconfig: String?

    @Flag(help: .hidden)
    var faultCorruptPieces = false

    // Short certificate lifetimes, for the renewal tests only.
    @Option(help: .hidden)
    var tlsLeafLifetimeSeconds: Double?
    @Option(help: .hidden)
    var tlsRenewBeforeSeconds: Double?
    @Option(help: .hidden)
    var tlsCheckSeconds: Double?

    @Flag(help: "Remove the hosts.toml files the agent wrote under --containerd-config-path, restore what was there, and exit.")
    var undoContainerdConfig = false

    @Flag(help: "Write the node configuration (TLS files, hosts.toml) and exit: the DaemonSet's init step.")
    var setupOnly = false

    @Flag(help: "Check the settings (flags and --config) and exit: 0 when they are valid, else the invalid setting named. Starts and writes nothing.")
    var checkConfig = false

    /// Defaults, then the file, then flags; validated.
    func settings() throws -> AgentSettings {
        var s = AgentSettings()
        if let config { try AgentConfigFile.apply(config, to: &s) }
        if let listen { s.listen = listen }
        if let port { s.port = port }
        if let dataDir { s.dataDir = dataDir }
        if let cacheSize {
            do { s.cacheSize = try ByteSize(parsing: cacheSize) } catch { throw ValidationError("--cache-size: \(error.description)") }
        }
        if !origins.isEmpty { s.origins = origins }
        if !plainHTTPOrigins.isEmpty { s.plainHTTPOrigins = plainHTTPOrigins }
        if let ratelimit {
            do { s.rateLimit = try RateLimit(parsing: ratelimit) } catch { throw ValidationError("--ratelimit: \(error.description)") }
        }
        if let originCaCert { s.originCACert = originCaCert }
        if let tlsDir { s.tlsDir = tlsDir }
        if let tlsLeafLifetimeSeconds { s.tlsLifetimes.leaf = tlsLeafLifetimeSeconds }
        if let tlsRenewBeforeSeconds { s.tlsLifetimes.renewBefore = tlsRenewBeforeSeconds }
        if let tlsCheckSeconds { s.tlsCheckInterval = .milliseconds(Int64(tlsCheckSeconds * 1000)) }
        if let containerdConfigPath { s.containerdConfigPath = containerdConfigPath }
        if let containerdConfig { s.containerdConfig = containerdConfig }
        if let hostRoot { s.hostRoot = hostRoot }
        if let authCacheSeconds { s.authCacheSeconds = authCacheSeconds }
        if let nodeName { s.nodeName = nodeName }
        if let peers { s.peersFile = peers }
        if let advertiseAddress { s.advertiseAddress = advertiseAddress }
        if let peerPort { s.peerPort = peerPort }
        if let peerSecretFile { s.peerSecretFile = peerSecretFile }
        if let membershipService { s.membershipService = membershipService }
        if let membershipNamespace { s.membershipNamespace = membershipNamespace }
        if let kubeconfig { s.kubeconfig = kubeconfig }
        if let pieceSize {
            do { s.pieceSize = try ByteSize(parsing: pieceSize) } catch { throw ValidationError("--piece-size: \(error.description)") }
        }
        if let logLevel {
            guard let level = Logger.Level(rawValue: logLevel) else {
                throw ValidationError("--log-level \"\(logLevel)\" is not one of trace, debug, info, notice, warning, error, critical")
            }
            s.logLevel = level
        }
        return try s.validated()
    }

    func validate() throws {
        do { _ = try settings() } catch let e as SettingError { throw ValidationError(e.description) }
    }

    func run() async throws {
        MallocTuning.forTransferBuffers()
        PeerPortLimits.raiseDescriptorLimit()
        let s = try settings()
        if checkConfig {
            print("agent settings are valid")
            return
        }
        LoggingOptions.bootstrap(level: s.logLevel)
        let logger = Logger(label: "peerpull.agent")
        do {
            var agent = AgentService(settings: s, faultCorruptPieces: faultCorruptPieces, logger: logger)
            try await agent.resolveOrigins()
            let certificate = try agent.certificate()
            if let hosts = agent.containerdHosts(certificate: certificate) {
                if undoContainerdConfig {
                    try hosts.remove(origins: agent.settings.origins)
                    logger.info("removed containerd host configuration", metadata: ["path": "\(hosts.configPath)"])
                    return
                }
                try hosts.write(origins: agent.settings.origins)
                logger.info("wrote containerd host configuration", metadata: ["path": "\(hosts.configPath)"])
            } else if undoContainerdConfig {
                throw ValidationError("--undo-containerd-config needs --containerd-config-path")
            }
            if setupOnly { return }
            try await agent.run(certificate: certificate)
        } catch let e as SettingError { throw ValidationError(e.description) }
    }
}
