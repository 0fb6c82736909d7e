import Certificates
import Foundation
import OCI
import TestSupport
import Testing

/// The product as a user meets it: the chart installed by Helm's engine on a real control
/// plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) with one real node
/// (kubelet, containerd, runc, CNI), the agent and the controller running as the chart's
/// pods from PeerPull's own image, and a plain labelled Deployment whose pod kubelet pulls
/// through the agent with the `-p2p` secret from a private registry with token auth and a
/// private CA. Every check reads the API server, the node's containerd and files, the
/// agent's metrics or the origin's access log. Runs in its own phase of `make test`.
@Suite("A real node: kubelet pulls through the agent", .serialized)
struct KubeletNodeTests {
    static let origin = "reg.p2ptest.example"
    static let p2pHost = "reg.distributed.p2ptest.example:65001"
    static let label = "k8s.aliyun.com/image-accelerate-mode"
    static let release = "p2p-ack-acr-acceleration-p2p"
    static let user = "puller", password = "pull-secret-0"

    @Test func aLabelledDeploymentIsPulledThroughTheAgentAndRuns() async throws {
        let work = try TemporaryDirectory(prefix: "peerpull-test")
        defer { work.remove() }
        let node = try await KubeletNode.createNetwork()
        var cleanups: [() async -> Void] = [{ await node.stop() }]
        do {
            try await run(node: node, work: work, cleanups: &cleanups)
        } catch {
            Issue.record("\(error)")
            say("---- kubelet (tail)\n\(node.log("kubelet").suffix(4000))\n---- containerd (tail)\n\(node.log("containerd").suffix(3000))")
        }
        for c in cleanups.reversed() { await c() }
    }

