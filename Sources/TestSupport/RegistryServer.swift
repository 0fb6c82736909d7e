import Certificates
import Foundation
import OCI

/// A real CNCF distribution registry (Debian's `docker-registry`) on 127.0.0.1 with a
/// port chosen by the kernel, its own storage folder, and one of three auth setups.
public final class RegistryServer: @unchecked Sendable {
    public enum Auth: Sendable {
        case open
        /// htpasswd Basic auth with these users.
        case basic(users: [String: String])
        /// Bearer tokens from `TokenServer`, verified by the registry with its certificate.
        case token(TokenServer)
    }

    public let directory: TemporaryDirectory
    public let host: String
    public let port: Int
    public let auth: Auth
    /// The network namespace it runs in, or nil for the test's own.
    public let namespace: String?
    /// Its serving certificate when it speaks HTTPS.
    public let tls: GeneratedCertificate?
    private let process: Process

    /// `127.0.0.1:<port>`: the registry domain in image references.
    public var domain: String { "\(host):\(port)" }
    public var storagePath: String { directory.file("storage") }
    public var logPath: String { directory.file("registry.log") }

    public static let binary = "/usr/bin/docker-registry"

    /// - Parameters:
    ///   - host: a loopback address; tests that need a registry on a well-known port
    ///     (80, so a domain without a port reaches it) take a random one of 127.0.0.0/8.
    ///   - port: 0 lets the kernel choose.
    ///   - namespace: a network namespace (of a `NetworkLab`) to run it in.
    ///   - tls: serve HTTPS with this certificate (clients trust its `caPEM`).
    public static func start(auth: Auth = .open, host: String = "127.0.0.1", port: Int = 0, namespace: String? = nil,
                             tls: GeneratedCertificate? = nil) async throws -> RegistryServer {
        let dir = try TemporaryDirectory(prefix: "peerpull-registry")
        do {
            return try await RegistryServer(directory: dir, auth: auth, host: host, port: port, namespace: namespace, tls: tls)
        } catch {
            dir.remove()
            throw error
        }
    }

    private init(directory: TemporaryDirectory, auth: Auth, host: String, port: Int, namespace: String?, tls: GeneratedCertificate?) async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw TestSupportError("\(Self.binary) is missing: run scripts/install-test-deps.sh (apt-get install docker-registry)")
        }
        self.directory = directory
        self.auth = auth
        self.host = host
        self.namespace = namespace
        self.tls = tls
        var config = """
        version: 0.1
        log:
          level: info
          accesslog:
            disabled: false
        storage:
          filesystem:
            rootdirectory: \(directory.file("storage"))
          delete:
            enabled: true
          maintenance:
            uploadpurging:
              enabled: false
        http:
          addr: \(host):\(port)
          secret: peerpull-test-secret

        """
        if let tls {
            try (tls.certificatePEM + "\n" + tls.caPEM + "\n").write(toFile: directory.file("tls.crt"), atomically: true, encoding: .utf8)
            try tls.privateKeyPEM.write(toFile: directory.file("tls.key"), atomically: true, encoding: .utf8)
            try tls.caPEM.write(toFile: directory.file("ca.crt"), atomically: true, encoding: .utf8)
            config += """
              tls:
                certificate: \(directory.file("tls.crt"))
                key: \(directory.file("tls.key"))

            """
        }
        switch auth {
        case .open:
            break
        case .basic(let users):
            var lines: [String] = []
            for (user, password) in users.sorted(by: { $0.key < $1.key }) {
                let out = try await Command.run(["htpasswd", "-Bbn", user, password])
                lines.append(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            try lines.joined(separator: "\n").write(toFile: directory.file("htpasswd"), atomically: true, encoding: .utf8)
            config += """
            auth:
              htpasswd:
                realm: peerpull-test
                path: \(directory.file("htpasswd"))

            """
        case .token(let server):
            try server.certificatePEM.write(toFile: directory.file("token-ca.pem"), atomically: true, encoding: .utf8)
            config += """
            auth:
              token:
                realm: \(server.realm)
                service: \(server.service)
                issuer: \(server.issuer)
                rootcertbundle: \(directory.file("token-ca.pem"))

            """
        }
        try config.write(toFile: directory.file("config.yml"), atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: directory.file("registry.log"), contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.file("registry.log")))
        let process = Process()
        if let namespace {
            // `ip netns exec` execs the registry: the process is the registry itself.
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            process.arguments = ["netns", "exec", namespace, Self.binary, "serve", directory.file("config.yml")]
        } else {
            process.executableURL = URL(fileURLWithPath: Self.binary)
            process.arguments = ["serve", directory.file("config.yml")]
        }
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? log.close()
        self.process = process

        // The registry logs "listening on HOST:PORT" once its socket is bound.
        let deadline = ContinuousClock.now + .seconds(15)
        var found: Int?
        while found == nil {
            let text = (try? String(contentsOfFile: directory.file("registry.log"), encoding: .utf8)) ?? ""
            if let range = text.range(of: "listening on \(host):") {
                let digits = text[range.upperBound...].prefix { $0.isNumber }
                found = Int(digits)
            } else if !process.isRunning || ContinuousClock.now > deadline {
                process.terminate()
                throw TestSupportError("docker-registry did not start: \(text.suffix(1500))")
            } else {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        self.port = found!
    }

    /// Stops the registry and deletes its storage.
    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()  // docker-registry exits at once on SIGTERM
        }
        directory.remove()
    }

    /// The on-disk path of a blob in the registry's filesystem storage driver.
    public func blobDataPath(_ digest: String) -> String {
        let hex = digest.split(separator: ":").last.map(String.init) ?? digest
        return "\(storagePath)/docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data"
    }

    /// The layers of the image manifest `reference` of `repository` (asked from the
    /// registry's own namespace when it runs in one).
    public func layers(repository: String, reference: String, basic: (user: String, password: String)? = nil) async throws -> [Descriptor] {
        try await imageManifest(repository: repository, reference: reference, basic: basic).layers
    }

    /// The image manifest `reference` of `repository`; `bearer`: a token for a registry
    /// with token auth (`TokenServer.issue`); `basic`: a user of one with htpasswd auth.
    public func imageManifest(repository: String, reference: String, bearer: String? = nil,
                              basic: (user: String, password: String)? = nil) async throws -> ImageManifest {
        let curl = ["curl", "-sf", "-H", "Accept: \(MediaType.ociManifest)"] + (tls == nil ? [] : ["--cacert", directory.file("ca.crt")])
            + (bearer.map { ["-H", "Authorization: Bearer \($0)"] } ?? [])
            + (basic.map { ["-u", "\($0.user):\($0.password)"] } ?? [])
            + ["\(tls == nil ? "http" : "https")://\(domain)/v2/\(repository)/manifests/\(reference)"]
        let text = try await Command.run((namespace.map { ["ip", "netns", "exec", $0] } ?? []) + curl).stdout
        guard case .image(let m) = try ManifestDocument(data: Array(text.utf8), contentType: MediaType.ociManifest) else {
            throw TestSupportError("\(repository):\(reference) is not an image manifest: \(text.prefix(200))")
        }
        return m
    }

    /// Access-log lines (`"GET /v2/... HTTP/1.1" 200 …`) written so far.
    public func accessLog() -> [String] {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").filter { $0.contains("\"GET ") || $0.contains("\"HEAD ") }.map(String.init)
    }
}
