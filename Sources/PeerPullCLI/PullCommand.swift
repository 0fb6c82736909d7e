import ArgumentParser
import Foundation
import Logging
import OCI
import OCIClient

struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Download an image into an OCI image layout directory, verifying every digest."
    )

    @Argument(help: "Image reference, e.g. nginx, registry.example.com:5000/team/app:1.2 or app@sha256:…")
    var image: String

    @Option(name: .shortAndLong, help: "OCI image layout directory to write (created when missing).")
    var output: String

    @Option(help: "Platform to pick from a multi-platform index, as os/arch[/variant] (default: this host's).")
    var platform: String?

    @Option(help: "User name for the registry.")
    var username: String?

    @Option(help: "Password or token for the registry (prefer --password-stdin).")
    var password: String?

    @Flag(help: "Read the password from standard input.")
    var passwordStdin = false

    @Option(help: "Docker config.json to read credentials from (default: $DOCKER_CONFIG/config.json or ~/.docker/config.json).")
    var dockerConfig: String?

    @Flag(help: "Talk to the image's registry over plain HTTP (test registries only).")
    var plainHttp = false

    @Option(help: "PEM file of a CA to trust in addition to the system roots.")
    var caCert: String?

    @Option(help: "Blobs downloaded at once.")
    var concurrency = 3

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if username != nil && password == nil && !passwordStdin {
            throw ValidationError("--username needs --password or --password-stdin")
        }
        if password != nil && username == nil { throw ValidationError("--password needs --username") }
        if passwordStdin && password != nil { throw ValidationError("use either --password or --password-stdin, not both") }
        if let platform, Platform(parsing: platform) == nil {
            throw ValidationError("--platform \"\(platform)\" must look like os/arch or os/arch/variant, e.g. linux/arm64")
        }
        if !(1...32).contains(concurrency) { throw ValidationError("--concurrency must be between 1 and 32") }
    }

    func run() async throws {
        logging.bootstrap()
        let logger = Logger(label: "peerpull.pull")
        let reference: ImageReference
        do { reference = try ImageReference(parsing: image) } catch {
            throw CLIError(error.description)
        }

        let authorization = try credentials(for: reference.domain)
        var configuration = RegistryClientConfiguration()
        configuration.userAgent = "peerpull/\(PeerPullVersion.current)"
        if plainHttp { configuration.plainHTTPRegistries.insert(reference.domain) }
        let http = RegistryClient.makeHTTPClient(trustRootsPEMFile: caCert)
        let client = RegistryClient(httpClient: http, configuration: configuration, logger: logger)

        let outcome: Result<PullResult, any Error>
        do {
            outcome = .success(try await pull(reference, client: client, authorization: authorization, logger: logger))
        } catch {
            outcome = .failure(error)
        }
        try? await http.shutdown()
        let result = try outcome.get()
        print("\(result.reference) \(result.manifestDigest)")
    }

    private func pull(_ reference: ImageReference, client: RegistryClient, authorization: RegistryAuthorization, logger: Logger) async throws -> PullResult {
        let layout: OCILayout
        do { layout = try OCILayout(root: output) } catch { throw CLIError(error.description) }
        var puller = ImagePuller(
            client: client, layout: layout,
            platform: platform.flatMap(Platform.init(parsing:)) ?? .host,
            authorization: authorization,
            observer: PullProgressDisplay(interactive: isatty(STDERR_FILENO) == 1),
            logger: logger)
        puller.maxConcurrentBlobs = concurrency
        do {
            return try await puller.pull(reference)
        } catch {
            throw CLIError(error.description)
        }
    }

    private func credentials(for domain: String) throws -> RegistryAuthorization {
        if let username {
            var secret = password
            if passwordStdin {
                secret = readLine(strippingNewline: true)
                guard secret != nil else { throw CLIError("--password-stdin: standard input is empty") }
            }
            return .credentials(RegistryCredentials(username: username, password: secret ?? ""))
        }
        let env = ProcessInfo.processInfo.environment
        let path = dockerConfig
            ?? env["DOCKER_CONFIG"].map { $0 + "/config.json" }
            ?? (env["HOME"] ?? NSHomeDirectory()) + "/.docker/config.json"
        if dockerConfig != nil && !FileManager.default.fileExists(atPath: path) {
            throw CLIError("--docker-config \(path) does not exist")
        }
        do {
            if let c = try DockerConfigCredentials(contentsOf: path).credentials(for: domain) { return .credentials(c) }
        } catch {
            throw CLIError(error.description)
        }
        return .anonymous
    }
}

/// An error already worded for the operator: printed as is, exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
