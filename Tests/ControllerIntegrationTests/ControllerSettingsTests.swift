@testable import Controller
@testable import Kubernetes
import Foundation
import TestSupport
import Testing

@Suite("Controller settings and connections")
struct ControllerSettingsTests {
    @Test("an invalid setting stops the controller with the field's name", arguments: [
        ("registryInstances: [r.example.com]\nagentPort: 70000", "agentPort"),
        ("registryInstances: [\"not a domain!\"]", "registryInstances"),
        ("registryInstance: [r.example.com]", "registryInstance"),
        ("registryInstances: [r.example.com]\nport: nine", "port"),
        ("registryInstances: [r.example.com]\ntlsCertFile: /x.crt", "tlsCertFile"),
        ("registryInstances: [r.example.com]\nlogLevel: loud", "logLevel"),
        ("registryInstances: [r.example.com]\nswarmSecret: Swarm_Key", "swarmSecret"),
        // Found by the `settings` fuzz target: a key that is a map trapped in Yams.
        ("registryInstances: [r.example.com]\n? {a: b}\n: c", "--config"),
    ])
    func invalidConfig(yaml: String, field: String) async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try yaml.write(toFile: dir.file("controller.yaml"), atomically: true, encoding: .utf8)
        let r = try await Command.run([TestImages.peerpullBinary, "controller", "--config", dir.file("controller.yaml")], check: false)
        #expect(r.status != 0)
        #expect(r.stderr.contains(field), "\(r.stderr)")
        #expect(!r.stderr.contains("Fatal error"), "\(r.stderr)")
    }

    @Test("no registry yet is a valid setting: the chart's default install must not crash-loop")
    func noRegistriesIsValid() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try "agentPort: 65001\n".write(toFile: dir.file("controller.yaml"), atomically: true, encoding: .utf8)
        let c = try await Command.run([TestImages.peerpullBinary, "controller", "--config", dir.file("controller.yaml"), "--check-config"], check: false)
        #expect(c.status == 0 && c.stdout.contains("controller settings are valid"), "\(c.stderr)")
        let a = try await Command.run([TestImages.peerpullBinary, "agent", "--data-dir", dir.file("data"), "--check-config"], check: false)
        #expect(a.status == 0 && a.stdout.contains("agent settings are valid"), "\(a.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("data")), "--check-config writes nothing")
    }

    @Test func inClusterAndKubeconfigConnections() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try "tok-1\n".write(toFile: dir.file("token"), atomically: true, encoding: .utf8)
        try "ca".write(toFile: dir.file("ca.crt"), atomically: true, encoding: .utf8)
        try "peerpull-system".write(toFile: dir.file("namespace"), atomically: true, encoding: .utf8)
        let c = try KubernetesConnection.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"], directory: dir.path)
        #expect(c.server == "https://10.96.0.1:443" && c.caPEM == "ca" && c.namespace == "peerpull-system")
        #expect(c.currentToken() == "tok-1")
        // A rotated token is read again.
        try "tok-2".write(toFile: dir.file("token"), atomically: true, encoding: .utf8)
        #expect(c.currentToken() == "tok-2")
        #expect(throws: KubernetesError.self) { try KubernetesConnection.inCluster(environment: [:], directory: dir.path) }

        try """
        apiVersion: v1
        kind: Config
        current-context: b
        clusters:
        - {name: one, cluster: {server: "https://198.18.0.1:6443", certificate-authority-data: \(Data("CA".utf8).base64EncodedString())}}
        users:
        - {name: admin, user: {token: secret-token}}
        contexts:
        - {name: a, context: {cluster: missing, user: admin}}
        - {name: b, context: {cluster: one, user: admin, namespace: team-a}}
        """.write(toFile: dir.file("kubeconfig"), atomically: true, encoding: .utf8)
        let k = try KubernetesConnection.kubeconfig(path: dir.file("kubeconfig"))
        #expect(k.server == "https://198.18.0.1:6443" && k.caPEM == "CA" && k.token == "secret-token" && k.namespace == "team-a")
        #expect(throws: KubernetesError.self) { try KubernetesConnection.kubeconfig(path: dir.file("kubeconfig"), context: "a") }
    }
}
