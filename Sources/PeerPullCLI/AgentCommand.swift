import Agent
import ArgumentParser
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import OCI

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the node agent: the OCI pull API for the accelerated registries (pass-through stage: no cache or peers yet)."
    )

    @Option(help: "Address to listen on.")
    var listen = "0.0.0.0"

    @Option(help: "Port of the registry API (the P2P host port).")
    var port = P2PHostRule.defaultPort

    @Option(name: .customLong("origin"), help: "An origin registry domain to accelerate (repeat for several).")
    var origins: [String] = []

    @Option(name: .customLong("plain-http-origin"), help: "An origin reached over plain HTTP (test registries only; repeatable).")
    var plainHTTPOrigins: [String] = []

    @Option(help: "Total upload+download rate for the node: 512M means 512 MB/s (K/M/G decimal, Ki/Mi/Gi binary).")
    var ratelimit = "512M"

    @Option(help: "PEM file of a CA to trust for origins, in addition to the system roots.")
    var originCaCert: String?

    @Option(help: "Serve HTTPS with ca.crt, tls.crt and tls.key from this directory, generating them when missing (the CA is written next to each hosts.toml).")
    var tlsDir: String?

    @Option(help: "containerd's registry config_path (e.g. /etc/containerd/certs.d): write hosts.toml there for each origin and its P2P host.")
    var containerdConfigPath: String?

    @Flag(help: "Remove the hosts.toml files the agent wrote under --containerd-config-path, restore what was there, and exit.")
    var undoContainerdConfig = false

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port \(port) must be between 1 and 65535") }
        guard !origins.isEmpty else { throw ValidationError("--origin: name at least one origin registry to accelerate") }
        for o in origins + plainHTTPOrigins {
            guard (try? ImageReference(parsing: "\(o)/x")).map({ $0.domain == o }) == true else {
                throw ValidationError("--origin \"\(o)\" is not a registry domain like registry.example.com or host:5000")
            }
        }
        do { _ = try RateLimit(parsing: ratelimit) } catch { throw ValidationError("--ratelimit: \(error.description)") }
    }

    func run() async throws {
        logging.bootstrap()
        let logger = Logger(label: "peerpull.agent")
        let rule = P2PHostRule(port: port)
        let certificate = try tlsDir.map { dir in
            try AgentCertificate.loadOrGenerate(in: dir, dnsNames: origins.compactMap(rule.p2pHostName(forOrigin:)))
        }
        if let containerdConfigPath {
            let host = listen == "0.0.0.0" ? "127.0.0.1" : listen
            let hosts = ContainerdHostsConfig(
                configPath: containerdConfigPath, agentEndpoint: "\(certificate == nil ? "http" : "https")://\(host):\(port)",
                rule: rule, plainHTTPOrigins: Set(plainHTTPOrigins), agentCAPEM: certificate?.caPEM)
            if undoContainerdConfig {
                try hosts.remove(origins: origins)
                logger.info("removed containerd host configuration", metadata: ["path": "\(containerdConfigPath)"])
                return
            }
            try hosts.write(origins: origins)
            logger.info("wrote containerd host configuration", metadata: ["path": "\(containerdConfigPath)"])
        } else if undoContainerdConfig {
            throw ValidationError("--undo-containerd-config needs --containerd-config-path")
        }
        var configuration = RegistryClientConfiguration()
        configuration.userAgent = "peerpull-agent/\(PeerPullVersion.current)"
        configuration.plainHTTPRegistries = Set(plainHTTPOrigins)
        let http = RegistryClient.makeHTTPClient(trustRootsPEMFile: originCaCert)
        let frontEnd = RegistryFrontEnd(
            resolver: OriginResolver(origins: origins, rule: rule),
            client: RegistryClient(httpClient: http, configuration: configuration, logger: logger),
            bucket: TokenBucket(rate: try RateLimit(parsing: ratelimit)),
            logger: logger)
        let router = Router()
        frontEnd.register(on: router)
        var server: HTTPServerBuilder = .http1()
        if let certificate {
            server = try .tls(.http1(), tlsConfiguration: TLSServerIdentity.configuration(
                certificatePEM: certificate.certificatePEM, privateKeyPEM: certificate.privateKeyPEM))
        }
        let app = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(listen, port: port), serverName: "peerpull-agent"),
            logger: logger)
        let result: Result<Void, any Error>
        do { try await app.runService(); result = .success(()) } catch { result = .failure(error) }
        try? await http.shutdown()
        try result.get()
    }
}
