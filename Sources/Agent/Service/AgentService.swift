import AsyncHTTPClient
import Certificates
import CloudRegistries
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Kubernetes
import Logging
import NIOSSL
import OCI
import OCIClient
import ServiceLifecycle
import Swarm

/// What `peerpull agent` does once its settings are parsed and valid: the node's set-up
/// (origins from ACR instance ids, the TLS identity, containerd's `hosts.toml`), then the
/// registry front end, and the swarm's peer port, membership and announcements when a
/// member list is configured, as one `ServiceGroup` that shuts down gracefully on SIGTERM
/// (every DaemonSet rollout sends it): the swarm's parts stop first, then the registry
/// front end finishes the responses it is sending.
public struct AgentService: Sendable {
    public var settings: AgentSettings
    /// Test-only fault injection toward peers.
    public var faults: PeerFaults
    let logger: Logger

    public init(settings: AgentSettings, faults: PeerFaults = [], logger: Logger) {
        self.settings = settings
        self.faults = faults
        self.logger = logger
    }

    /// ACR instance ids name registries by id; their domains come from the ACR OpenAPI.
    public mutating func resolveOrigins() async throws(SettingError) {
        guard settings.origins.contains(where: isACRInstanceID) else { return }
        let http = RegistryClient.makeHTTPClient()
        let resolver = settings.ramRole.map { ACRInstanceResolver(ramRole: $0, region: settings.acrRegion, http: http) }
        settings.origins = await resolveRegistryInstances(settings.origins, resolver: resolver, logger: logger)
        try? await http.shutdown()
        guard !settings.origins.isEmpty else {
            throw SettingError(field: "origins", problem: "no origin left after resolving ACR instance ids; set ramRole or name registry domains")
        }
    }

    /// The agent's TLS identity (generated or renewed in `tlsDir`), or nil for plain HTTP.
    public func certificate() throws -> AgentCertificate? {
        let rule = P2PHostRule(port: settings.port)
        return try settings.tlsDir.map { dir in
            try AgentCertificate.loadOrGenerate(in: dir, dnsNames: settings.origins.compactMap(rule.p2pHostName(forOrigin:)),
                                                lifetimes: settings.tlsLifetimes)
        }
    }

    /// containerd's `hosts.toml` for each origin and its P2P host, when a config path is set.
    public func containerdHosts(certificate: AgentCertificate?) -> ContainerdHostsConfig? {
        guard let path = settings.containerdConfigPath else { return nil }
        let host = settings.listen == "0.0.0.0" ? "127.0.0.1" : settings.listen
        return ContainerdHostsConfig(
            configPath: path, agentEndpoint: "\(certificate == nil ? "http" : "https")://\(host):\(settings.port)",
            rule: P2PHostRule(port: settings.port), plainHTTPOrigins: Set(settings.plainHTTPOrigins), agentCAPEM: certificate?.caPEM)
    }

