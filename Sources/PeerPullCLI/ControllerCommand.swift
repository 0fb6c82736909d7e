import ArgumentParser
import Controller
import Foundation
import Logging
import OCI
import Settings

struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Run the mutating admission webhook that rewrites labelled pods to pull through the node agents.",
        discussion: "Works in a pod (service-account token) or outside a cluster with --kubeconfig. Settings come from --config (YAML; the keys are in docs/configuration.md) and are overridden by flags."
    )

    @Option(help: "YAML file with the controller's settings (flags override it).")
    var config: String?

    @Option(ControllerSettings.settingTable["registryInstances"]) var registryInstances: String?
    @Option(ControllerSettings.settingTable["anonymousRegistries"]) var anonymousRegistries: String?
    @Option(ControllerSettings.settingTable["agentPort"]) var agentPort: String?
    @Option(ControllerSettings.settingTable["excludedNamespaces"]) var excludedNamespaces: String?
    @Option(ControllerSettings.settingTable["namespace"]) var namespace: String?
    @Option(ControllerSettings.settingTable["serviceName"]) var serviceName: String?
    @Option(ControllerSettings.settingTable["webhookConfiguration"]) var webhookConfiguration: String?
    @Option(ControllerSettings.settingTable["agentDaemonset"]) var agentDaemonset: String?
    @Option(ControllerSettings.settingTable["swarmSecret"]) var swarmSecret: String?
    @Option(ControllerSettings.settingTable["listen"]) var listen: String?
    @Option(ControllerSettings.settingTable["port"]) var port: String?
    @Option(ControllerSettings.settingTable["tlsCertFile"]) var tlsCertFile: String?
    @Option(ControllerSettings.settingTable["tlsKeyFile"]) var tlsKeyFile: String?
    @Option(ControllerSettings.settingTable["tlsIp"]) var tlsIp: [String]
    @Option(ControllerSettings.settingTable["kubeconfig"]) var kubeconfig: String?
    @Option(ControllerSettings.settingTable["ramRole"]) var ramRole: String?
    @Option(ControllerSettings.settingTable["acrRegion"]) var acrRegion: String?
    @Option(ControllerSettings.settingTable["acrEndpoint"]) var acrEndpoint: String?
    @Option(ControllerSettings.settingTable["ecsMetadataEndpoint"]) var ecsMetadataEndpoint: String?
    @Option(ControllerSettings.settingTable["logLevel"]) var logLevel: String?

    /// The settings' flags as given, by setting name.
    private var flags: [String: SettingValue?] {
        [
            "registryInstances": .flag(registryInstances), "anonymousRegistries": .flag(anonymousRegistries),
            "agentPort": .flag(agentPort), "excludedNamespaces": .flag(excludedNamespaces), "namespace": .flag(namespace),
            "serviceName": .flag(serviceName), "webhookConfiguration": .flag(webhookConfiguration),
            "agentDaemonset": .flag(agentDaemonset), "swarmSecret": .flag(swarmSecret), "listen": .flag(listen),
            "port": .flag(port), "tlsCertFile": .flag(tlsCertFile), "tlsKeyFile": .flag(tlsKeyFile), "tlsIp": .flag(tlsIp),
            "kubeconfig": .flag(kubeconfig), "ramRole": .flag(ramRole), "acrRegion": .flag(acrRegion),
            "acrEndpoint": .flag(acrEndpoint), "ecsMetadataEndpoint": .flag(ecsMetadataEndpoint), "logLevel": .flag(logLevel),
        ]
    }

    @OptionGroup var certificateTiming: CertificateTimingOptions

    @Flag(help: "Delete the secrets the controller made (acr-credential-*-p2p copies in every namespace, its webhook certificate, the swarm's key) and exit: the chart's uninstall hook.")
    var removeGeneratedSecrets = false

    @Flag(help: "Check the settings (flags and --config) and exit: 0 when they are valid, else the invalid setting named. Starts and writes nothing.")
    var checkConfig = false

    /// Defaults, then the file, then flags; validated.
    func settings() throws(SettingError) -> ControllerSettings {
        var s = try ControllerSettings.settingTable.read(file: config, flags: flags)
        certificateTiming.apply(leaf: &s.tlsLifetimes.leaf, renewBefore: &s.tlsLifetimes.renewBefore, checkInterval: &s.tlsCheckInterval)
        try s.validate()
        return s
    }

    func validate() throws {
        do { _ = try settings() } catch { throw ValidationError(error.description) }
    }

    func run() async throws {
        var s = try settings()
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
        let service = ControllerService(settings: s, client: client, logger: logger)
        do { try await service.run(); result = .success(()) } catch { result = .failure(error) }
        await client.shutdown()
        try result.get()
    }
}
