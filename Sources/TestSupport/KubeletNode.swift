import Foundation

/// One real Kubernetes node for tests (`scripts/kube-node.sh`): a kubelet v1.20.2 with its
/// own containerd, runc and CNI bridge, in a network namespace joined to the test's by a
/// veth, and a mount namespace of its own so that nothing it writes lands outside its
/// directory. The control plane and the registries bind `hostAddress`; the node is
/// `nodeAddress`; the `kubernetes` Service is `serviceIP` (an nft rule in the node plays
/// kube-proxy for it). One node at a time. Needs root.
public final class KubeletNode: Sendable {
    public static let hostAddress = "198.18.64.1"
    public static let nodeAddress = "198.18.64.2"
    public static let serviceCIDR = "198.19.65.0/24"
    public static let serviceIP = "198.19.65.1"
    public static let name = "peerpull-node"

    public let directory: String
    static var script: String { HelmChart.repositoryRoot + "/scripts/kube-node.sh" }

    /// A control plane for this node: the apiserver on `hostAddress`, with the node's
    /// service range and the controllers and scheduler that run workloads.
    public static var clusterOptions: KubernetesTestCluster.Options {
        .init(address: hostAddress, serviceCIDR: serviceCIDR, serviceIP: serviceIP, workloads: true)
    }

    /// Creates the node's network (before anything binds `hostAddress`).
    public static func createNetwork() async throws -> KubeletNode {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        let node = KubeletNode(directory: "\(base)/peerpull-node-\(UUID().uuidString.prefix(8).lowercased())")
        do {
            try await Command.run([script, "net", node.directory])
        } catch {
            await node.stop()
            throw error
        }
        return node
    }

    private init(directory: String) {
        self.directory = directory
    }

    public func file(_ name: String) -> String { "\(directory)/\(name)" }

    /// The node's `/etc/hosts`: localhost plus `entries` (address → names).
    public func setHosts(_ entries: [(String, [String])]) throws {
        try HostsOverride.write(entries, to: file("hosts"))
    }

    /// containerd's `/etc/containerd/certs.d` on the node.
    public var certsDirectory: String { file("certs.d") }

    /// Writes `certs.d/<host>/<name>` (a `hosts.toml` of the node's own, or its CA file).
    public func writeHostConfig(host: String, name: String = "hosts.toml", _ content: String) throws {
        try FileManager.default.createDirectory(atPath: "\(certsDirectory)/\(host)", withIntermediateDirectories: true)
        try content.write(toFile: "\(certsDirectory)/\(host)/\(name)", atomically: true, encoding: .utf8)
    }

    /// Starts containerd and the kubelet, which registers with the apiserver of `kubeconfig`.
    public func start(kubeconfig: String, sandboxImage: String) async throws {
        try await Command.run([Self.script, "up", directory, kubeconfig, sandboxImage])
    }

    /// Runs `arguments` on the node (its network and files).
    @discardableResult
    public func exec(_ arguments: [String], check: Bool = true) async throws -> Command.Output {
        try await Command.run([Self.script, "exec", directory] + arguments, check: check)
    }

    /// `ctr` against the node's containerd, in Kubernetes' namespace.
    public func ctr(_ arguments: [String]) async throws -> Command.Output {
        try await exec(["ctr", "--address", file("containerd/containerd.sock"), "--namespace", "k8s.io"] + arguments)
    }

    public func log(_ name: String) -> String {
        (try? String(contentsOfFile: file("\(name).log"), encoding: .utf8)) ?? ""
    }

    /// Stops the kubelet, every pod and containerd; removes the namespaces, the cgroups and
    /// the directory, and restores the kernel settings the kubelet changed.
    public func stop() async {
        _ = try? await Command.run([Self.script, "down", directory], check: false)
    }
}
