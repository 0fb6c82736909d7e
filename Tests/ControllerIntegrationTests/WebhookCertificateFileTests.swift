import Certificates
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TestSupport
import Testing

/// A serving certificate from files (cert-manager's mounted Secret, `--tls-cert-file`):
/// when the files are replaced, the running controller serves the new certificate.
@Suite("Webhook certificate from files")
struct WebhookCertificateFileTests {
    @Test func replacedCertificateFilesAreServedWithoutARestart() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // The API server is unreachable: the watchers retry, the webhook still serves.
        _ = try KubernetesTestCluster.writeUnreachableKubeconfig(in: dir)
        func issue() throws -> String {
            let c = try GeneratedCertificate.generate(caName: "cert-manager CA", leafName: "peerpull-controller", dnsNames: ["peerpull-controller"])
            // As the kubelet updates a mounted Secret: new files, swapped in by a rename.
            for (name, text) in [("tls.crt", c.certificatePEM), ("tls.key", c.privateKeyPEM)] {
                try text.write(toFile: dir.file(name + ".new"), atomically: true, encoding: .utf8)
                _ = rename(dir.file(name + ".new"), dir.file(name))
            }
            return c.certificatePEM
        }
        _ = try issue()
        let port = try LoopbackPort.free()
        let controller = try BackgroundProcess([
            TestImages.peerpullBinary, "controller", "--kubeconfig", dir.file("kubeconfig"), "--registry-instances", "r.example.com",
            "--namespace", "peerpull-system", "--listen", "127.0.0.1", "--port", String(port),
            "--tls-cert-file", dir.file("tls.crt"), "--tls-key-file", dir.file("tls.key"), "--tls-check-seconds", "0.5"],
            logPath: dir.file("controller.log"))
        func served() async -> String {
            let out = try? await Command.run(["bash", "-c",
                "openssl s_client -connect 127.0.0.1:\(port) </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"], check: false).stdout
            return out ?? ""
        }
        func fingerprint(_ pem: String) async throws -> String {
            try await Command.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], stdin: pem).stdout
        }
        do {
            try await controller.waitUntil(timeout: .seconds(60)) { await served().contains("Fingerprint") }
            let second = try issue()
            let expected = try await fingerprint(second)
            var now = ""
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                now = await served()
                if now == expected { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(now == expected, "the controller still serves the old certificate: \(controller.log.suffix(800))")
            #expect(controller.isRunning)
        } catch {
            await controller.stop()
            throw error
        }
        await controller.stop()
    }
}
