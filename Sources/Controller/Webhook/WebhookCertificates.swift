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
/// something (a Helm upgrade) resets it. The CA's key is kept in the Secret too: the
/// replica that holds the lease issues the serving certificate again under the same CA
/// before it expires (`keepRenewed`), and every replica reads the Secret again every
/// interval and serves what it holds (`follow`), without a restart.
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
    public func loadOrCreate(dnsNames: [String], ipAddresses: [String], lifetimes: CertificateLifetimes = .standard) async throws -> GeneratedCertificate {
        let path = "/api/v1/namespaces/\(namespace)/secrets"
        for _ in 0..<3 {
            if let existing = try await read(path)?.certificate { return existing }
            let generated = try GeneratedCertificate.generate(
                caName: "peerpull webhook CA", leafName: dnsNames.first ?? "peerpull-controller", dnsNames: dnsNames, ipAddresses: ipAddresses,
                lifetimes: lifetimes)
            if try await store(generated, path) {
                logger.info("generated the webhook certificate", metadata: ["secret": "\(namespace)/\(secretName)", "names": "\(dnsNames)"])
                return generated
            }
            // Another replica won the race: read its certificate.
        }
        throw KubernetesError.timedOut("creating secret \(namespace)/\(secretName)")
    }

    private func read(_ path: String) async throws(KubernetesError) -> (certificate: GeneratedCertificate, secret: Secret)? {
        let secret: Secret
        do { secret = try await client.get("\(path)/\(secretName)") } catch {
            if error.code == 404 { return nil }
            throw error
        }
        guard let c = Self.decode(secret) else {
            throw .decoding("secret \(namespace)/\(secretName) lacks ca.crt, tls.crt or tls.key; delete it to regenerate")
        }
        return (c, secret)
    }

    /// The certificate as the Secret holds it now.
    public func current() async throws -> GeneratedCertificate? {
        try await read("/api/v1/namespaces/\(namespace)/secrets")?.certificate
    }

    /// Issues the serving certificate again when it expires within `lifetimes.renewBefore`
    /// (or no longer names every one of `dnsNames`): under the same CA when its key is kept
    /// and it outlives the new certificate, else under a new CA, the Secret's `ca.crt`
    /// then holding the new CA and the old one, and the `caBundle` set to both before any
    /// replica can serve the new certificate. Nil when nothing was due, or another writer
    /// changed the Secret first (409: read again next time).
    public func renewIfDue(dnsNames: [String], ipAddresses: [String], lifetimes: CertificateLifetimes, configuration: String?,
                           now: Date = Date()) async throws -> GeneratedCertificate? {
        let path = "/api/v1/namespaces/\(namespace)/secrets"
        guard let (stored, secret) = try await read(path) else { return nil }
        if let expiry = stored.notValidAfter, expiry > now + lifetimes.renewBefore,
           let names = stored.dnsNames, Set(dnsNames).isSubset(of: names) { return nil }
        let leafName = dnsNames.first ?? "peerpull-controller"
        var next: GeneratedCertificate
        if stored.caKeyPEM != nil, let caExpiry = stored.caNotValidAfter, caExpiry > now + lifetimes.renewBefore + lifetimes.leaf,
           let same = try? stored.reissued(leafName: leafName, dnsNames: dnsNames, ipAddresses: ipAddresses, now: now, lifetimes: lifetimes) {
            next = same
        } else {
            let fresh = try GeneratedCertificate.generate(caName: "peerpull webhook CA", leafName: leafName, dnsNames: dnsNames,
                                                          ipAddresses: ipAddresses, now: now, lifetimes: lifetimes)
            // The API server trusts both CAs while replicas move to the new certificate.
            next = GeneratedCertificate(caPEM: fresh.caPEM + GeneratedCertificate.firstPEM(stored.caPEM), certificatePEM: fresh.certificatePEM,
                                        privateKeyPEM: fresh.privateKeyPEM, caKeyPEM: fresh.caKeyPEM)
            if let configuration { try await injectCABundle(next.caPEM, configuration: configuration) }
        }
        var updated = secret
        updated.data = Self.encode(next)
        do {
            let _: Secret = try await client.update("\(path)/\(secretName)", updated)
        } catch {
            if error.code == 409 { return nil }
            throw error
        }
        logger.notice("issued the webhook's serving certificate again", metadata: [
            "secret": "\(namespace)/\(secretName)", "validUntil": "\(next.notValidAfter.map { "\($0)" } ?? "?")",
            "sameCA": "\(next.caPEM == stored.caPEM)"])
        return next
    }

    /// While this replica holds the lease: `renewIfDue` every `interval`, until cancelled.
    public func keepRenewed(dnsNames: [String], ipAddresses: [String], lifetimes: CertificateLifetimes, configuration: String?,
                            interval: Duration, onRenewed: @Sendable (GeneratedCertificate) -> Void) async {
        while !Task.isCancelled {
            do {
                if let renewed = try await renewIfDue(dnsNames: dnsNames, ipAddresses: ipAddresses, lifetimes: lifetimes,
                                                      configuration: configuration) {
                    onRenewed(renewed)
                }
            } catch {
                logger.error("cannot issue the webhook's serving certificate again; retrying", metadata: [
                    "secret": "\(namespace)/\(secretName)", "error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Every replica: reads the Secret every `interval` and hands a changed certificate to
    /// `onChange`, until cancelled.
    public func follow(from start: GeneratedCertificate, interval: Duration, onChange: @Sendable (GeneratedCertificate) -> Void) async {
        var last = start
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            guard !Task.isCancelled else { return }
            do {
                if let now = try await current(), now != last {
                    last = now
                    onChange(now)
                }
            } catch {
                logger.warning("cannot read the webhook certificate's secret; serving the one held", metadata: [
                    "secret": "\(namespace)/\(secretName)", "error": "\(error)"])
            }
        }
    }

    /// False when the secret appeared meanwhile (409).
    private func store(_ generated: GeneratedCertificate, _ path: String) async throws(KubernetesError) -> Bool {
        let secret = Secret(
            metadata: ObjectMeta(name: secretName, namespace: namespace, labels: [PullSecretMirror.managedByLabel: PullSecretMirror.managedBy]),
            type: "kubernetes.io/tls",
            data: Self.encode(generated))
        do {
            _ = try await client.create(path, secret)
            return true
        } catch {
            if error.code == 409 { return false }
            throw error
        }
    }

    static func encode(_ c: GeneratedCertificate) -> [String: String] {
        var data = ["ca.crt": Data(c.caPEM.utf8).base64EncodedString(),
                    "tls.crt": Data(c.certificatePEM.utf8).base64EncodedString(),
                    "tls.key": Data(c.privateKeyPEM.utf8).base64EncodedString()]
        if let key = c.caKeyPEM { data["ca.key"] = Data(key.utf8).base64EncodedString() }
        return data
    }

    static func decode(_ secret: Secret) -> GeneratedCertificate? {
        func text(_ key: String) -> String? {
            secret.data?[key].flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
        }
        guard let ca = text("ca.crt"), let cert = text("tls.crt"), let key = text("tls.key") else { return nil }
        return GeneratedCertificate(caPEM: ca, certificatePEM: cert, privateKeyPEM: key, caKeyPEM: text("ca.key"))
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
    public func keepCABundle(_ caPEM: @Sendable () -> String, configuration name: String, interval: Duration = .seconds(60)) async {
        var wait = Duration.seconds(2)
        var warned = false
        while !Task.isCancelled {
            do {
                try await injectCABundle(caPEM(), configuration: name)
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
