import Certificates
import Foundation
import OCI
import SyntheticImages
import TestSupport
import Testing

/// containerd's own client (`ctr`) pulls through the agent binary, exactly as a node
/// would, with each containerd this machine has (bookworm's 1.6, and trixie's 1.7 and
/// sid's 2.x from `scripts/containerd-versions.sh`): first by the rewritten P2P host
/// name, then in mirror mode through the
/// `hosts.toml` the agent wrote. The origin is Debian's docker-registry with Basic auth
/// on port 80 of a random loopback address, named `reg.p2ptest.example` for the
/// agent and ctr only (see `HostsOverride`).
@Suite("containerd pulls through the agent", .serialized, .enabled(if: getuid() == 0, "needs root for mount namespaces"))
struct ContainerdPullTests {
    static let image = SyntheticImage(layerSizes: [400_000, 2_000_000, 90_000], seed: 31)

    @Test(arguments: PrivateContainerd.versions)
    func p2pHostThenMirrorModeSecondPullFromCache(containerd: PrivateContainerd.Version) async throws {
        let originAddress = HostsOverride.randomLoopbackAddress()
        let agentAddress = HostsOverride.randomLoopbackAddress()
        let dir = try TemporaryDirectory(prefix: "peerpull-ctr")
        defer { dir.remove() }
        let hosts = try HostsOverride(in: dir, entries: [
            (originAddress, ["reg.p2ptest.example"]),
            (agentAddress, ["reg.distributed.p2ptest.example"]),
        ])
        let registry = try await RegistryServer.start(auth: .basic(users: ["alice": "wonderland"]), host: originAddress, port: 80)
        var agent: BackgroundProcess?
        var daemons: [PrivateContainerd] = []
        do {
            let pushed = try await TestImages.push(Self.image, to: registry, repository: "team/app", tag: "v1", credentials: ("alice", "wonderland"))
            agent = try BackgroundProcess(hosts.wrap([
                TestImages.peerpullBinary, "agent", "--listen", agentAddress, "--port", "65001",
                "--plain-http-origin", "reg.p2ptest.example", "--data-dir", dir.file("data"),
                "--containerd-config-path", dir.file("certs.d"), "--log-level", "debug",
            ]), logPath: dir.file("agent.log"))
            let metricsURL = "http://\(agentAddress):65001/metrics"
            try await agent!.waitUntil(timeout: .seconds(60)) {
                (try? await Command.run(["curl", "-sf", "-o", "/dev/null", "http://\(agentAddress):65001/healthz"], check: false).status) == 0
            }
            func metrics() async throws -> String { try await Command.run(["curl", "-sf", metricsURL]).stdout }
            func originBlobGETs() -> Int { registry.accessLog().filter { $0.contains("\"GET /v2/team/app/blobs/") }.count }
            func pulledDigest(_ c: PrivateContainerd, _ name: String) async throws -> String {
                let out = try await Command.run(c.ctr(["images", "ls"])).stdout
                return out.split(separator: "\n").first { $0.hasPrefix(name + " ") }?.split(separator: " ", omittingEmptySubsequences: true)
                    .first { $0.hasPrefix("sha256:") }.map(String.init) ?? "not pulled: \(out)"
            }

            // 1. The rewritten image name, as the controller writes it into the pod.
            let first = try await PrivateContainerd.start(containerd, wrap: hosts.wrap)
            daemons.append(first)
            let p2pImage = "reg.distributed.p2ptest.example:65001/team/app:v1"
            try await Command.run(hosts.wrap(first.ctr(["images", "pull", "--plain-http", "--snapshotter", "native",
                                                         "--user", "alice:wonderland", p2pImage])))
            #expect(try await pulledDigest(first, p2pImage) == pushed.digest.description)
            let cold = try await metrics()
            let originBytes = metric(cold, #"peerpull_agent_bytes_total{direction="in",source="origin"}"#)
            let blobGETs = originBlobGETs()
            #expect(originBytes >= 2_490_000)
            #expect(blobGETs == 4)  // three layers and the config

            // 2. A fresh containerd pulls the original name; hosts.toml sends it to the agent.
            let toml = try String(contentsOfFile: dir.file("certs.d/reg.p2ptest.example/hosts.toml"), encoding: .utf8)
            #expect(toml.contains("http://\(agentAddress):65001"))
            let second = try await PrivateContainerd.start(containerd, wrap: hosts.wrap)
            daemons.append(second)
            let originImage = "reg.p2ptest.example/team/app:v1"
            try await Command.run(hosts.wrap(second.ctr(["images", "pull", "--hosts-dir", dir.file("certs.d"), "--snapshotter", "native",
                                                          "--user", "alice:wonderland", originImage])))
            #expect(try await pulledDigest(second, originImage) == pushed.digest.description)
            let warm = try await metrics()
            #expect(originBlobGETs() == blobGETs, "the origin served no blob the second time")
            #expect(metric(warm, #"peerpull_agent_bytes_total{direction="in",source="origin"}"#) == originBytes)
            #expect(metric(warm, #"peerpull_agent_cache_requests_total{result="hit"}"#) == 4)

            // 3. Without credentials containerd is refused by the origin, through the agent.
            let third = try await PrivateContainerd.start(containerd, wrap: hosts.wrap)
            daemons.append(third)
            let refused = try await Command.run(hosts.wrap(third.ctr(["images", "pull", "--plain-http", "--snapshotter", "native", p2pImage])), check: false)
            #expect(refused.status != 0)
            let said = (refused.stderr + refused.stdout).lowercased()
            // 1.6 says 401 Unauthorized; 1.7 and 2.x "authorization failed: no basic auth credentials".
            #expect(said.contains("401") || said.contains("unauthorized") || said.contains("authorization failed"), "\(refused.stderr)")
        } catch {
            for d in daemons { await d.stop() }
            await agent?.stop(); registry.stop()
            throw error
        }
        for d in daemons { await d.stop() }
        await agent?.stop(); registry.stop()
    }

    /// The agent down, its hosts.toml still there (a crash, a rolling update): containerd
    /// falls back to the origin `server`, which is HTTPS from a private CA that the operator
    /// configured in the node's own `hosts.toml` beside `ca.crt`. The trust carries over to
    /// the P2P host's file (`ca = "../reg.p2ptest.example/ca.crt"`), so the pull of the
    /// rewritten name succeeds from the origin; the operator's files come back unchanged.
    @Test(arguments: PrivateContainerd.versions)
    func aStoppedAgentFallsBackToAPrivateCAOriginWithTheOperatorsTrust(containerd: PrivateContainerd.Version) async throws {
        let originAddress = HostsOverride.randomLoopbackAddress()
        let agentAddress = HostsOverride.randomLoopbackAddress()
        let dir = try TemporaryDirectory(prefix: "peerpull-ctr")
        defer { dir.remove() }
        let hosts = try HostsOverride(in: dir, entries: [(originAddress, ["reg.p2ptest.example"])])
        let cert = try GeneratedCertificate.generate(caName: "operator CA", leafName: "reg.p2ptest.example",
                                                     dnsNames: ["reg.p2ptest.example"], ipAddresses: [originAddress])
        let registry = try await RegistryServer.start(auth: .basic(users: ["alice": "wonderland"]), host: originAddress, port: 443, tls: cert)
        var daemon: PrivateContainerd?
        do {
            let pushed = try await TestImages.push(Self.image, to: registry, repository: "team/app", tag: "v1", credentials: ("alice", "wonderland"))
            let own = dir.file("certs.d/reg.p2ptest.example")
            try FileManager.default.createDirectory(atPath: own, withIntermediateDirectories: true)
            let ownToml = "server = \"https://reg.p2ptest.example\"\nca = \"ca.crt\"\n"
            try ownToml.write(toFile: own + "/hosts.toml", atomically: true, encoding: .utf8)
            try cert.caPEM.write(toFile: own + "/ca.crt", atomically: true, encoding: .utf8)
            // The DaemonSet's init step, then no agent at all.
            let setup = [TestImages.peerpullBinary, "agent", "--listen", agentAddress, "--port", "65001", "--origin", "reg.p2ptest.example",
                         "--data-dir", dir.file("data"), "--tls-dir", dir.file("data/tls"), "--containerd-config-path", dir.file("certs.d")]
            try await Command.run(setup + ["--setup-only"])
            daemon = try await PrivateContainerd.start(containerd, wrap: hosts.wrap)
            let p2pImage = "reg.distributed.p2ptest.example:65001/team/app:v1"
            let pull = try await Command.run(hosts.wrap(daemon!.ctr(["images", "pull", "--hosts-dir", dir.file("certs.d"), "--snapshotter", "native",
                                                                    "--user", "alice:wonderland", p2pImage])), check: false)
            #expect(pull.status == 0, "\(pull.stderr.suffix(600))")
            let listed = try await Command.run(daemon!.ctr(["images", "ls"])).stdout
            #expect(listed.contains(pushed.digest.description), "\(listed)")
            #expect(registry.accessLog().contains { $0.contains("\"GET /v2/team/app/blobs/") && $0.contains("containerd") })
            // Undo: the operator's two files, exactly.
            try await Command.run(setup + ["--undo-containerd-config"])
            #expect(try String(contentsOfFile: own + "/hosts.toml", encoding: .utf8) == ownToml)
            #expect(try String(contentsOfFile: own + "/ca.crt", encoding: .utf8) == cert.caPEM)
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.file("certs.d"))) == ["reg.p2ptest.example"])
        } catch {
            await daemon?.stop(); registry.stop()
            throw error
        }
        await daemon?.stop(); registry.stop()
    }

    /// The agent hung (its port accepts connections, nothing answers: wedged, or stopped),
    /// its `hosts.toml` in place: containerd waits on it, having no timeout for an answer
    /// (none of the three versions went to the origin within the 5 s). The chart's liveness
    /// probe restarts such an agent; its connections then close and containerd takes the
    /// origin at once (0.15-0.17 s here). So a pull is held at most the probe's window
    /// (3 failures 10 s apart, about 30 s) and then completes.
    @Test(arguments: PrivateContainerd.versions)
    func aHungAgentHoldsAPullOnlyUntilItIsRestarted(containerd: PrivateContainerd.Version) async throws {
        let originAddress = HostsOverride.randomLoopbackAddress()
        let agentAddress = HostsOverride.randomLoopbackAddress()
        let dir = try TemporaryDirectory(prefix: "peerpull-ctr")
        defer { dir.remove() }
        let hosts = try HostsOverride(in: dir, entries: [(originAddress, ["reg.p2ptest.example"])])
        let registry = try await RegistryServer.start(auth: .basic(users: ["alice": "wonderland"]), host: originAddress, port: 80)
        var daemon: PrivateContainerd?
        var hung: BackgroundProcess?
        do {
            let pushed = try await TestImages.push(Self.image, to: registry, repository: "team/app", tag: "v1", credentials: ("alice", "wonderland"))
            try await Command.run([TestImages.peerpullBinary, "agent", "--listen", agentAddress, "--port", "65001",
                                   "--plain-http-origin", "reg.p2ptest.example", "--data-dir", dir.file("data"),
                                   "--containerd-config-path", dir.file("certs.d"), "--setup-only"])
            // Accepts every connection and never reads or answers.
            let listener = "import socket,sys\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                + "s.bind((sys.argv[1],65001))\ns.listen(128)\nkept=[]\nwhile True:\n  kept.append(s.accept())\n"
            hung = try BackgroundProcess(["python3", "-c", listener, agentAddress], logPath: dir.file("hung.log"))
            try await hung!.waitUntil { (try? await Command.run(["sh", "-c", "ss -ltn | grep -q '\(agentAddress):65001 '"], check: false).status) == 0 }
            daemon = try await PrivateContainerd.start(containerd, wrap: hosts.wrap)
            let started = ContinuousClock.now
            let pull = Task { [daemon] in
                try await Command.run(hosts.wrap(daemon!.ctr(["images", "pull", "--hosts-dir", dir.file("certs.d"), "--snapshotter", "native",
                                                              "--user", "alice:wonderland", "reg.p2ptest.example/team/app:v1"])), check: false)
            }
            try await Task.sleep(for: .seconds(5))
            let heldTheWholeTime = registry.accessLog().filter { $0.contains("\"GET /v2/team/app/blobs/") }.isEmpty
            let killed = ContinuousClock.now
            kill(hung!.pid, SIGKILL)  // what the liveness probe's restart comes to for a wedged process
            let result = try await pull.value
            let after = ContinuousClock.now - killed
            #expect(result.status == 0, "\(result.stderr.suffix(600))")
            #expect(heldTheWholeTime, "containerd went to the origin while the agent hung")
            #expect(after < .seconds(5), "the pull ended \(after) after the hung agent was stopped")
            let listed = try await Command.run(daemon!.ctr(["images", "ls"])).stdout
            #expect(listed.contains(pushed.digest.description))
            print("containerd \(containerd): a hung agent held the pull for the whole \(killed - started) (\(heldTheWholeTime)); it ended \(after) after the agent stopped")
        } catch {
            await hung?.stop(); await daemon?.stop(); registry.stop()
            throw error
        }
        await hung?.stop(); await daemon?.stop(); registry.stop()
    }

}
