import Foundation
import OCI
import SyntheticImages
import TestSupport
import Testing

/// The swarm across real links: each node a network namespace with its own agent binary,
/// data directory and client, every link shaped with tc; the origin, Debian's registry,
/// in a namespace of its own. All nodes pull the same image at once with skopeo and with
/// containerd, and the origin's link counts what it sent.
@Suite("Swarm across network namespaces", .serialized)
struct SwarmNamespaceTests {
    struct Cluster: Sendable {
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
            return (ContinuousClock.now - t0).inSeconds
        }

        /// containerd's `ctr` on node `i` pulls the image through its own agent, into `containerd`
        /// (its own daemon; the pull runs in `ctr`, in the node's namespace); returns the seconds.
        func pull(_ i: Int, with containerd: PrivateContainerd) async throws -> Double {
            let t0 = ContinuousClock.now
            try await Command.run(lab.exec(.node(i), containerd.ctr(["images", "pull", "--plain-http", "--snapshotter", "native",
                                                                       "127.0.0.1:65001/team/app:v1"])))
            return (ContinuousClock.now - t0).inSeconds
        }
    }

    static func start(nodes: Int, rate: String, originRate: String? = nil, image: SyntheticImage) async throws -> (Cluster, Descriptor) {
        let lab = try await NetworkLab.up(nodes: nodes, rate: rate, originRate: originRate)
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
        var daemons: [Int: PrivateContainerd] = [:]
        do {
            // Nodes 1 and 2 pull with skopeo, 3 and 4 with containerd.
            for i in 3...4 { daemons[i] = try await PrivateContainerd.start() }
            let before = try await cluster.lab.sentBytes(.origin)
            let times = try await withThrowingTaskGroup(of: Double.self) { group in
                for i in 1...2 { group.addTask { try await cluster.pull(i) } }
                for (i, c) in daemons { group.addTask { try await cluster.pull(i, with: c) } }
                return try await group.reduce(into: [Double]()) { $0.append($1) }
            }
            let sent = try await cluster.lab.sentBytes(.origin) - before
            let size = 18 << 20
            print("swarm across 4 namespaces at 200 Mbit/s: pulls took \(times.sorted().map { String(format: "%.2f", $0) }) s; origin sent \(String(format: "%.2f", Double(sent) / Double(size)))x the image")
            for i in 1...2 {
                #expect(try OCILayout(root: cluster.dir.file("pulled-\(i)")).index().manifests.first?.digest == pushed.digest, "node \(i)")
            }
            for (i, c) in daemons {
                // containerd verified every blob against its digest as it wrote it.
                let listed = try await Command.run(c.ctr(["images", "ls"])).stdout
                #expect(listed.contains("127.0.0.1:65001/team/app:v1") && listed.contains(pushed.digest.description), "node \(i): \(listed)")
            }
            // Each byte left the origin about once (4 direct pulls would send 4 images);
            // the rest is TCP/IP framing and the manifests.
            #expect(Double(sent) <= 1.25 * Double(size), "the origin sent \(sent) bytes for an image of \(size)")
            // At 200 Mbit/s the image takes 0.79 s on one link; four direct pulls through
            // the origin's one link would take 3.1 s.
            #expect(times.max()! < 30, "\(times)")
        } catch {
            for c in daemons.values { await c.stop() }
            await cluster.stop()
            throw error
        }
        for c in daemons.values { await c.stop() }
        await cluster.stop()
    }
}

