import Certificates
import Foundation
import OCI
import SyntheticImages
import TestSupport
import Testing

/// containerd's own client (`ctr`) pulls through the agent binary, exactly as a node
/// would, with each containerd this machine has (bookworm's 1.6, and trixie's 1.7 and
/// sid's 2.x from `scripts/containerd-versions.sh`): by the rewritten P2P host name, in
/// mirror mode through the `hosts.toml` the agent wrote, and with the agent down or hung.
/// The origin is Debian's docker-registry with Basic auth on port 80 (or 443) of a random
/// loopback address, named `reg.p2ptest.example` for the agent, containerd and ctr only
/// (see `HostsOverride`).
@Suite("containerd pulls through the agent", .serialized, .enabled(if: getuid() == 0, "needs root for mount namespaces"))
struct ContainerdPullTests {
    static let image = SyntheticImage(layerSizes: [400_000, 2_000_000, 90_000], seed: 31)
    static let originName = "reg.p2ptest.example"
    static let p2pImage = "reg.distributed.p2ptest.example:65001/team/app:v1"
    static let originImage = "reg.p2ptest.example/team/app:v1"

    /// One test's origin, names and processes; what it starts is stopped once, at the end.
    final class Lab: @unchecked Sendable {
        let dir: TemporaryDirectory
        let hosts: HostsOverride
        let registry: RegistryServer
        let agentAddress: String
        let certificate: GeneratedCertificate?
        let containerd: PrivateContainerd.Version
        var pushed: Descriptor?
        private var processes: [BackgroundProcess] = []
        private var daemons: [PrivateContainerd] = []

        init(_ containerd: PrivateContainerd.Version, tls: Bool) async throws {
            let originAddress = HostsOverride.randomLoopbackAddress()
            agentAddress = HostsOverride.randomLoopbackAddress()
            self.containerd = containerd
            dir = try TemporaryDirectory(prefix: "peerpull-ctr")
            do {
                hosts = try HostsOverride(in: dir, entries: [
                    (originAddress, [ContainerdPullTests.originName]), (agentAddress, ["reg.distributed.p2ptest.example"]),
                ])
                certificate = tls ? try GeneratedCertificate.generate(caName: "operator CA", leafName: ContainerdPullTests.originName,
                                                                      dnsNames: [ContainerdPullTests.originName], ipAddresses: [originAddress]) : nil
                registry = try await RegistryServer.start(auth: .basic(users: ["alice": "wonderland"]), host: originAddress,
                                                          port: tls ? 443 : 80, tls: certificate)
            } catch {
                dir.remove()
                throw error
            }
        }

        /// The agent binary in front of the origin, writing its hosts.toml into `certs.d`, up.
        func startAgent() async throws -> BackgroundProcess {
            let agent = try BackgroundProcess(hosts.wrap([
                TestImages.peerpullBinary, "agent", "--listen", agentAddress, "--port", "65001",
                "--plain-http-origin", ContainerdPullTests.originName, "--data-dir", dir.file("data"),
                "--containerd-config-path", dir.file("certs.d"), "--log-level", "debug",
            ]), logPath: dir.file("agent.log"))
            processes.append(agent)
            try await agent.waitUntil(timeout: .seconds(60)) {
                (try? await Command.run(["curl", "-sf", "-o", "/dev/null", "http://\(agentAddress):65001/healthz"], check: false).status) == 0
            }
            return agent
        }

        /// A fresh containerd of the test's version.
        func startContainerd() async throws -> PrivateContainerd {
            let d = try await PrivateContainerd.start(containerd, wrap: hosts.wrap)
            daemons.append(d)
            return d
        }

        /// `ctr images pull` of `image` into `daemon`: through the agent's hosts.toml
        /// (`hostsDir`) or straight to the named host over plain HTTP.
        func pull(_ daemon: PrivateContainerd, _ image: String, hostsDir: Bool = true, credentials: Bool = true) async throws -> Command.Output {
            let route = hostsDir ? ["--hosts-dir", dir.file("certs.d")] : ["--plain-http"]
            let user = credentials ? ["--user", "alice:wonderland"] : []
            return try await Command.run(hosts.wrap(daemon.ctr(["images", "pull", "--snapshotter", "native"] + route + user + [image])), check: false)
        }

