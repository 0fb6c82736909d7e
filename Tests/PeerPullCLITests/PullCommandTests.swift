import Foundation
import OCI
import SyntheticImages
import TestSupport
import Testing

/// `peerpull pull` as a user runs it: the built binary against real registries.
@Suite("peerpull pull")
struct PullCommandTests {
    static let users = ["alice": "wonderland"]
    static let platforms = [Platform(os: "linux", architecture: "amd64"), Platform(os: "linux", architecture: "arm64", variant: "v8")]
    static let image = SyntheticImage(layerSizes: [200_000, 900_000, 50_000], platforms: platforms, seed: 42)

    struct Rig {
        var registry: RegistryServer
        var token: TokenServer?
        var output: TemporaryDirectory

        func stop() async {
            registry.stop()
            await token?.stop()
            output.remove()
        }
    }

    func withRig(_ kind: String, _ body: (Rig) async throws -> Void) async throws {
        var token: TokenServer?
        let auth: RegistryServer.Auth
        switch kind {
        case "basic": auth = .basic(users: Self.users)
        case "token":
            token = try await TokenServer.start(users: Self.users)
            auth = .token(token!)
        default: auth = .open
        }
        let rig = Rig(registry: try await RegistryServer.start(auth: auth), token: token, output: try TemporaryDirectory(prefix: "peerpull-out"))
        do {
            try await TestImages.push(Self.image, to: rig.registry, repository: "team/app", tag: "v1",
                                      credentials: kind == "open" ? nil : ("alice", "wonderland"))
            try await body(rig)
        } catch {
            await rig.stop()
            throw error
        }
        await rig.stop()
    }

    func peerpull(_ args: [String], stdin: String? = nil, environment: [String: String]? = nil) async throws -> Command.Output {
        try await Command.run([TestImages.peerpullBinary] + args, stdin: stdin, environment: environment, check: false)
    }

