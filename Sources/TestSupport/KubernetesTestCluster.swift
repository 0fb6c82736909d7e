import Crypto
import Foundation
import OCI

/// A real Kubernetes control plane for tests: Debian's etcd and a kube-apiserver v1.20.2
/// built from Debian's source package (`scripts/build-kube-apiserver.sh`), on a random
/// address of 127.0.0.0/8 with their standard ports, bearer-token auth for an admin in
/// `system:masters`, and Debian's kubectl. No scheduler or kubelet: pods are admitted and
/// stored, which is all an admission webhook test needs.
public final class KubernetesTestCluster: Sendable {
    public let directory: TemporaryDirectory
    public let address: String
    public let binaries: String
    private let etcd: BackgroundProcess
    private let apiserver: BackgroundProcess

    public var kubeconfig: String { directory.file("kubeconfig") }
    public var server: String { "https://\(address):6443" }

    public static var binaryDirectory: String {
        ProcessInfo.processInfo.environment["PEERPULL_KUBE_DIR"] ?? "/var/cache/peerpull/kube-1.20.2"
    }

    public static func start() async throws -> KubernetesTestCluster {
        let bin = binaryDirectory
        guard FileManager.default.isExecutableFile(atPath: bin + "/kube-apiserver"),
              FileManager.default.isExecutableFile(atPath: bin + "/kubectl"),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/etcd") else {
            throw TestSupportError("kube-apiserver, kubectl or etcd missing in \(bin): run scripts/build-kube-apiserver.sh")
        }
        let dir = try TemporaryDirectory(prefix: "peerpull-kube")
        let address = HostsOverride.randomLoopbackAddress()
        let token = UUID().uuidString
        let serving = try GeneratedCertificate.generate(
            caName: "peerpull test cluster CA", leafName: "kube-apiserver",
            dnsNames: ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "localhost"], ipAddresses: [address, "127.0.0.1", "10.96.0.1"])
        let saKey = P256.Signing.PrivateKey()
        try serving.caPEM.write(toFile: dir.file("ca.crt"), atomically: true, encoding: .utf8)
        try serving.certificatePEM.write(toFile: dir.file("apiserver.crt"), atomically: true, encoding: .utf8)
        try serving.privateKeyPEM.write(toFile: dir.file("apiserver.key"), atomically: true, encoding: .utf8)
        try saKey.pemRepresentation.write(toFile: dir.file("sa.key"), atomically: true, encoding: .utf8)
        try saKey.publicKey.pemRepresentation.write(toFile: dir.file("sa.pub"), atomically: true, encoding: .utf8)
        try "\(token),admin,admin,system:masters\n".write(toFile: dir.file("tokens.csv"), atomically: true, encoding: .utf8)
        try """
        apiVersion: v1
        kind: Config
        clusters:
        - name: test
          cluster:
            server: https://\(address):6443
            certificate-authority-data: \(Data(serving.caPEM.utf8).base64EncodedString())
        users:
        - name: admin
          user:
            token: \(token)
        contexts:
        - name: test
          context: {cluster: test, user: admin}
        current-context: test

        """.write(toFile: dir.file("kubeconfig"), atomically: true, encoding: .utf8)

        var started: [BackgroundProcess] = []
        do {
            let etcd = try BackgroundProcess([
                "etcd", "--name", "test", "--data-dir", dir.file("etcd"),
                "--listen-client-urls", "http://\(address):2379", "--advertise-client-urls", "http://\(address):2379",
                "--listen-peer-urls", "http://\(address):2380", "--initial-advertise-peer-urls", "http://\(address):2380",
                "--initial-cluster", "test=http://\(address):2380", "--log-level", "warn",
            ], logPath: dir.file("etcd.log"))
            started.append(etcd)
            let apiserver = try BackgroundProcess([
                bin + "/kube-apiserver",
                "--etcd-servers", "http://\(address):2379",
                "--bind-address", address, "--advertise-address", address, "--secure-port", "6443", "--insecure-port", "0",
                "--tls-cert-file", dir.file("apiserver.crt"), "--tls-private-key-file", dir.file("apiserver.key"),
                "--token-auth-file", dir.file("tokens.csv"), "--authorization-mode", "RBAC",
                "--service-account-key-file", dir.file("sa.pub"), "--service-account-signing-key-file", dir.file("sa.key"),
                "--service-account-issuer", "https://kubernetes.default.svc",
                "--service-cluster-ip-range", "10.96.0.0/24", "--allow-privileged=true",
                // No controller-manager creates service-account tokens here.
                "--disable-admission-plugins", "ServiceAccount",
                "--cert-dir", dir.file("certs"), "--v", "1",
            ], logPath: dir.file("apiserver.log"))
            started.append(apiserver)
            let cluster = KubernetesTestCluster(directory: dir, address: address, binaries: bin, etcd: etcd, apiserver: apiserver)
            try await apiserver.waitUntil(timeout: .seconds(90)) {
                (try? await Command.run(cluster.kubectl(["get", "--raw", "/readyz"]), check: false))?.stdout == "ok"
            }
            return cluster
        } catch {
            for p in started.reversed() { await p.stop() }
            dir.remove()
            throw error
        }
    }

    private init(directory: TemporaryDirectory, address: String, binaries: String, etcd: BackgroundProcess, apiserver: BackgroundProcess) {
        self.directory = directory
        self.address = address
        self.binaries = binaries
        self.etcd = etcd
        self.apiserver = apiserver
    }

    /// `kubectl --kubeconfig … <arguments>`.
    public func kubectl(_ arguments: [String]) -> [String] {
        [binaries + "/kubectl", "--kubeconfig", kubeconfig] + arguments
    }

    /// Runs kubectl, failing the test on a non-zero exit; `stdin` for `apply -f -`.
    @discardableResult
    public func run(_ arguments: [String], stdin: String? = nil, check: Bool = true) async throws -> Command.Output {
        try await Command.run(kubectl(arguments), stdin: stdin, check: check)
    }

    /// The object as JSON.
    public func json(_ arguments: [String]) async throws -> [String: Any] {
        let out = try await run(arguments + ["-o", "json"]).stdout
        guard let object = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any] else {
            throw TestSupportError("kubectl \(arguments) did not print a JSON object")
        }
        return object
    }

    public var apiserverLog: String { apiserver.log }

    public func stop() async {
        await apiserver.stop()
        await etcd.stop()
        directory.remove()
    }
}
