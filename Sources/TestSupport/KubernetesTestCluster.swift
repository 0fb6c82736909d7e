import Certificates
import Crypto
import Foundation
import OCI

/// A real Kubernetes control plane for tests: Debian's etcd and a kube-apiserver v1.20.2
/// built from Debian's source package (`scripts/build-kube-apiserver.sh`), on a random
/// address of 127.0.0.0/8 with their standard ports, bearer-token auth for an admin in
/// `system:masters`, and Debian's kubectl. By default no scheduler or kubelet: pods are
/// admitted and stored, which is all an admission webhook test needs; with
/// `Options.workloads` kube-controller-manager and kube-scheduler run too, for a real
/// node (`KubeletNode`) to run pods.
public final class KubernetesTestCluster: Sendable {
    public struct Options: Sendable {
        /// The apiserver's bind and advertise address; nil: a random one of 127.0.0.0/8.
        public var address: String?
        /// `--service-cluster-ip-range`; its first address is the `kubernetes` Service's.
        public var serviceCIDR = "10.96.0.0/24"
        public var serviceIP = "10.96.0.1"
        /// Runs kube-controller-manager (service-account tokens, ReplicaSets, endpoints)
        /// and kube-scheduler, enables the ServiceAccount admission plugin, and has the
        /// apiserver reach webhooks and kubelets the way a cluster without kube-proxy
        /// must: by endpoint and node InternalIP.
        public var workloads = false

        public init(address: String? = nil, serviceCIDR: String = "10.96.0.0/24", serviceIP: String = "10.96.0.1", workloads: Bool = false) {
            self.address = address
            self.serviceCIDR = serviceCIDR
            self.serviceIP = serviceIP
            self.workloads = workloads
        }
    }

    public let directory: TemporaryDirectory
    public let address: String
    public let binaries: String
    /// etcd, kube-apiserver, then (with `workloads`) the controllers and the scheduler.
    private let processes: [BackgroundProcess]
    private let apiserver: BackgroundProcess

    public var kubeconfig: String { directory.file("kubeconfig") }
    public var server: String { "https://\(address):6443" }

    public static var binaryDirectory: String {
        ProcessInfo.processInfo.environment["PEERPULL_KUBE_DIR"] ?? "/var/cache/peerpull/kube-1.20.2"
    }

    public static func start(_ options: Options = Options()) async throws -> KubernetesTestCluster {
        let bin = binaryDirectory
        let needed = ["kube-apiserver", "kubectl"] + (options.workloads ? ["kube-controller-manager", "kube-scheduler"] : [])
        guard needed.allSatisfy({ FileManager.default.isExecutableFile(atPath: bin + "/" + $0) }),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/etcd") else {
            throw TestSupportError("\(needed.joined(separator: ", ")) or etcd missing in \(bin): run scripts/build-kube-apiserver.sh")
        }
        let dir = try TemporaryDirectory(prefix: "peerpull-kube")
        let etcdAddress = HostsOverride.randomLoopbackAddress()
        let address = options.address ?? etcdAddress
        let token = UUID().uuidString
        let serving = try GeneratedCertificate.generate(
            caName: "peerpull test cluster CA", leafName: "kube-apiserver",
            dnsNames: ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "localhost"], ipAddresses: [address, "127.0.0.1", options.serviceIP])
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
                "--listen-client-urls", "http://\(etcdAddress):2379", "--advertise-client-urls", "http://\(etcdAddress):2379",
                "--listen-peer-urls", "http://\(etcdAddress):2380", "--initial-advertise-peer-urls", "http://\(etcdAddress):2380",
                "--initial-cluster", "test=http://\(etcdAddress):2380", "--log-level", "warn",
            ], logPath: dir.file("etcd.log"))
            started.append(etcd)
            let apiserver = try BackgroundProcess([
                bin + "/kube-apiserver",
                "--etcd-servers", "http://\(etcdAddress):2379",
                "--bind-address", address, "--advertise-address", address, "--secure-port", "6443", "--insecure-port", "0",
                "--tls-cert-file", dir.file("apiserver.crt"), "--tls-private-key-file", dir.file("apiserver.key"),
                "--token-auth-file", dir.file("tokens.csv"), "--authorization-mode", "RBAC",
                "--service-account-key-file", dir.file("sa.pub"), "--service-account-signing-key-file", dir.file("sa.key"),
                "--service-account-issuer", "https://kubernetes.default.svc",
                "--service-cluster-ip-range", options.serviceCIDR, "--allow-privileged=true",
                "--cert-dir", dir.file("certs"), "--v", "1",
            ] + (options.workloads
                ? ["--enable-aggregator-routing=true", "--kubelet-preferred-address-types=InternalIP"]
                // No controller-manager creates service-account tokens here.
                : ["--disable-admission-plugins", "ServiceAccount"]),
                logPath: dir.file("apiserver.log"))
            started.append(apiserver)
            let ready = { (try? await Command.run([bin + "/kubectl", "--kubeconfig", dir.file("kubeconfig"), "get", "--raw", "/readyz"], check: false))?.stdout == "ok" }
            try await apiserver.waitUntil(timeout: .seconds(90)) { await ready() }
            if options.workloads {
                let kc = dir.file("kubeconfig")
                let common = ["--kubeconfig=\(kc)", "--authentication-kubeconfig=\(kc)", "--authorization-kubeconfig=\(kc)",
                              "--address=127.0.0.1", "--port=0", "--bind-address=127.0.0.1", "--leader-elect=false", "--v=1"]
                started.append(try BackgroundProcess([bin + "/kube-controller-manager"] + common + [
                    "--secure-port=0", "--use-service-account-credentials=false",
                    "--service-account-private-key-file=\(dir.file("sa.key"))", "--root-ca-file=\(dir.file("ca.crt"))",
                    "--flex-volume-plugin-dir=\(dir.file("flex-volumes"))",
                ], logPath: dir.file("controller-manager.log")))
                started.append(try BackgroundProcess([bin + "/kube-scheduler"] + common + ["--secure-port=0"],
                                                     logPath: dir.file("scheduler.log")))
            }
            return KubernetesTestCluster(directory: dir, address: address, binaries: bin, apiserver: apiserver, processes: started)
        } catch {
            for p in started.reversed() { await p.stop() }
            dir.remove()
            throw error
        }
    }

    private init(directory: TemporaryDirectory, address: String, binaries: String, apiserver: BackgroundProcess, processes: [BackgroundProcess]) {
        self.directory = directory
        self.address = address
        self.binaries = binaries
        self.apiserver = apiserver
        self.processes = processes
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

    /// Stops the control plane (the newest process first) and deletes its state.
    public func stop() async {
        for p in processes.reversed() { await p.stop() }
        directory.remove()
    }
}

extension KubernetesTestCluster {
    /// Writes a kubeconfig whose API server never answers (port 1 on loopback), as during a
    /// control-plane outage; returns its path.
    public static func writeUnreachableKubeconfig(in dir: TemporaryDirectory, namespace: String = "peerpull-system") throws -> String {
        let path = dir.file("kubeconfig")
        try """
        apiVersion: v1
        kind: Config
        current-context: c
        clusters: [{name: k, cluster: {server: "https://127.0.0.1:1"}}]
        users: [{name: u, user: {token: t}}]
        contexts: [{name: c, context: {cluster: k, user: u, namespace: \(namespace)}}]
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
