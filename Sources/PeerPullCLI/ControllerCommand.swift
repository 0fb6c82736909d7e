import ArgumentParser
import Controller
import Foundation
import Logging
import OCI

struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Run the mutating admission webhook that rewrites labelled pods to pull through the node agents.",
        discussion: "Works in a pod (service-account token) or outside a cluster with --kubeconfig."
    )

    @Option(help: "YAML file with the controller's settings (flags override it).")
    var config: String?

    @Option(help: "Registry domains and ACR instance ids to accelerate, comma-separated (the chart's p2p.registryInstances).")
    var registryInstances: String?

    @Option(help: "Registries whose images are rewritten even without a pull secret (public content); comma-separated.")
    var anonymousRegistries: String?

    @Option(help: "The agent port in the P2P host names (p2p.port; default 65001).")
    var agentPort: Int?

    @Option(help: "Namespaces never touched, comma-separated (default kube-system; the controller's own is always added).")
    var excludedNamespaces: String?

    @Option(help: "The controller's namespace (defaults to the pod's, else kube-system).")
    var namespace: String?

    @Option(help: "The controller's Service name (certificate names; default peerpull-controller).")
    var serviceName: String?

    @Option(help: "The MutatingWebhookConfiguration whose caBundle the controller keeps current (default peerpull-controller).")
    var webhookConfiguration: String?

    @Option(help: "The agents' DaemonSet in --namespace (the chart's <release>-agent): while it is missing or not every node that should run an agent has a ready one, pods are admitted unchanged. Unset: always rewrite.")
    var agentDaemonset: String?

    @Option(help: "A Secret in --namespace holding the swarm's peer-signing key (the chart's <fullname>-swarm): created with a random key when absent, never changed. Unset: none is made.")
    var swarmSecret: String?

    @Option(help: "Address to listen on (default 0.0.0.0).")
    var listen: String?

    @Option(help: "HTTPS port of the webhook (default 9443).")
    var port: Int?

    @Option(help: "Serving certificate (PEM) mounted by cert-manager; the controller then leaves caBundle alone.")
    var tlsCertFile: String?

    @Option(help: "Key of --tls-cert-file.")
    var tlsKeyFile: String?

    @Option(help: "Extra IP address for the generated certificate (e.g. 127.0.0.1 when the API server calls a URL).")
    var tlsIp: [String] = ["127.0.0.1"]

    @Option(help: "kubeconfig file, when not running in a pod.")
    var kubeconfig: String?

    @Option(help: "RAM role for the ACR OpenAPI (controller.ramRole; resolves cri-… instance ids).")
    var ramRole: String?

    @Option(help: "ACR region for instance ids (default: the node's, from the ECS metadata service).")
    var acrRegion: String?

    @Option(help: "ACR OpenAPI endpoint (default https://cr.<region>.aliyuncs.com).")
    var acrEndpoint: String?

    @Option(help: "ECS metadata service (default http://100.100.100.200).")
    var ecsMetadataEndpoint: String?

    @Option(help: "Log level: trace, debug, info (the default), notice, warning, error, critical.")
    var logLevel: String?

    // Short certificate lifetimes, for the renewal tests only.
    @Option(help: .hidden)
    var tlsLeafLifetimeSeconds: Double?
    @Option(help: .hidden)
    var tlsRenewBeforeSeconds: Double?
    @Option(help: .hidden)
    var tlsCheckSeconds: Double?

    @Flag(help: "Delete the secrets the controller made (acr-credential-*-p2p copies in every namespace, its webhook certificate, the swarm's key) and exit: the chart's uninstall hook.")
    var removeGeneratedSecrets = false

    @Flag(help: "Check the settings (flags and --config) and exit: 0 when they are valid, else the invalid setting named. Starts and writes nothing.")
    var checkConfig = false

    /// Defaults, then the file, then flags; validated.
    func settings() throws -> (ControllerSettings, region: String?, endpoint: String?) {
        var s = ControllerSettings()
        var region: String?, endpoint: String?
        do {
            if let config { (region, endpoint) = try ControllerConfigFile.apply(config, to: &s) }
        } catch { throw ValidationError(error.description) }
        let list = { (text: String) in text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        if let registryInstances { s.registryInstances = list(registryInstances) }
        if let anonymousRegistries { s.anonymousRegistries = list(anonymousRegistries) }
        if let agentPort { s.agentPort = agentPort }
        if let excludedNamespaces { s.excludedNamespaces = list(excludedNamespaces) }
        if let namespace { s.namespace = namespace }
        if let serviceName { s.serviceName = serviceName }
        if let webhookConfiguration { s.webhookConfiguration = webhookConfiguration }
        if let swarmSecret { s.swarmSecret = swarmSecret.isEmpty ? nil : swarmSecret }
        if let listen { s.listen = listen }
        if let port { s.port = port }
        if let tlsCertFile { s.tlsCertFile = tlsCertFile }
        if let tlsKeyFile { s.tlsKeyFile = tlsKeyFile }
        if let tlsLeafLifetimeSeconds { s.tlsLifetimes.leaf = tlsLeafLifetimeSeconds }
        if let tlsRenewBeforeSeconds { s.tlsLifetimes.renewBefore = tlsRenewBeforeSeconds }
        if let tlsCheckSeconds { s.tlsCheckInterval = .milliseconds(Int64(tlsCheckSeconds * 1000)) }
        if let kubeconfig { s.kubeconfig = kubeconfig }
        if let ramRole { s.ramRole = ramRole.isEmpty ? nil : ramRole }
        if let logLevel {
            guard let level = Logger.Level(rawValue: logLevel) else {
                throw ValidationError("--log-level \"\(logLevel)\" is not one of trace, debug, info, notice, warning, error, critical")
            }
            s.logLevel = level
        }
        do { try s.validate() } catch { throw ValidationError(error.description) }
        return (s, acrRegion ?? region, acrEndpoint ?? endpoint)
    }

    func validate() throws { _ = try settings() }

    func run() async throws {
        var (s, region, endpoint) = try settings()
        if checkConfig {
            print("controller settings are valid")
            return
        }
        LoggingOptions.bootstrap(level: s.logLevel)
        let logger = Logger(label: "peerpull.controller")
        let connection = try s.kubeconfig.map { try KubernetesConnection.kubeconfig(path: $0) } ?? KubernetesConnection.inCluster()
        if namespace == nil, let own = connection.namespace, s.kubeconfig == nil { s.namespace = own }
        let client = try KubernetesClient(connection: connection, logger: logger)
        let result: Result<Void, any Error>
        if removeGeneratedSecrets {
            do {
                let n = try await GeneratedSecretCleanup.run(client: client, logger: logger)
                logger.notice("generated secrets deleted", metadata: ["count": "\(n)"])
                result = .success(())
            } catch { result = .failure(error) }
            await client.shutdown()
            return try result.get()
        }
        let service = ControllerService(settings: s, client: client, agentDaemonSet: agentDaemonset, certificateIPAddresses: tlsIp,
                                        acrRegion: region, acrEndpoint: endpoint, ecsMetadataEndpoint: ecsMetadataEndpoint, logger: logger)
        do { try await service.run(); result = .success(()) } catch { result = .failure(error) }
        await client.shutdown()
        try result.get()
    }
}