extension SwarmNamespaceTests {
    /// Waits until the origin has sent `bytes` more than `base`, or `timeout` passes.
    static func originSent(_ cluster: Cluster, atLeast bytes: Int, over base: Int, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await cluster.lab.sentBytes(.origin) - base < bytes {
            guard ContinuousClock.now < deadline else { throw TestSupportError("the origin never sent \(bytes) bytes") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Layer `layer` fetched by curl on node `i` through its agent; checked against its digest.
    static func fetch(_ cluster: Cluster, _ i: Int, _ layer: Descriptor) async throws {
        let out = cluster.dir.file("layer-\(i)-\(layer.digest.hex.prefix(12))")
        try await Command.run(cluster.lab.exec(.node(i), ["curl", "-sf", "--max-time", "120", "-o", out,
                                                         "http://127.0.0.1:65001/v2/team/app/blobs/\(layer.digest)"]))
        #expect(Digest.compute(of: try Data(contentsOf: URL(fileURLWithPath: out))) == layer.digest, "node \(i) \(layer.digest)")
    }

    /// Pieces the agents took from the origin, by their metrics.
    static func originPieces(_ cluster: Cluster) async throws -> Int {
        var total = 0.0
        for i in cluster.agents.keys {
            let text = try await Command.run(cluster.lab.exec(.node(i), ["curl", "-s", "--max-time", "2", "http://127.0.0.1:65001/metrics"]), check: false).stdout
            total += metric(text, #"peerpull_agent_pieces_total{source="origin",result="verified"}"#)
        }
        return Int(total)
    }

    @Test func theOriginStoppedOnceOneNodeHasTheImageAndTheOthersFinishFromPeers() async throws {
        let image = SyntheticImage(layerSizes: [16 << 20, 8 << 20], seed: 59)
        let (cluster, pushed) = try await Self.start(nodes: 4, rate: "100mbit", image: image)
        do {
            let layers = try await cluster.registry.layers(repository: "team/app", reference: pushed.digest.description)
            for layer in layers { try await Self.fetch(cluster, 1, layer) }
            let blobGETs = { cluster.registry.accessLog().filter { $0.contains("\"GET /v2/team/app/blobs/") }.count }
            let afterFirst = blobGETs()
            // The others ask; the origin checks each caller once, before any byte (a request
            // made after the origin is gone cannot be authorized, by design) and then goes away.
            async let pulls: Void = withThrowingTaskGroup(of: Void.self) { group in
                for i in 2...4 { for layer in layers { group.addTask { try await Self.fetch(cluster, i, layer) } } }
                try await group.waitForAll()
            }
            let deadline = ContinuousClock.now + .seconds(30)
            while try await Self.allowedChecks(cluster, nodes: 2...4) < 3 * layers.count {
                guard ContinuousClock.now < deadline else { throw TestSupportError("the origin never authorized the callers") }
                try await Task.sleep(for: .milliseconds(10))
            }
            let t0 = ContinuousClock.now
            // The others took (nearly) nothing from the origin, before or after it stopped: at
            // most an endgame duplicate of a piece that a busy peer was slow to send.
            #expect(blobGETs() - afterFirst <= 2, "\(blobGETs() - afterFirst) piece requests reached the origin")
            cluster.registry.stop()
            try await pulls
            print("origin stopped once node 1 had the image: the others finished from peers \(ContinuousClock.now - t0) later")
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }

    static func allowedChecks(_ cluster: Cluster, nodes: ClosedRange<Int>) async throws -> Int {
        var total = 0.0
        for i in nodes {
            let text = try await Command.run(cluster.lab.exec(.node(i), ["curl", "-s", "--max-time", "2", "http://127.0.0.1:65001/metrics"]), check: false).stdout
            total += metric(text, #"peerpull_agent_authorization_checks_total{result="allowed"}"#)
        }
        return Int(total)
    }

    @Test func anAgentKilledMidTransferLeavesTheOthersCorrectAndComplete() async throws {
        let image = SyntheticImage(layerSizes: [16 << 20, 8 << 20], seed: 61)
        var (cluster, pushed) = try await Self.start(nodes: 4, rate: "100mbit", image: image)
        do {
            let before = try await cluster.lab.sentBytes(.origin)
            let running = cluster
            async let survivors = withThrowingTaskGroup(of: Double.self) { group in
                for i in 1...3 { group.addTask { try await running.pull(i) } }
                return try await group.reduce(into: [Double]()) { $0.append($1) }
            }
            let doomed = Task { try? await running.pull(4) }
            try await Self.originSent(running, atLeast: 8 << 20, over: before)
            // SIGKILL: no goodbye to its coordinators, its deals and its pieces vanish.
            if let pid = cluster.agents[4]?.pid { kill(pid, SIGKILL) }
            let times = try await survivors
            _ = await doomed.value
            for i in 1...3 {
                #expect(try OCILayout(root: cluster.dir.file("pulled-\(i)")).index().manifests.first?.digest == pushed.digest, "node \(i)")
            }
            // The node comes back (its partial downloads discarded at start) and pulls again.
            cluster.agents[4] = try cluster.startAgent(4)
            try await cluster.waitReady(4)
            let again = try await cluster.pull(4)
            #expect(try OCILayout(root: cluster.dir.file("pulled-4")).index().manifests.first?.digest == pushed.digest)
            print("an agent killed mid-rollout: the others took \(times.sorted().map { String(format: "%.2f", $0) }) s; it rejoined and pulled in \(String(format: "%.2f", again)) s")
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }
}
