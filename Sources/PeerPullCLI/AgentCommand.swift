import Agent
import AsyncHTTPClient
import Foundation
import Kubernetes
import Swarm
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
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

    @Option(help: "Seconds an allowed authorization check at the origin is remembered (default 60; 0 checks every request).")
    var authCacheSeconds: Int?

    @Option(help: "Log level: trace, debug, info (the default), notice, warning, error, critical.")
    var logLevel: String?

    @Option(help: "This agent's node name among the swarm's members (the Kubernetes node name).")
    var nodeName: String?

    @Option(help: "The swarm's member list, `node address [port]` per line, read again when it changes; without it the agent works alone.")
    var peers: String?

    @Option(help: "The address other agents dial (default: this node's entry in the member list).")
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
        if let containerdConfigPath { s.containerdConfigPath = containerdConfigPath }
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

    /// glibc's `mallopt(M_MMAP_THRESHOLD, bytes)`; `<malloc.h>` is not in Swift's Glibc module.
    static func setMallocMapThreshold(_ bytes: Int32) {
        #if canImport(Glibc)
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let M_MMAP_THRESHOLD: Int32 = -3
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") {
            _ = unsafeBitCast(symbol, to: Mallopt.self)(M_MMAP_THRESHOLD, bytes)
        }
        #endif
    }

    func validate() throws {
        do { _ = try settings() } catch let e as SettingError { throw ValidationError(e.description) }
    }

    func run() async throws {
        // Transfer buffers are 512 KiB. Above this threshold glibc maps them individually and
        // returns them on free; without it, its dynamic threshold rises past them and freed
        // buffers pile up in per-thread arenas (peak RSS 92 MiB vs 61-71 MiB for a 1 GiB
        // pull). The streams reuse their buffers, so the mapping cost is paid rarely.
        // An operator's own glibc tuning (GLIBC_TUNABLES) wins over this default.
        if getenv("GLIBC_TUNABLES") == nil { Self.setMallocMapThreshold(256 * 1024) }
        var s = try settings()
        if checkConfig {
            print("agent settings are valid")
            return
        }
        LoggingOptions.bootstrap(level: s.logLevel)
        let logger = Logger(label: "peerpull.agent")
        if s.origins.contains(where: isACRInstanceID) {
            // ACR instance ids name registries by id; their domains come from the ACR OpenAPI.
            let http = RegistryClient.makeHTTPClient()
            let resolver = s.ramRole.map { ACRInstanceResolver(ramRole: $0, region: s.acrRegion, http: http) }
            s.origins = await resolveRegistryInstances(s.origins, resolver: resolver, logger: logger)
            try? await http.shutdown()
            guard !s.origins.isEmpty else {
                throw ValidationError("origins: no origin left after resolving ACR instance ids; set ramRole or name registry domains")
            }
        }
        if s.origins.isEmpty {
            logger.warning("no origin registry is configured: every pull gets 404 until one is (p2p.registryInstances, --origin)")
        }
        let rule = P2PHostRule(port: s.port)
        let certificate = try s.tlsDir.map { dir in
            try AgentCertificate.loadOrGenerate(in: dir, dnsNames: s.origins.compactMap(rule.p2pHostName(forOrigin:)))
        }
        if let path = s.containerdConfigPath {
            let host = s.listen == "0.0.0.0" ? "127.0.0.1" : s.listen
            let hosts = ContainerdHostsConfig(
                configPath: path, agentEndpoint: "\(certificate == nil ? "http" : "https")://\(host):\(s.port)",
                rule: rule, plainHTTPOrigins: Set(s.plainHTTPOrigins), agentCAPEM: certificate?.caPEM)
            if undoContainerdConfig {
                try hosts.remove(origins: s.origins)
                logger.info("removed containerd host configuration", metadata: ["path": "\(path)"])
                return
            }
            try hosts.write(origins: s.origins)
            logger.info("wrote containerd host configuration", metadata: ["path": "\(path)"])
            if setupOnly { return }
        } else if undoContainerdConfig {
            throw ValidationError("--undo-containerd-config needs --containerd-config-path")
        }
        if setupOnly { return }
        let metrics = AgentMetrics()
        let bucket = TokenBucket(rate: s.rateLimit)
        var cache: BlobCache?
        var manifests: ManifestCache?
        if s.cacheSize.bytes > 0 {
            let root = s.dataDir + "/cache"
            cache = try BlobCache(configuration: .init(root: root, quota: s.cacheSize.bytes), bucket: bucket, metrics: metrics, logger: logger)
            manifests = try ManifestCache(root: root)
        }
        var configuration = RegistryClientConfiguration()
        configuration.userAgent = "peerpull-agent/\(PeerPullVersion.current)"
        configuration.plainHTTPRegistries = Set(s.plainHTTPOrigins)
        // Created last, so no error path above can drop it without a shutdown.
        let http = RegistryClient.makeHTTPClient(trustRootsPEMFile: s.originCACert)
        let client = RegistryClient(httpClient: http, configuration: configuration, logger: logger)
        let frontEnd = RegistryFrontEnd(
            resolver: OriginResolver(origins: s.origins, rule: rule),
            client: client,
            bucket: bucket,
            cache: cache,
            manifests: manifests,
            gate: AuthorizationGate(client: client, ttl: .seconds(s.authCacheSeconds), metrics: metrics),
            metrics: metrics,
            logger: logger)
        let router = Router(context: AgentRequestContext.self)
        frontEnd.register(on: router)
        let result: Result<Void, any Error>
        // The membership watch's API client, made here so that every exit shuts it down:
        // AsyncHTTPClient traps when a client is dropped without `shutdown()`, which would
        // turn every pod stop (SIGTERM on a DaemonSet rollout) into a crash.
        var kube: KubernetesClient?
        var swarmAgent: SwarmAgent?
        do {
            if s.membershipService != nil {
                let connection = try s.kubeconfig.map { try KubernetesConnection.kubeconfig(path: $0) } ?? KubernetesConnection.inCluster()
                kube = try KubernetesClient(connection: connection, logger: logger)
            }
            let swarm = try await joinSwarm(s, cache: cache, bucket: bucket, metrics: metrics, http: http, kube: kube, logger: logger)
            swarmAgent = swarm?.agent
            let registry = try Self.registryApp(router: router, settings: s, certificate: certificate, logger: logger)
            let listen = s.listen, peerPort = s.peerPort
            try await withThrowingTaskGroup(of: Void.self) { group in
                if let swarm {
                    group.addTask { try await swarm.server.run(host: listen, port: peerPort) }
                    group.addTask { await swarm.agent.membership.follow() }
                    group.addTask { await swarm.agent.announceHeld() }
                }
                group.addTask { try await registry.runService() }
                // The registry server ends on SIGTERM; the swarm's tasks end with it.
                try await group.next()
                group.cancelAll()
            }
            result = .success(())
        } catch { result = .failure(error) }
        await kube?.shutdown()
        swarmAgent?.client.shutdown()
        try? await http.shutdown()
        try result.get()
    }

    /// The swarm's parts when a member list is configured: membership, coordinator role,
    /// peer client and the peer-port server.
    private func joinSwarm(_ s: AgentSettings, cache: BlobCache?, bucket: TokenBucket, metrics: AgentMetrics, http: HTTPClient,
                           kube: KubernetesClient?, logger: Logger) async throws -> (agent: SwarmAgent, server: PeerServer)? {
        guard s.swarmEnabled, let node = s.nodeName, let secretFile = s.peerSecretFile else { return nil }
        guard let cache else { throw ValidationError("the swarm needs the cache: cacheSize must not be 0") }
        guard let secret = FileManager.default.contents(atPath: secretFile),
              let credential = PeerCredential(secret: Array(secret).filter { $0 != 0x0A && $0 != 0x0D }) else {
            throw ValidationError("peerSecretFile: cannot read \(secretFile), or it holds fewer than \(PeerCredential.minimumSecretBytes) bytes")
        }
        let membership: any SwarmMembers
        if let peersFile = s.peersFile {
            do { membership = try SwarmMembership(path: peersFile, logger: logger) } catch { throw ValidationError("peersFile: \(error.description)") }
        } else if let kube {
            let connection = kube.connection
            membership = EndpointSliceMembership(client: kube, namespace: s.membershipNamespace ?? connection.namespace ?? "default",
                                                 service: s.membershipService ?? "", defaultPort: s.peerPort, logger: logger)
        } else {
            return nil
        }
        let listed = await membership.current.first { $0.node == node }
        guard let address = s.advertiseAddress ?? listed?.address else {
            throw ValidationError("advertiseAddress: node \(node) is not among the members; name its address")
        }
        let me = Member(node: node, address: address, peerPort: s.peerPort)
        let coordinator = SwarmCoordinator()
        let agent = SwarmAgent(me: me, membership: membership, coordinator: coordinator,
                               client: PeerClient(http: http, credential: credential, me: me),
                               pieceSize: Int(s.pieceSize.bytes), coordinatorsPerBlob: s.coordinators, metrics: metrics, logger: logger)
        await cache.join(agent)
        if faultCorruptPieces {
            logger.warning("fault injection: this agent corrupts every piece it sends to peers (--fault-corrupt-pieces, for tests only)")
        }
        let server = PeerServer(credential: credential, coordinator: coordinator, cache: cache, bucket: bucket, metrics: metrics,
                                corruptPieces: faultCorruptPieces, logger: logger)
        let count = await membership.current.count
        logger.info("joined the swarm", metadata: ["node": "\(me)", "members": "\(count)",
                                                   "pieceSize": "\(s.pieceSize)"])
        return (agent, server)
    }

    private static func registryApp(router: Router<AgentRequestContext>, settings s: AgentSettings, certificate: AgentCertificate?,
                                    logger: Logger) throws -> some ApplicationProtocol {
        let http1: HTTPServerBuilder = .http1(configuration: .init(idleTimeout: .seconds(Int64(s.idleTimeoutSeconds))))
        var server = http1
        if let certificate {
            server = try .tls(http1, tlsConfiguration: TLSServerIdentity.configuration(
                certificatePEM: certificate.certificatePEM, privateKeyPEM: certificate.privateKeyPEM))
        }
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(s.listen, port: s.port), serverName: "peerpull-agent"),
            logger: logger)
        logger.info("agent starting", metadata: [
            "listen": "\(s.listen):\(s.port)", "origins": "\(s.origins.joined(separator: ","))",
            "cache": "\(s.cacheSize)", "ratelimit": "\(s.rateLimit)", "tls": "\(certificate != nil)"])
        return app
    }
}