    /// The check that containerd reads the agent's `hosts.toml`, when the agent writes them
    /// and `containerdConfig` is set.
    public func containerdPreflight(metrics: AgentMetrics) -> ContainerdPreflightCheck? {
        guard let dir = settings.containerdConfigPath, !settings.containerdConfig.isEmpty else { return nil }
        return ContainerdPreflightCheck(configFile: settings.containerdConfig, hostRoot: settings.hostRoot, hostsDirectory: dir,
                                        metrics: metrics, logger: logger)
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully.
    public func run(certificate: AgentCertificate?) async throws {
        let s = settings
        if s.origins.isEmpty {
            logger.warning("no origin registry is configured: every pull gets 404 until one is (p2p.registryInstances, --origin)")
        }
        let rule = P2PHostRule(port: s.port)
        let metrics = AgentMetrics()
        let preflight = containerdPreflight(metrics: metrics)
        preflight?.check()
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
            containerd: preflight,
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
            let swarm = try await joinSwarm(cache: cache, bucket: bucket, metrics: metrics, http: http, kube: kube)
            swarmAgent = swarm?.agent
            var renewal: AgentCertificateRenewal?
            if certificate != nil, let dir = s.tlsDir {
                renewal = try AgentCertificateRenewal(
                    directory: dir, dnsNames: s.origins.compactMap(rule.p2pHostName(forOrigin:)), lifetimes: s.tlsLifetimes,
                    interval: s.tlsCheckInterval, hosts: containerdHosts(certificate: certificate), origins: s.origins, logger: logger)
            }
            let registry = try registryApp(router: router, tls: try renewal?.tlsConfiguration())
            // Shut down in reverse order: announcements, membership, the peer port, then
            // the registry front end, which finishes the responses in flight.
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: registry)]
            if let renewal {
                services.append(.init(service: renewal.reloader))
                services.append(.init(service: ClosureService { await cancelWhenGracefulShutdown { await renewal.run() } }))
            }
            if let swarm {
                let listen = s.listen, peerPort = s.peerPort
                services.append(.init(service: ClosureService { try await cancelWhenGracefulShutdown { try await swarm.server.run(host: listen, port: peerPort) } }))
                services.append(.init(service: ClosureService { await cancelWhenGracefulShutdown { await swarm.agent.membership.follow() } }))
                services.append(.init(service: ClosureService { await cancelWhenGracefulShutdown { await swarm.agent.announceHeld() } }))
                services.append(.init(service: ClosureService { await cancelWhenGracefulShutdown { await swarm.agent.watchMembers() } }))
            }
            let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
            result = .success(())
        } catch { result = .failure(error) }
        await kube?.shutdown()
        swarmAgent?.client.shutdown()
        try? await http.shutdown()
        try result.get()
    }

    /// The swarm's parts when a member list is configured: membership, coordinator role,
    /// peer client and the peer-port server.
    private func joinSwarm(cache: BlobCache?, bucket: TokenBucket, metrics: AgentMetrics, http: HTTPClient,
                           kube: KubernetesClient?) async throws -> (agent: SwarmAgent, server: PeerServer)? {
        let s = settings
        guard s.swarmEnabled, let node = s.nodeName, let secretFile = s.peerSecretFile else { return nil }
        guard let cache else { throw SettingError(field: "cacheSize", problem: "the swarm needs the cache: cacheSize must not be 0") }
        guard let secret = FileManager.default.contents(atPath: secretFile),
              let credential = PeerCredential(secret: Array(secret).filter { $0 != 0x0A && $0 != 0x0D }) else {
            throw SettingError(field: "peerSecretFile",
                               problem: "cannot read \(secretFile), or it holds fewer than \(PeerCredential.minimumSecretBytes) bytes")
        }
        let membership: any SwarmMembers
        if let peersFile = s.peersFile {
            do { membership = try SwarmMembership(path: peersFile, logger: logger) } catch {
                throw SettingError(field: "peersFile", problem: error.description)
            }
        } else if let kube {
            let connection = kube.connection
            membership = EndpointSliceMembership(client: kube, namespace: s.membershipNamespace ?? connection.namespace ?? "default",
                                                 service: s.membershipService ?? "", defaultPort: s.peerPort,
                                                 addressType: s.advertiseAddress.map(EndpointSliceMembership.addressType(of:)), logger: logger)
        } else {
            return nil
        }
        let listed = await membership.current.first { $0.node == node }
        guard let address = s.advertiseAddress ?? listed?.address else {
            throw SettingError(field: "advertiseAddress", problem: "node \(node) is not among the members; name its address")
        }
        let me = Member(node: node, address: address, peerPort: s.peerPort)
        let coordinator = SwarmCoordinator()
        let agent = SwarmAgent(me: me, membership: membership, coordinator: coordinator,
                               client: PeerClient(http: http, credential: credential, me: me),
                               pieceSize: Int(s.pieceSize.bytes), coordinatorsPerBlob: s.coordinators, faults: faults,
                               metrics: metrics, logger: logger)
        await cache.join(agent)
        if faults.corruptsPieces {
            logger.warning("fault injection: this agent corrupts every piece it sends to peers\(faults.contains(.lyingHashes) ? " and publishes their hashes" : "") (for tests only)")
        }
        let server = PeerServer(credential: credential, node: me.node, coordinator: coordinator, cache: cache, bucket: bucket, metrics: metrics,
                                corruptPieces: faults.corruptsPieces, logger: logger)
        let count = await membership.current.count
        logger.info("joined the swarm", metadata: ["node": "\(me)", "members": "\(count)", "pieceSize": "\(s.pieceSize)"])
        return (agent, server)
    }

    private func registryApp(router: Router<AgentRequestContext>, tls: TLSConfiguration?) throws -> some ApplicationProtocol {
        let s = settings
        let http1: HTTPServerBuilder = .http1(configuration: .init(idleTimeout: .seconds(Int64(s.idleTimeoutSeconds))))
        var server = http1
        if let tls { server = try .tls(http1, tlsConfiguration: tls) }
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(s.listen, port: s.port), serverName: "peerpull-agent"),
            logger: logger)
        logger.info("agent starting", metadata: [
            "listen": "\(s.listen):\(s.port)", "origins": "\(s.origins.joined(separator: ","))",
            "cache": "\(s.cacheSize)", "ratelimit": "\(s.rateLimit)", "tls": "\(tls != nil)"])
        return app
    }
}
