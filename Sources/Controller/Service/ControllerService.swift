import Certificates
import CloudRegistries
import Foundation
import Hummingbird
import HummingbirdTLS
import Kubernetes
import Logging
import NIOCertificateReloading
import NIOSSL
import OCI
import ServiceLifecycle

/// What `peerpull controller` does once its settings are parsed and valid: the
/// admission webhook on every replica, the watches it reads (namespaces' labels, pull
/// secrets, the agents' DaemonSet), the webhook's certificate and `caBundle`, the swarm's
/// key (made once), and the pull-secret re-sync on the replica that holds the lease, as
/// one `ServiceGroup` that shuts down gracefully on SIGTERM: the watchers stop first, then
/// the webhook finishes the reviews in flight.
public struct ControllerService: Sendable {
    public var settings: ControllerSettings
    let client: KubernetesClient
    let logger: Logger

    public init(settings: ControllerSettings, client: KubernetesClient, logger: Logger) {
        self.settings = settings
        self.client = client
        self.logger = logger
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully.
    public func run() async throws {
        let s = settings
        let logger = self.logger, client = self.client
        let resolver = s.ramRole.map {
            ACRInstanceResolver(ramRole: $0, region: s.acrRegion, apiEndpoint: s.acrEndpoint, metadataEndpoint: s.ecsMetadataEndpoint, http: client.http)
        }
        let domains = await resolveRegistryInstances(s.registryInstances, resolver: resolver, logger: logger)
        if domains.isEmpty {
            logger.warning("no registry is accelerated: every pod is admitted unchanged until p2p.registryInstances (--registry-instances) names one")
        }
        var policy = ControllerPolicy(registries: domains)
        policy.anonymousRegistries = Set(s.anonymousRegistries.map { $0.lowercased() })
        policy.rule = P2PHostRule(port: s.agentPort)
        policy.labelKey = s.labelKey
        policy.labelValue = s.labelValue
        policy.excludedNamespaces = Set(s.excludedNamespaces + [s.namespace])
        let metrics = ControllerMetrics()
        let mirror = PullSecretMirror(store: KubernetesSecretStore(client: client), policy: policy, logger: logger)
        let namespaces = NamespaceLabelCache(client: client)
        let secrets = SecretCache()
        let agents = s.agentDaemonSet.map { AgentPresence(client: client, namespace: s.namespace, daemonSet: $0) }
        let webhook = AdmissionWebhook(mutator: PodMutator(policy: policy), mirror: mirror, namespaces: namespaces,
                                       secrets: secrets, agents: agents, metrics: metrics, logger: logger)
        let certificates = WebhookCertificates(client: client, namespace: s.namespace, secretName: "\(s.serviceName)-tls", logger: logger)
        let dnsNames = WebhookCertificates.serviceNames(s.serviceName, namespace: s.namespace), ipAddresses = s.certificateIPAddresses
        // The serving certificate follows its source without a restart: the files of
        // tlsCertFile (cert-manager rotates them), or the Secret the lease holder renews.
        let reloader: TimedCertificateReloader
        let serving: ServingCertificate?
        if let cert = s.tlsCertFile, let key = s.tlsKeyFile {
            serving = nil
            reloader = try TimedCertificateReloader.makeReloaderValidatingSources(
                refreshInterval: s.tlsCheckInterval,
                certificateSource: .init(location: .file(path: cert), format: .pem),
                privateKeySource: .init(location: .file(path: key), format: .pem), logger: logger)
        } else {
            let shared = ServingCertificate(try await certificates.loadOrCreate(dnsNames: dnsNames, ipAddresses: ipAddresses, lifetimes: s.tlsLifetimes))
            serving = shared
            reloader = try TimedCertificateReloader.makeReloaderValidatingSources(
                refreshInterval: s.tlsCheckInterval,
                certificateSource: .init(location: .memory { Array(shared.current.certificatePEM.utf8) }, format: .pem),
                privateKeySource: .init(location: .memory { Array(shared.current.privateKeyPEM.utf8) }, format: .pem), logger: logger)
        }
        let router = Router()
        webhook.register(on: router)
        let app = Application(
            router: router,
            server: try .tls(.http1(), tlsConfiguration: TLSConfiguration.makeServerConfiguration(certificateReloader: reloader)),
            configuration: .init(address: .hostname(s.listen, port: s.port), serverName: "peerpull-controller"),
            logger: logger)
        logger.info("controller starting", metadata: [
            "registries": "\(domains.sorted())", "agentPort": "\(s.agentPort)", "namespace": "\(s.namespace)",
            "listen": "\(s.listen):\(s.port)"])
        let resync = PullSecretResync(mirror: mirror, metrics: metrics, logger: logger)
        // One replica re-syncs secrets; every replica admits pods.
        let identity = ProcessInfo.processInfo.environment["HOSTNAME"].map { "\($0)-\(UUID().uuidString.prefix(8))" } ?? UUID().uuidString
        let election = LeaderElection(client: client, namespace: s.namespace, name: "\(s.serviceName)-resync", identity: identity, logger: logger)
        // Shut down in reverse order: the watchers and the re-sync, then the webhook.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: app)]
        services.append(.init(service: ClosureService { await cancelWhenGracefulShutdown { await namespaces.follow(logger: logger) } }))
        services.append(.init(service: ClosureService { await cancelWhenGracefulShutdown { await secrets.follow(client: client, logger: logger) } }))
        if let agents {
            services.append(.init(service: ClosureService { await cancelWhenGracefulShutdown { await agents.follow(logger: logger) } }))
        }
        if let name = s.swarmSecret {
            // Not behind the lease: creation is atomic, and the agents wait for the key.
            let key = SwarmSecret(store: KubernetesSecretStore(client: client), namespace: s.namespace, name: name, logger: logger)
            services.append(.init(service: ClosureService { await cancelWhenGracefulShutdown { await key.ensureUntilDone() } },
                                  successTerminationBehavior: .ignore))
        }
        let lifetimes = s.tlsLifetimes, interval = s.tlsCheckInterval, configuration = s.webhookConfiguration
        services.append(.init(service: ClosureService {
            await cancelWhenGracefulShutdown {
                await election.run {
                    // The lease holder re-syncs pull secrets and renews the webhook's certificate.
                    async let resynced: Void = resync.follow(cache: secrets)
                    if let serving {
                        await certificates.keepRenewed(dnsNames: dnsNames, ipAddresses: ipAddresses, lifetimes: lifetimes,
                                                       configuration: configuration, interval: interval) { renewed in
                            if serving.replace(with: renewed) { try? reloader.reload() }
                        }
                    }
                    await resynced
                }
            }
        }))
        services.append(.init(service: reloader))
        if let serving {
            services.append(.init(service: ClosureService {
                await cancelWhenGracefulShutdown {
                    await certificates.follow(from: serving.current, interval: interval) { changed in
                        if serving.replace(with: changed) { try? reloader.reload() }
                    }
                }
            }))
            services.append(.init(service: ClosureService {
                await cancelWhenGracefulShutdown { await certificates.keepCABundle({ serving.current.caPEM }, configuration: configuration) }
            }))
        }
        try await ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)).run()
    }
}
