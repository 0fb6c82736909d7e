import Foundation
import OCI
import TestSupport
import Testing

/// The swarm across real links: each node a network namespace with its own agent binary,
/// data directory and client, every link shaped with tc; the origin, Debian's registry,
/// in a namespace of its own. All nodes pull the same image at once with skopeo, and the
/// origin's link counts what it sent.
@Suite("Swarm across network namespaces", .serialized)
struct SwarmNamespaceTests {
    struct Cluster {
        let lab: NetworkLab
        let registry: RegistryServer
        let dir: TemporaryDirectory
        var agents: [Int: BackgroundProcess] = [:]

        func stop() async {
            for a in agents.values { await a.stop() }
            registry.stop()
            await lab.down()
            dir.remove()
        }

        func startAgent(_ i: Int, extra: [String] = []) throws -> BackgroundProcess {
            try BackgroundProcess(lab.exec(.node(i), [
                TestImages.peerpullBinary, "agent", "--port", "65001", "--plain-http-origin", registry.domain,
                "--data-dir", dir.file("data-\(i)"), "--node-name", "node-\(i)", "--peers", dir.file("peers"),
                "--peer-secret-file", dir.file("secret"), "--piece-size", "1Mi",
            ] + extra), logPath: dir.file("agent-\(i).log"))
        }

        func waitReady(_ i: Int) async throws {
            try await agents[i]!.waitUntil(timeout: .seconds(60)) {
                (try? await Command.run(lab.exec(.node(i), ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2",
                                                             "http://127.0.0.1:65001/healthz"]), check: false).stdout) == "200"
            }
        }

        /// skopeo on node `i` copies the image through its own agent; returns the seconds it took.
        func pull(_ i: Int) async throws -> Double {
            let t0 = ContinuousClock.now
            try await Command.run(lab.exec(.node(i), ["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false", "--retry-times", "0",
                                                       "docker://127.0.0.1:65001/team/app:v1", "oci:\(dir.file("pulled-\(i)")):v1"]))
            let d = ContinuousClock.now - t0
            return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
    }

    static func start(nodes: Int, rate: String, image: SyntheticImage) async throws -> (Cluster, Descriptor) {
        let lab = try await NetworkLab.up(nodes: nodes, rate: rate)
        let dir: TemporaryDirectory
        let registry: RegistryServer
        do {
            dir = try TemporaryDirectory(prefix: "peerpull-nslab")
            registry = try await RegistryServer.start(host: NetworkLab.address(.origin), port: 5000, namespace: lab.namespace(.origin))
        } catch {
            await lab.down()
            throw error
        }
        var cluster = Cluster(lab: lab, registry: registry, dir: dir)
        do {
            let pushed = try await TestImages.push(image, to: registry, repository: "team/app", tag: "v1")
            try (1...nodes).map { "node-\($0) \(NetworkLab.address(.node($0))) 65002" }.joined(separator: "\n")
                .write(toFile: dir.file("peers"), atomically: true, encoding: .utf8)
            try "a cluster secret for the namespace test.".write(toFile: dir.file("secret"), atomically: true, encoding: .utf8)
            for i in 1...nodes { cluster.agents[i] = try cluster.startAgent(i) }
            for i in 1...nodes { try await cluster.waitReady(i) }
            return (cluster, pushed)
        } catch {
            await cluster.stop()
            throw error
        }
    }

    @Test func allNodesPullAtOnceAndTheOriginSendsTheImageAboutOnce() async throws {
        let image = SyntheticImage(layerSizes: [12 << 20, 6 << 20], seed: 53)
        let (cluster, pushed) = try await Self.start(nodes: 4, rate: "200mbit", image: image)
        do {
            let before = try await cluster.lab.sentBytes(.origin)
            let times = try await withThrowingTaskGroup(of: Double.self) { group in
                for i in 1...4 { group.addTask { try await cluster.pull(i) } }
                return try await group.reduce(into: [Double]()) { $0.append($1) }
            }
            let sent = try await cluster.lab.sentBytes(.origin) - before
            let size = 18 << 20
            print("swarm across 4 namespaces at 200 Mbit/s: pulls took \(times.sorted().map { String(format: "%.2f", $0) }) s; origin sent \(String(format: "%.2f", Double(sent) / Double(size)))x the image")
            for i in 1...4 {
                #expect(try OCILayout(root: cluster.dir.file("pulled-\(i)")).index().manifests.first?.digest == pushed.digest, "node \(i)")
            }
            // Each byte left the origin about once (4 direct pulls would send 4 images);
            // the rest is TCP/IP framing and the manifests.
            #expect(Double(sent) <= 1.25 * Double(size), "the origin sent \(sent) bytes for an image of \(size)")
            // At 200 Mbit/s the image takes 0.79 s on one link; four direct pulls through
            // the origin's one link would take 3.1 s.
            #expect(times.max()! < 30, "\(times)")
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }
}
