import Foundation
import OCI
import TestSupport
import Testing

/// containerd's own client (`ctr`) pulls through the agent binary, exactly as a node
/// would: first by the rewritten P2P host name, then in mirror mode through the
/// `hosts.toml` the agent wrote. The origin is Debian's docker-registry with Basic auth
/// on port 80 of a random loopback address, named `reg.p2ptest.example` for the
/// agent and ctr only (see `HostsOverride`).
@Suite("containerd pulls through the agent", .serialized, .enabled(if: getuid() == 0, "needs root for mount namespaces"))
struct ContainerdPullTests {
    static let image = SyntheticImage(layerSizes: [400_000, 2_000_000, 90_000], seed: 31)

    @Test func p2pHostThenMirrorModeSecondPullFromCache() async throws {
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
            let first = try await PrivateContainerd.start()
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
            let second = try await PrivateContainerd.start()
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
            let third = try await PrivateContainerd.start()
            daemons.append(third)
            let refused = try await Command.run(hosts.wrap(third.ctr(["images", "pull", "--plain-http", "--snapshotter", "native", p2pImage])), check: false)
            #expect(refused.status != 0)
            #expect((refused.stderr + refused.stdout).contains("401") || (refused.stderr + refused.stdout).lowercased().contains("unauthorized"),
                    "\(refused.stderr)")
        } catch {
            for d in daemons { await d.stop() }
            await agent?.stop(); registry.stop()
            throw error
        }
        for d in daemons { await d.stop() }
        await agent?.stop(); registry.stop()
    }
}