        func stop() async {
            for d in daemons { await d.stop() }
            for p in processes { await p.stop() }
            registry.stop()
            dir.remove()
        }
    }

    /// Runs `body` with a lab whose origin holds the test image; stops it all after, also on failure.
    static func withLab(_ containerd: PrivateContainerd.Version, tls: Bool = false, _ body: (Lab) async throws -> Void) async throws {
        let lab = try await Lab(containerd, tls: tls)
        do {
            lab.pushed = try await TestImages.push(image, to: lab.registry, repository: "team/app", tag: "v1", credentials: ("alice", "wonderland"))
            try await body(lab)
        } catch {
            await lab.stop()
            throw error
        }
        await lab.stop()
    }

    static func pulledDigest(_ c: PrivateContainerd, _ name: String) async throws -> String {
        let out = try await Command.run(c.ctr(["images", "ls"])).stdout
        return out.split(separator: "\n").first { $0.hasPrefix(name + " ") }?.split(separator: " ", omittingEmptySubsequences: true)
            .first { $0.hasPrefix("sha256:") }.map(String.init) ?? "not pulled: \(out)"
    }

    @Test(arguments: PrivateContainerd.versions)
    func p2pHostThenMirrorModeSecondPullFromCache(containerd: PrivateContainerd.Version) async throws {
        try await Self.withLab(containerd) { lab in
            let pushed = try #require(lab.pushed)
            _ = try await lab.startAgent()
            func metrics() async throws -> String { try await Command.run(["curl", "-sf", "http://\(lab.agentAddress):65001/metrics"]).stdout }
            func originBlobGETs() -> Int { lab.registry.accessLog().filter { $0.contains("\"GET /v2/team/app/blobs/") }.count }

            // 1. The rewritten image name, as the controller writes it into the pod.
            let first = try await lab.startContainerd()
            let p2p = try await lab.pull(first, Self.p2pImage, hostsDir: false)
            #expect(p2p.status == 0, "\(p2p.stderr.suffix(600))")
            #expect(try await Self.pulledDigest(first, Self.p2pImage) == pushed.digest.description)
            let cold = try await metrics()
            let originBytes = metric(cold, #"peerpull_agent_bytes_total{direction="in",source="origin"}"#)
            let blobGETs = originBlobGETs()
            #expect(originBytes >= 2_490_000)
            #expect(blobGETs == 4)  // three layers and the config

            // 2. A fresh containerd pulls the original name; hosts.toml sends it to the agent.
            let toml = try String(contentsOfFile: lab.dir.file("certs.d/\(Self.originName)/hosts.toml"), encoding: .utf8)
            #expect(toml.contains("http://\(lab.agentAddress):65001"))
            let second = try await lab.startContainerd()
            let mirrored = try await lab.pull(second, Self.originImage)
            #expect(mirrored.status == 0, "\(mirrored.stderr.suffix(600))")
            #expect(try await Self.pulledDigest(second, Self.originImage) == pushed.digest.description)
            let warm = try await metrics()
            #expect(originBlobGETs() == blobGETs, "the origin served no blob the second time")
            #expect(metric(warm, #"peerpull_agent_bytes_total{direction="in",source="origin"}"#) == originBytes)
            #expect(metric(warm, #"peerpull_agent_cache_requests_total{result="hit"}"#) == 4)

            // 3. Without credentials containerd is refused by the origin, through the agent.
            let refused = try await lab.pull(try await lab.startContainerd(), Self.p2pImage, hostsDir: false, credentials: false)
            #expect(refused.status != 0)
            let said = (refused.stderr + refused.stdout).lowercased()
            // 1.6 says 401 Unauthorized; 1.7 and 2.x "authorization failed: no basic auth credentials".
            #expect(said.contains("401") || said.contains("unauthorized") || said.contains("authorization failed"), "\(refused.stderr)")
        }
    }

    /// The agent down, its hosts.toml still there (a crash, a rolling update): containerd
    /// falls back to the origin `server`, which is HTTPS from a private CA that the operator
    /// configured in the node's own `hosts.toml` beside `ca.crt`. The trust carries over to
    /// the P2P host's file (`ca = "../reg.p2ptest.example/ca.crt"`), so the pull of the
    /// rewritten name succeeds from the origin; the operator's files come back unchanged.
    @Test(arguments: PrivateContainerd.versions)
    func aStoppedAgentFallsBackToAPrivateCAOriginWithTheOperatorsTrust(containerd: PrivateContainerd.Version) async throws {
        try await Self.withLab(containerd, tls: true) { lab in
            let pushed = try #require(lab.pushed)
            let cert = try #require(lab.certificate)
            let own = lab.dir.file("certs.d/\(Self.originName)")
            try FileManager.default.createDirectory(atPath: own, withIntermediateDirectories: true)
            let ownToml = "server = \"https://\(Self.originName)\"\nca = \"ca.crt\"\n"
            try ownToml.write(toFile: own + "/hosts.toml", atomically: true, encoding: .utf8)
            try cert.caPEM.write(toFile: own + "/ca.crt", atomically: true, encoding: .utf8)
            // The DaemonSet's init step, then no agent at all.
            let setup = [TestImages.peerpullBinary, "agent", "--listen", lab.agentAddress, "--port", "65001", "--origin", Self.originName,
                         "--data-dir", lab.dir.file("data"), "--tls-dir", lab.dir.file("data/tls"), "--containerd-config-path", lab.dir.file("certs.d")]
            try await Command.run(setup + ["--setup-only"])
            let daemon = try await lab.startContainerd()
            let pull = try await lab.pull(daemon, Self.p2pImage)
            #expect(pull.status == 0, "\(pull.stderr.suffix(600))")
            #expect(try await Self.pulledDigest(daemon, Self.p2pImage) == pushed.digest.description)
            #expect(lab.registry.accessLog().contains { $0.contains("\"GET /v2/team/app/blobs/") && $0.contains("containerd") })
            // Undo: the operator's two files, exactly.
            try await Command.run(setup + ["--undo-containerd-config"])
            #expect(try String(contentsOfFile: own + "/hosts.toml", encoding: .utf8) == ownToml)
            #expect(try String(contentsOfFile: own + "/ca.crt", encoding: .utf8) == cert.caPEM)
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: lab.dir.file("certs.d"))) == [Self.originName])
        }
    }

    /// The agent hung (stopped with SIGSTOP: its kernel still accepts connections, nothing
    /// answers), its `hosts.toml` in place: containerd waits on it, having no timeout for an
    /// answer (none of the three versions went to the origin within the 5 s). The chart's
    /// liveness probe restarts such an agent; its connections then close and containerd
    /// takes the origin at once (0.15-0.31 s here). So a pull is held at most the probe's
    /// window (3 failures 10 s apart, about 30 s) and then completes.
    @Test(arguments: PrivateContainerd.versions)
    func aHungAgentHoldsAPullOnlyUntilItIsRestarted(containerd: PrivateContainerd.Version) async throws {
        try await Self.withLab(containerd) { lab in
            let pushed = try #require(lab.pushed)
            let agent = try await lab.startAgent()
            kill(agent.pid, SIGSTOP)
            let daemon = try await lab.startContainerd()
            let started = ContinuousClock.now
            let pull = Task { try await lab.pull(daemon, Self.originImage) }
            try await Task.sleep(for: .seconds(5))
            let heldTheWholeTime = lab.registry.accessLog().filter { $0.contains("\"GET /v2/team/app/blobs/") }.isEmpty
            let killed = ContinuousClock.now
            kill(agent.pid, SIGKILL)  // what the liveness probe's restart comes to for a hung agent
            let result = try await pull.value
            let after = ContinuousClock.now - killed
            #expect(result.status == 0, "\(result.stderr.suffix(600))")
            #expect(heldTheWholeTime, "containerd went to the origin while the agent hung")
            #expect(after < .seconds(5), "the pull ended \(after) after the hung agent was stopped")
            #expect(try await Self.pulledDigest(daemon, Self.originImage) == pushed.digest.description)
            print("containerd \(containerd): a hung agent held the pull for the whole \(killed - started) (\(heldTheWholeTime)); it ended \(after) after the agent stopped")
        }
    }
}
