import Agent
import ArgumentParser
import Foundation
import Logging
import OCI
import Settings

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the node agent: the OCI pull API for the accelerated registries, with a verified blob cache.",
        discussion: "Settings come from --config (YAML; the keys are in docs/configuration.md) and are overridden by flags."
    )

    @Option(help: "YAML file with the agent's settings (flags override it).")
    var config: String?

    @Option(AgentSettings.settingTable["listen"]) var listen: String?
    @Option(AgentSettings.settingTable["port"]) var port: String?
    @Option(AgentSettings.settingTable["dataDir"]) var dataDir: String?
    @Option(AgentSettings.settingTable["cacheSize"]) var cacheSize: String?
    @Option(AgentSettings.settingTable["origins"]) var origins: [String]
    @Option(AgentSettings.settingTable["plainHTTPOrigins"]) var plainHTTPOrigins: [String]
    @Option(AgentSettings.settingTable["ratelimit"]) var ratelimit: String?
    @Option(AgentSettings.settingTable["originCACert"]) var originCACert: String?
    @Option(AgentSettings.settingTable["tlsDir"]) var tlsDir: String?
    @Option(AgentSettings.settingTable["containerdConfigPath"]) var containerdConfigPath: String?
    @Option(AgentSettings.settingTable["containerdConfig"]) var containerdConfig: String?
    @Option(AgentSettings.settingTable["hostRoot"]) var hostRoot: String?
    @Option(AgentSettings.settingTable["authCacheSeconds"]) var authCacheSeconds: String?
    @Option(AgentSettings.settingTable["logLevel"]) var logLevel: String?
    @Option(AgentSettings.settingTable["nodeName"]) var nodeName: String?
    @Option(AgentSettings.settingTable["peersFile"]) var peersFile: String?
    @Option(AgentSettings.settingTable["advertiseAddress"]) var advertiseAddress: String?
    @Option(AgentSettings.settingTable["peerPort"]) var peerPort: String?
    @Option(AgentSettings.settingTable["peerSecretFile"]) var peerSecretFile: String?
    @Option(AgentSettings.settingTable["pieceSize"]) var pieceSize: String?
    @Option(AgentSettings.settingTable["membershipService"]) var membershipService: String?
    @Option(AgentSettings.settingTable["membershipNamespace"]) var membershipNamespace: String?
    @Option(AgentSettings.settingTable["kubeconfig"]) var kubeconfig: String?

    /// The settings' flags as given, by setting name.
    private var flags: [String: SettingValue?] {
        [
            "listen": .flag(listen), "port": .flag(port), "dataDir": .flag(dataDir), "cacheSize": .flag(cacheSize),
            "origins": .flag(origins), "plainHTTPOrigins": .flag(plainHTTPOrigins), "ratelimit": .flag(ratelimit),
            "originCACert": .flag(originCACert), "tlsDir": .flag(tlsDir), "containerdConfigPath": .flag(containerdConfigPath),
            "containerdConfig": .flag(containerdConfig), "hostRoot": .flag(hostRoot), "authCacheSeconds": .flag(authCacheSeconds),
            "logLevel": .flag(logLevel), "nodeName": .flag(nodeName), "peersFile": .flag(peersFile),
            "advertiseAddress": .flag(advertiseAddress), "peerPort": .flag(peerPort), "peerSecretFile": .flag(peerSecretFile),
            "pieceSize": .flag(pieceSize), "membershipService": .flag(membershipService),
            "membershipNamespace": .flag(membershipNamespace), "kubeconfig": .flag(kubeconfig),
        ]
    }

    @Flag(help: .hidden)
    var faultCorruptPieces = false

    @Flag(help: .hidden)
    var faultLyingHashes = false

    var faults: PeerFaults {
        var f: PeerFaults = []
        if faultCorruptPieces { f.insert(.corruptPieces) }
        if faultLyingHashes { f.insert(.lyingHashes) }
        return f
    }

    @OptionGroup var certificateTiming: CertificateTimingOptions

    @Flag(help: "Remove the hosts.toml files the agent wrote under --containerd-config-path, restore what was there, and exit.")
    var undoContainerdConfig = false

    @Flag(help: "Write the node configuration (TLS files, hosts.toml) and exit: the DaemonSet's init step.")
    var setupOnly = false

    @Flag(help: "Check the settings (flags and --config) and exit: 0 when they are valid, else the invalid setting named. Starts and writes nothing.")
    var checkConfig = false

    /// Defaults, then the file, then flags; validated.
    func settings() throws(SettingError) -> AgentSettings {
        var s = try AgentSettings.settingTable.read(file: config, flags: flags)
        certificateTiming.apply(leaf: &s.tlsLifetimes.leaf, renewBefore: &s.tlsLifetimes.renewBefore, checkInterval: &s.tlsCheckInterval)
        return try s.validated()
    }

    func validate() throws {
        do { _ = try settings() } catch { throw ValidationError(error.description) }
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
            var agent = AgentService(settings: s, faults: faults, logger: logger)
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