    func run(node: KubeletNode, work: TemporaryDirectory, cleanups: inout [() async -> Void]) async throws {
        let host = KubeletNode.hostAddress
        let clock = ContinuousClock()
        let started = clock.now
        func elapsed() -> String { "\((clock.now - started).formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))" }

        // The control plane on the node's link.
        let cluster = try await KubernetesTestCluster.start(KubeletNode.clusterOptions)
        cleanups.append { await cluster.stop() }

        // Registries: one open registry for PeerPull's image and the sandbox, and the
        // origin: HTTPS from a private CA on :443, token auth.
        let images = try await RegistryServer.start(host: host)
        cleanups.append { images.stop() }
        let token = try await TokenServer.start(users: [Self.user: Self.password], host: host)
        cleanups.append { await token.stop() }
        let originCert = try GeneratedCertificate.generate(caName: "p2ptest private CA", leafName: Self.origin,
                                                           dnsNames: [Self.origin], ipAddresses: [host])
        let origin = try await RegistryServer.start(auth: .token(token), host: host, port: 443, tls: originCert)
        cleanups.append { origin.stop() }

        // Images, built here: PeerPull's from the binary under test, the app and the
        // sandbox from Debian's busybox-static.
        let script = HelmChart.repositoryRoot + "/scripts/build-image.sh"
        try await Command.run([script, "busybox", work.file("busybox")])
        try await Command.run([script, "peerpull", TestImages.peerpullBinary, work.file("peerpull"), "test"])
        let names = try HostsOverride(in: work, entries: [(host, [Self.origin])])
        try FileManager.default.createDirectory(atPath: work.file("certs"), withIntermediateDirectories: true)
        try originCert.caPEM.write(toFile: work.file("certs/ca.crt"), atomically: true, encoding: .utf8)
        let skopeo = ["skopeo", "--insecure-policy", "copy", "--retry-times", "2"]
        try await Command.run(skopeo + ["--dest-tls-verify=false", "oci:\(work.file("busybox")):pause", "docker://\(images.domain)/peerpull/pause:1"])
        try await Command.run(skopeo + ["--dest-tls-verify=false", "oci:\(work.file("peerpull")):test", "docker://\(images.domain)/peerpull/peerpull:test"])
        try await Command.run(names.wrap(skopeo + ["--dest-cert-dir", work.file("certs"), "--dest-creds", "\(Self.user):\(Self.password)",
                                                   "oci:\(work.file("busybox")):app", "docker://\(Self.origin)/team/app:1"]))
        let appDigest = try await Command.run(names.wrap(["skopeo", "inspect", "--cert-dir", work.file("certs"), "--creds", "\(Self.user):\(Self.password)",
                                                          "--format", "{{.Digest}}", "docker://\(Self.origin)/team/app:1"])).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let appManifest = try await origin.imageManifest(repository: "team/app", reference: "1", bearer: token.issue(user: Self.user, repository: "team/app"))
        let appLayers = appManifest.layers
        say("images pushed (\(elapsed())): app \(appDigest), layers \(appLayers)")

        // The node, as an operator's would be: the registry's name resolves, and containerd
        // trusts its private CA through the node's own hosts.toml and ca.crt beside it.
        try node.setHosts([(host, [Self.origin])])
        try node.writeHostConfig(host: images.domain, """
            server = "http://\(images.domain)"
            [host."http://\(images.domain)"]
              capabilities = ["pull", "resolve"]

            """)
        let ownHostsToml = "# the node's own\nserver = \"https://\(Self.origin)\"\nca = \"ca.crt\"\n"
        try node.writeHostConfig(host: Self.origin, ownHostsToml)
        try node.writeHostConfig(host: Self.origin, name: "ca.crt", originCert.caPEM)
        try await node.start(kubeconfig: cluster.kubeconfig, sandboxImage: "\(images.domain)/peerpull/pause:1")
        try await waitFor("node Ready", timeout: .seconds(90)) {
            try await cluster.run(["get", "node", KubeletNode.name, "-o", #"jsonpath={.status.conditions[?(@.type=="Ready")].status}"#], check: false).stdout == "True"
        }
        say("node ready (\(elapsed()))")

        // Install as a user would.
        let chart = HelmChart()
        let values: [String: Any] = [
            "p2p": ["registryInstances": Self.origin, "originCACert": originCert.caPEM],
            "image": ["repository": "\(images.domain)/peerpull/peerpull", "tag": "test"],
        ]
        try await cluster.run(["create", "namespace", "peerpull-system"])
        try await chart.install(values, namespace: "peerpull-system", kubeconfig: cluster.kubeconfig)
        var installed = true
        cleanups.append { if installed { try? await chart.uninstall(namespace: "peerpull-system", kubeconfig: cluster.kubeconfig) } }
        try await cluster.run(["-n", "peerpull-system", "rollout", "status", "daemonset/\(Self.release)-agent", "--timeout=180s"])
        try await cluster.run(["-n", "peerpull-system", "rollout", "status", "deployment/\(Self.release)-controller", "--timeout=180s"])
        say("chart ready (\(elapsed()))")
        // The swarm's key: the chart renders none; the controller made it (the agent's pod
        // waited for the mount) and the agent joined the swarm with it.
        let keyOwner = try await cluster.run(["-n", "peerpull-system", "get", "secret", "\(Self.release)-swarm",
                                              "-o", #"jsonpath={.metadata.labels.app\.kubernetes\.io/managed-by}"#]).stdout
        #expect(keyOwner == "peerpull")
        let agentLog = try await cluster.run(["-n", "peerpull-system", "logs", "-l", "app.kubernetes.io/component=agent", "-c", "agent", "--tail=-1"]).stdout
        #expect(agentLog.contains("joined the swarm"), "\(agentLog.suffix(2000))")
        // The agent's init step wrote hosts.toml for the origin and its P2P host, keeping the node's own.
        let p2pToml = try String(contentsOfFile: "\(node.certsDirectory)/\(Self.p2pHost)/hosts.toml", encoding: .utf8)
        #expect(p2pToml.contains("server = \"https://\(Self.origin)\"\nca = \"../\(Self.origin)/ca.crt\""), "\(p2pToml)")
        #expect(try String(contentsOfFile: "\(node.certsDirectory)/\(Self.origin)/hosts.toml.peerpull-backup", encoding: .utf8) == ownHostsToml)

        // A labelled namespace, a pull secret for the origin, a plain Deployment.
        try await cluster.run(["create", "namespace", "shop"])
        try await cluster.run(["label", "namespace", "shop", "\(Self.label)=p2p"])
        try await cluster.run(["-n", "shop", "create", "secret", "docker-registry", "regcred", "--docker-server=\(Self.origin)",
                               "--docker-username=\(Self.user)", "--docker-password=\(Self.password)"])
        let blobGETsBefore = Self.blobGETs(origin, layers: appLayers)
        try await cluster.run(["apply", "-f", "-"], stdin: Self.deployment("web", secret: "regcred"))
        let pod = try await runningPod(cluster, app: "web")
        say("pod running (\(elapsed()))")
        let spec = pod["spec"] as? [String: Any] ?? [:]
        let container = (spec["containers"] as? [[String: Any]])?.first ?? [:]
        #expect(container["image"] as? String == "\(Self.p2pHost)/team/app:1")
        let annotations = (pod["metadata"] as? [String: Any])?["annotations"] as? [String: String] ?? [:]
        #expect(annotations[Self.label] == "p2p")
        #expect(annotations["k8s.aliyun.com/p2p-config"] != nil, "\(annotations)")
        let secrets = (spec["imagePullSecrets"] as? [[String: String]] ?? []).compactMap { $0["name"] }
        #expect(secrets.contains("acr-credential-regcred-p2p"), "\(secrets)")

        // The layers came through the agent: the origin sent each layer's bytes once, to the
        // agent (not to containerd), and the agent counted them; containerd holds the origin's image.
        let firstPull = Self.blobGETs(origin, layers: appLayers).dropFirst(blobGETsBefore.count)
        for layer in appLayers {
            let lines = firstPull.filter { $0.contains("/blobs/\(layer.digest)") }
            #expect(Self.bytesSent(lines) == layer.size, "\(layer.digest): \(lines)")
        }
        #expect(!firstPull.isEmpty && firstPull.allSatisfy { !$0.contains("containerd") }, "\(firstPull)")
        if !firstPull.allSatisfy({ !$0.contains("containerd") }) {
            let lines = node.log("containerd").split(separator: "\n").filter { $0.contains("65001") || $0.contains("x509") }
            say("containerd on the agent host:\n\(lines.suffix(15).joined(separator: "\n"))\nhosts.toml:\n\(p2pToml)")
            say("agent:\n\(try await node.exec(["sh", "-c", "tail -n 30 /var/log/pods/peerpull-system_*agent*/agent/*.log"], check: false).stdout)")
        }
        let agentMetrics1 = try await agentMetrics(node)
        let fromOrigin = metric(agentMetrics1, #"peerpull_agent_bytes_total{direction="out",source="origin"}"#)
        #expect(fromOrigin >= Double(appLayers.map(\.size).reduce(0, +)), "served from origin: \(fromOrigin)")
        let images1 = try await node.ctr(["images", "ls"]).stdout
        let imageLine = images1.split(separator: "\n").first { $0.hasPrefix("\(Self.p2pHost)/team/app:1 ") }
        #expect(imageLine?.contains(appDigest) == true, "\(images1)")

        // A second pod of the image on this node, once containerd has let go of its copy
        // (containerd skips a layer whose snapshot it still has, so the first pod goes first):
        // the agent's cache serves every layer, the origin no blob.
        try await deleteDeployment(cluster, "web")
        try await Self.removeImage(node, appManifest)
        let blobGETsBeforeSecond = Self.blobGETs(origin, layers: appLayers).count
        let cacheBefore = metric(agentMetrics1, #"peerpull_agent_bytes_total{direction="out",source="cache"}"#)
        try await cluster.run(["apply", "-f", "-"], stdin: Self.deployment("web2", secret: "regcred"))
        _ = try await runningPod(cluster, app: "web2")
        #expect(Self.blobGETs(origin, layers: appLayers).count == blobGETsBeforeSecond)
        let cacheAfter = metric(try await agentMetrics(node), #"peerpull_agent_bytes_total{direction="out",source="cache"}"#)
        #expect(cacheAfter - cacheBefore >= Double(appLayers.map(\.size).reduce(0, +)), "cache bytes \(cacheBefore) → \(cacheAfter)")
        say("second pod from cache (\(elapsed()))")

        // Wrong credentials fail as they would at the origin, and no layer byte moves.
        try await cluster.run(["-n", "shop", "create", "secret", "docker-registry", "badcred", "--docker-server=\(Self.origin)",
                               "--docker-username=\(Self.user)", "--docker-password=wrong"])
        try await Self.removeImage(node, appManifest)
        let blobGETsBeforeBad = Self.blobGETs(origin, layers: appLayers).count
        try await cluster.run(["apply", "-f", "-"], stdin: Self.deployment("bad", secret: "badcred"))
        let viaAgent = try await pullFailure(cluster, namespace: "shop", app: "bad")
        say("bad credentials through the agent: \(viaAgent)")
        #expect(viaAgent.reason == "ErrImagePull" || viaAgent.reason == "ImagePullBackOff")
        #expect(viaAgent.message.contains("401 Unauthorized"), "\(viaAgent.message)")
        #expect(Self.blobGETs(origin, layers: appLayers).count == blobGETsBeforeBad)
        try await deleteDeployment(cluster, "bad")
        try await deleteDeployment(cluster, "web2")

        // The agent gone (its preStop hook puts the node's hosts.toml back): a new labelled
        // pod still starts, pulled from the origin.
        let noticesBefore = try await Self.noAgentNotices(cluster)
        try await cluster.run(["-n", "peerpull-system", "delete", "daemonset", "\(Self.release)-agent", "--wait=true", "--timeout=120s"])
        try await waitFor("agent pod gone", timeout: .seconds(90)) {
            try await cluster.run(["-n", "peerpull-system", "get", "pods", "-l", "app.kubernetes.io/component=agent", "-o", "name"]).stdout.isEmpty
        }
        #expect(try String(contentsOfFile: "\(node.certsDirectory)/\(Self.origin)/hosts.toml", encoding: .utf8) == ownHostsToml)
        #expect(try String(contentsOfFile: "\(node.certsDirectory)/\(Self.origin)/ca.crt", encoding: .utf8) == originCert.caPEM)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: "\(node.certsDirectory)/\(Self.origin)")) == ["hosts.toml", "ca.crt"])
        #expect(!FileManager.default.fileExists(atPath: "\(node.certsDirectory)/\(Self.p2pHost)/hosts.toml"))
        // Both controllers have seen the DaemonSet go (their watch logs it), instead of a fixed sleep.
        try await waitFor("the controllers noticing no agent", timeout: .seconds(30)) {
            try await Self.noAgentNotices(cluster) >= noticesBefore + 2
        }
        let blobGETsBeforeDirect = Self.blobGETs(origin, layers: appLayers).count
        try await Self.removeImage(node, appManifest)
        try await cluster.run(["apply", "-f", "-"], stdin: Self.deployment("web3", secret: "regcred"))
        let direct3 = try await runningPod(cluster, app: "web3")
        let image3 = (((direct3["spec"] as? [String: Any])?["containers"] as? [[String: Any]])?.first?["image"] as? String) ?? ""
        say("without the agent: \(image3) (\(elapsed()))")
        let directPulls = Self.blobGETs(origin, layers: appLayers).dropFirst(blobGETsBeforeDirect)
        #expect(directPulls.count == appLayers.count && directPulls.allSatisfy { $0.contains("containerd") }, "\(directPulls)")
        // The same wrong credentials, straight at the origin: the same failure.
        try await Self.removeImage(node, appManifest)
        try await cluster.run(["create", "namespace", "plain"])
        try await cluster.run(["-n", "plain", "create", "secret", "docker-registry", "badcred", "--docker-server=\(Self.origin)",
                               "--docker-username=\(Self.user)", "--docker-password=wrong"])
        try await cluster.run(["apply", "-f", "-"], stdin: Self.deployment("bad", namespace: "plain", secret: "badcred"))
        let direct = try await pullFailure(cluster, namespace: "plain", app: "bad")
        say("bad credentials at the origin: \(direct)")
        #expect(direct.reason == viaAgent.reason)
        #expect(direct.message == viaAgent.message.replacingOccurrences(of: Self.p2pHost, with: Self.origin), "\(direct.message)")

        // helm uninstall leaves nothing of PeerPull's behind.
        try await chart.uninstall(namespace: "peerpull-system", kubeconfig: cluster.kubeconfig)
        installed = false
        try await waitFor("PeerPull's objects gone", timeout: .seconds(90)) {
            let left = try await cluster.run(["get", "all,configmap,secret,serviceaccount,role,rolebinding,mutatingwebhookconfiguration,clusterrole,clusterrolebinding",
                                              "-A", "-l", "app.kubernetes.io/instance=p2p", "-o", "name"]).stdout
            return left.isEmpty
        }
        let mirrored = try await cluster.run(["get", "secret", "-A", "-l", "app.kubernetes.io/managed-by=peerpull", "-o", "name"]).stdout
        #expect(mirrored.isEmpty, "left behind: \(mirrored)")
        let hostsFiles = try FileManager.default.subpathsOfDirectory(atPath: node.certsDirectory).filter { $0.hasSuffix("hosts.toml") }
        #expect(Set(hostsFiles) == ["\(images.domain)/hosts.toml", "\(Self.origin)/hosts.toml"], "\(hostsFiles)")
        say("uninstalled (\(elapsed()))")
    }

    // MARK: - Helpers

    static func deployment(_ name: String, namespace: String = "shop", secret: String, imagePullPolicy: String? = nil) -> String {
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: \(name), namespace: \(namespace)}
        spec:
          replicas: 1
          selector: {matchLabels: {app: \(name)}}
          template:
            metadata: {labels: {app: \(name)}}
            spec:
              imagePullSecrets: [{name: \(secret)}]
              containers:
              - name: app
                image: \(origin)/team/app:1
        \(imagePullPolicy.map { "        imagePullPolicy: \($0)" } ?? "")
        """
    }

    func waitFor(_ what: String, timeout: Duration, _ condition: () async throws -> Bool) async throws {
        guard try await eventually(within: timeout, every: .milliseconds(500), condition) else { throw TestSupportError("timed out waiting for \(what)") }
    }

    /// How often the controllers have logged that not every agent is ready (read through the kubelet).
    static func noAgentNotices(_ cluster: KubernetesTestCluster) async throws -> Int {
        let logs = try await cluster.run(["-n", "peerpull-system", "logs", "-l", "app.kubernetes.io/component=controller", "--tail=-1"]).stdout
        return logs.components(separatedBy: "not every agent ready").count - 1
    }

    /// Deletes the Deployment and waits until its pods are gone.
    func deleteDeployment(_ cluster: KubernetesTestCluster, namespace: String = "shop", _ name: String) async throws {
        try await cluster.run(["-n", namespace, "delete", "deployment", name])
        try await waitFor("pods of \(name) gone", timeout: .seconds(90)) {
            try await cluster.run(["-n", namespace, "get", "pods", "-l", "app=\(name)", "-o", "name"]).stdout.isEmpty
        }
    }

    /// The Deployment's pod once it is Running.
    func runningPod(_ cluster: KubernetesTestCluster, namespace: String = "shop", app: String) async throws -> [String: Any] {
        var pod: [String: Any] = [:]
        do {
            try await waitFor("pod of \(app) Running", timeout: .seconds(120)) {
                let list = try await cluster.json(["-n", namespace, "get", "pods", "-l", "app=\(app)"])
                pod = (list["items"] as? [[String: Any]])?.first ?? [:]
                return ((pod["status"] as? [String: Any])?["phase"] as? String) == "Running"
            }
        } catch {
            let events = try? await cluster.run(["-n", namespace, "get", "events", "--sort-by=.lastTimestamp"], check: false).stdout
            throw TestSupportError("\(error); pod: \(pod["status"] ?? "none"); events:\n\(events ?? "")")
        }
        return pod
    }

    /// The waiting reason and message of the Deployment's pod once its pull failed.
    func pullFailure(_ cluster: KubernetesTestCluster, namespace: String, app: String) async throws -> (reason: String, message: String) {
        var result = ("", "")
        try await waitFor("pull failure of \(app) in \(namespace)", timeout: .seconds(90)) {
            let list = try await cluster.json(["-n", namespace, "get", "pods", "-l", "app=\(app)"])
            let pod = (list["items"] as? [[String: Any]])?.first ?? [:]
            let statuses = (pod["status"] as? [String: Any])?["containerStatuses"] as? [[String: Any]] ?? []
            guard let waiting = (statuses.first?["state"] as? [String: Any])?["waiting"] as? [String: Any],
                  let message = waiting["message"] as? String else { return false }
            result = (waiting["reason"] as? String ?? "", message)
            return true
        }
        return result
    }

    func agentMetrics(_ node: KubeletNode) async throws -> String {
        try await node.exec(["curl", "-sk", "--max-time", "10", "https://127.0.0.1:65001/metrics"]).stdout
    }

    /// The origin's access-log lines of successful GETs (whole or ranged) of these layers.
    static func blobGETs(_ origin: RegistryServer, layers: [Descriptor]) -> [String] {
        origin.accessLog().filter { line in
            line.contains("\"GET ") && (line.contains("\" 200 ") || line.contains("\" 206 ")) && layers.contains { line.contains("/blobs/\($0.digest)") }
        }
    }

    /// The body bytes the access-log lines say were sent (`"GET …" 206 <bytes>`).
    static func bytesSent(_ lines: some Sequence<String>) -> Int {
        lines.reduce(0) { sum, line in
            guard let r = line.range(of: #"" (200|206) [0-9]+"#, options: .regularExpression) else { return sum }
            return sum + (Int(line[r].split(separator: " ").last ?? "") ?? 0)
        }
    }

    /// Removes every name of the image from the node's containerd and lets it collect the
    /// content, so the next pod pulls again (kubelet asks CRI each time).
    static func removeImage(_ node: KubeletNode, _ manifest: ImageManifest) async throws {
        let refs = try await node.ctr(["images", "ls", "-q"]).stdout.split(separator: "\n").map(String.init)
            .filter { $0.contains("/team/app") || $0 == "\(manifest.config.digest)" }
        guard !refs.isEmpty else { return }
        try await node.ctr(["images", "rm", "--sync"] + refs)
    }
}

/// A progress line, unbuffered (the test runs for minutes).
private func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
