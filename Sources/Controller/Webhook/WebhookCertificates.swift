import Certificates
import Foundation
import Logging
import OCI

/// The webhook's serving certificate and the `caBundle` the API server trusts it by.
///
/// Without cert-manager the controller generates a CA and certificate for its Service
/// names and keeps them in a Secret of its namespace, so every replica serves the same
/// certificate (the first one to start creates it; the others read it). It then writes
/// the CA into each webhook of its `MutatingWebhookConfiguration`, and again whenever
/// something (a Helm upgrade) resets it.
public struct WebhookCertificates: Sendable {
    let client: KubernetesClient
    let namespace: String
    let secretName: String
    let logger: Logger

    public init(client: KubernetesClient, namespace: String, secretName: String, logger: Logger) {
        self.client = client
        self.namespace = namespace
        self.secretName = secretName
        self.logger = logger
    }

    /// The DNS names a Service `name` in `namespace` is called by.
    public static func serviceNames(_ name: String, namespace: String) -> [String] {
        [name, "\(name).\(namespace)", "\(name).\(namespace).svc", "\(name).\(namespace).svc.cluster.local"]
    }

    /// The shared certificate: read from the Secret, or generated and stored there.
    public func loadOrCreate(dnsNames: [String], ipAddresses: [String]) async throws -> GeneratedCertificate {
        let path = "/api/v1/namespaces/\(namespace)/secrets"
        for _ in 0..<3 {
            if let existing = try await read(path) { return existing }
            let generated = try GeneratedCertificate.generate(
                caName: "peerpull webhook CA", leafName: dnsNames.first ?? "peerpull-controller", dnsNames: dnsNames, ipAddresses: ipAddresses)
            if try await store(generated, path) {
                logger.info("generated the webhook certificate", metadata: ["secret": "\(namespace)/\(secretName)", "names": "\(dnsNames)"])
                return generated
            }
            // Another replica won the race: read its certificate.
        }
        throw KubernetesError.timedOut("creating secret \(namespace)/\(secretName)")
    }

    private func read(_ path: String) async throws(KubernetesError) -> GeneratedCertificate? {
        let secret: Secret
        do { secret = try await client.get("\(path)/\(secretName)") } catch {
            if error.code == 404 { return nil }
            throw error
        }
        guard let c = Self.decode(secret) else {
            throw .decoding("secret \(namespace)/\(secretName) lacks ca.crt, tls.crt or tls.key; delete it to regenerate")
        }
        return c
    }

    /// False when the secret appeared meanwhile (409).
    private func store(_ generated: GeneratedCertificate, _ path: String) async throws(KubernetesError) -> Bool {
        let secret = Secret(
            metadata: ObjectMeta(name: secretName, namespace: namespace, labels: [PullSecretMirror.managedByLabel: PullSecretMirror.managedBy]),
            type: "kubernetes.io/tls",
            data: ["ca.crt": Data(generated.caPEM.utf8).base64EncodedString(),
                   "tls.crt": Data(generated.certificatePEM.utf8).base64EncodedString(),
                   "tls.key": Data(generated.privateKeyPEM.utf8).base64EncodedString()])
        do {
            _ = try await client.create(path, secret)
            return true
        } catch {
            if error.code == 409 { return false }
            throw error
        }
    }

    static func decode(_ secret: Secret) -> GeneratedCertificate? {
        func text(_ key: String) -> String? {
            secret.data?[key].flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
        }
        guard let ca = text("ca.crt"), let cert = text("tls.crt"), let key = text("tls.key") else { return nil }
        return GeneratedCertificate(caPEM: ca, certificatePEM: cert, privateKeyPEM: key)
    }

    /// Sets `caBundle` on every webhook of the configuration; true when it changed anything.
    @discardableResult
    public func injectCABundle(_ caPEM: String, configuration name: String) async throws -> Bool {
        let path = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/\(name)"
        let current: JSONValue = try await client.get(path)
        guard case .object(var root) = current, case .array(let webhooks)? = root["webhooks"] else {
            throw KubernetesError.decoding("\(name) has no webhooks")
        }
        let bundle = JSONValue.string(Data(caPEM.utf8).base64EncodedString())
        var changed = false
        root["webhooks"] = .array(webhooks.map { hook in
            guard case .object(var h) = hook, case .object(var cc)? = h["clientConfig"] else { return hook }
            if cc["caBundle"] != bundle { changed = true }
            cc["caBundle"] = bundle
            h["clientConfig"] = .object(cc)
            return .object(h)
        })
        if changed {
            let _: JSONValue = try await client.update(path, JSONValue.object(root))
            logger.info("set the webhook caBundle", metadata: ["configuration": "\(name)"])
        }
        return changed
    }

    /// Keeps the caBundle set, checking every `interval`, until cancelled. Until the
    /// configuration exists (the chart may apply it after the controller starts) it
    /// checks every 2 s, then every `interval` to undo resets by Helm or GitOps tools.
    public func keepCABundle(_ caPEM: String, configuration name: String, interval: Duration = .seconds(60)) async {
        var wait = Duration.seconds(2)
        var warned = false
        while !Task.isCancelled {
            do {
                try await injectCABundle(caPEM, configuration: name)
                wait = interval
                warned = false
            } catch {
                if !warned {
                    logger.warning("cannot set the webhook caBundle yet; retrying", metadata: ["configuration": "\(name)", "error": "\(error)"])
                    warned = true
                }
                wait = min(wait, .seconds(2))
            }
            try? await Task.sleep(for: wait)
        }
    }
}