    /// Checks that the layout holds one image whose every blob is present and hashes right.
    func expectCompleteLayout(_ dir: String, platform: Platform) throws {
        let layout = try OCILayout(root: dir)
        let index = try layout.index()
        #expect(index.manifests.count == 1)
        let top = try #require(index.manifests.first)
        #expect(top.platform == platform)
        let manifestBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: layout.blobPath(top.digest))))
        #expect(Digest.compute(of: manifestBytes) == top.digest)
        guard case .image(let manifest) = try ManifestDocument(data: manifestBytes, contentType: top.mediaType) else {
            Issue.record("index.json does not point at an image manifest"); return
        }
        for blob in manifest.blobs {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: layout.blobPath(blob.digest))))
            #expect(Int64(bytes.count) == blob.size)
            #expect(Digest.compute(of: bytes) == blob.digest)
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/.peerpull-ingest"))
    }

    @Test func version() async throws {
        let out = try await peerpull(["--version"])
        #expect(out.status == 0)
        #expect(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == PeerPullVersion.current)
        let help = try await peerpull(["--help"])
        #expect(help.stdout.contains("pull"))
    }

    @Test func openRegistryBothPlatforms() async throws {
        try await withRig("open") { rig in
            for platform in Self.platforms {
                let dir = rig.output.file(platform.architecture)
                let out = try await peerpull(["pull", "--plain-http", "--platform", platform.description,
                                              "\(rig.registry.domain)/team/app:v1", "--output", dir])
                #expect(out.status == 0, "\(out.stderr)")
                #expect(out.stdout.hasPrefix("\(rig.registry.domain)/team/app:v1 sha256:"))
                // Not a terminal: plain log lines, one per blob.
                #expect(out.stderr.contains("fetched sha256:"))
                try expectCompleteLayout(dir, platform: platform)
            }
            // The layout is what skopeo reads as an image too.
            let check = try await Command.run(["skopeo", "--insecure-policy", "inspect", "oci:\(rig.output.file("arm64")):v1"], check: false)
            #expect(check.status == 0, "\(check.stderr)")

            // A second pull into the same layout downloads nothing.
            let again = try await peerpull(["pull", "--plain-http", "--platform", "linux/arm64/v8",
                                            "\(rig.registry.domain)/team/app:v1", "--output", rig.output.file("arm64")])
            #expect(again.status == 0)
            #expect(again.stderr.contains("0 B downloaded"))
        }
    }

    @Test func basicAuthWithFlagsAndDockerConfig() async throws {
        try await withRig("basic") { rig in
            let dir = rig.output.file("flags")
            let out = try await peerpull(["pull", "--plain-http", "--platform", "linux/amd64", "--username", "alice", "--password", "wonderland",
                                          "\(rig.registry.domain)/team/app:v1", "-o", dir])
            #expect(out.status == 0, "\(out.stderr)")
            try expectCompleteLayout(dir, platform: Self.platforms[0])

            let auth = Data("alice:wonderland".utf8).base64EncodedString()
            let config = rig.output.file("config.json")
            try #"{"auths":{"\#(rig.registry.domain)":{"auth":"\#(auth)"}}}"#.write(toFile: config, atomically: true, encoding: .utf8)
            let viaConfig = try await peerpull(["pull", "--plain-http", "--platform", "linux/amd64", "--docker-config", config,
                                                "\(rig.registry.domain)/team/app:v1", "-o", rig.output.file("config")])
            #expect(viaConfig.status == 0, "\(viaConfig.stderr)")
        }
    }

    @Test func tokenAuthWithPasswordStdin() async throws {
        try await withRig("token") { rig in
            let dir = rig.output.file("token")
            let out = try await peerpull(["pull", "--plain-http", "--platform", "linux/amd64", "--username", "alice", "--password-stdin",
                                          "\(rig.registry.domain)/team/app:v1", "-o", dir], stdin: "wonderland\n")
            #expect(out.status == 0, "\(out.stderr)")
            try expectCompleteLayout(dir, platform: Self.platforms[0])
            // One token for the repository, reused for the manifests and all blobs.
            #expect(rig.token!.requestLog.filter { $0.hasPrefix("alice repository:team/app:pull") && !$0.contains("push") }.count == 1)
        }
    }

    @Test("wrong credentials: unauthorized, naming the registry", arguments: ["basic", "token"])
    func wrongCredentials(kind: String) async throws {
        try await withRig(kind) { rig in
            for creds in [["--username", "alice", "--password", "nope"], []] {
                let dir = rig.output.file("bad")
                let out = try await peerpull(["pull", "--plain-http", "\(rig.registry.domain)/team/app:v1", "-o", dir] + creds,
                                             environment: ["DOCKER_CONFIG": rig.output.file("no-such-dir")])
                #expect(out.status != 0)
                #expect(out.stderr.contains("unauthorized"), "\(out.stderr)")
                #expect(out.stderr.contains(rig.registry.domain))
                #expect(!FileManager.default.fileExists(atPath: dir + "/index.json"))
            }
        }
    }

    @Test func tamperedBlobIsRefusedAndLeavesNothing() async throws {
        try await withRig("open") { rig in
            // Find the amd64 manifest's biggest layer through the registry itself.
            let probe = rig.output.file("probe")
            _ = try await peerpull(["pull", "--plain-http", "--platform", "linux/amd64", "\(rig.registry.domain)/team/app:v1", "-o", probe])
            let layout = try OCILayout(root: probe)
            let top = try #require(try layout.index().manifests.first)
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: layout.blobPath(top.digest))))
            guard case .image(let manifest) = try ManifestDocument(data: bytes, contentType: top.mediaType) else {
                Issue.record("the pulled top-level manifest is not an image manifest: \(top.mediaType)")
                return
            }
            let victim = try #require(manifest.layers.max { $0.size < $1.size })

            // Flip one byte in the registry's stored copy; the size stays the same.
            let path = rig.registry.blobDataPath(victim.digest.description)
            var data = try Data(contentsOf: URL(fileURLWithPath: path))
            data[data.count / 2] ^= 0xff
            try data.write(to: URL(fileURLWithPath: path))

            let dir = rig.output.file("tampered")
            let out = try await peerpull(["pull", "--plain-http", "--platform", "linux/amd64", "\(rig.registry.domain)/team/app:v1", "-o", dir])
            #expect(out.status != 0)
            #expect(out.stderr.contains("digestMismatch"), "\(out.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/" + victim.digest.layoutPath))
            #expect(!FileManager.default.fileExists(atPath: dir + "/.peerpull-ingest"))
            #expect(!FileManager.default.fileExists(atPath: dir + "/index.json"))
            let blobs = try FileManager.default.contentsOfDirectory(atPath: dir + "/blobs/sha256")
            #expect(!blobs.contains(victim.digest.hex))
            #expect(!blobs.contains { $0.contains("tmp") })
        }
    }

    @Test("bad input is refused with a clear message", arguments: [
        (["pull", "Bad/Name", "-o", "/tmp/x"], "must be lowercase"),
        (["pull", "nginx@sha256:../../etc", "-o", "/tmp/x"], "invalid digest"),
        (["pull", "nginx", "-o", "/tmp/x", "--platform", "linux"], "--platform"),
        (["pull", "nginx", "-o", "/tmp/x", "--username", "u"], "--password"),
        (["pull", "nginx"], "--output"),
        (["make-test-image", "-o", "/tmp/x", "--layers", "12Q"], "--layers"),
    ])
    func badInput(_ vector: ([String], String)) async throws {
        let out = try await peerpull(vector.0)
        #expect(out.status != 0)
        #expect(out.stderr.contains(vector.1), "\(out.stderr)")
    }
}
