import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import OCI

/// The mutating admission webhook: `POST /mutate` takes an `AdmissionReview` v1 and
/// answers with the pod's JSON Patch, after creating the pod's pull-secret copies (so
/// the pod never exists before its secret). It never blocks a pod: any failure, or an
/// API server slower than `deadline`, admits the pod unchanged with a warning.
public struct AdmissionWebhook: Sendable {
    public var mutator: PodMutator
    public var mirror: PullSecretMirror
    public var namespaces: NamespaceLabelCache
    /// Pull secrets kept by a watch; nil reads each from the API server.
    public var secrets: SecretCache?
    /// The agent DaemonSet's state; nil rewrites whether or not agents run.
    public var agents: AgentPresence?
    public var metrics: ControllerMetrics
    /// Everything the webhook does for one review, API calls included.
    public var deadline: Duration
    let logger: Logger

    public init(mutator: PodMutator, mirror: PullSecretMirror, namespaces: NamespaceLabelCache, secrets: SecretCache? = nil,
                agents: AgentPresence? = nil, metrics: ControllerMetrics = ControllerMetrics(), deadline: Duration = .milliseconds(900),
                logger: Logger = Logger(label: "peerpull.controller")) {
        self.mutator = mutator
        self.mirror = mirror
        self.namespaces = namespaces
        self.secrets = secrets
        self.agents = agents
        self.metrics = metrics
        self.deadline = deadline
        self.logger = logger
    }

    public func register(on router: Router<some RequestContext>) {
        router.get("/healthz") { _, _ in "ok" }
        router.get("/readyz") { _, _ in "ok" }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: metrics.render())))
        }
        router.post("/mutate") { request, context in
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: 4 << 20) } catch {
                return Self.badRequest("the AdmissionReview is larger than 4 MiB")
            }
            let start = ContinuousClock.now
            let (response, result) = await review(Data(body.readableBytesView))
            metrics.admission(result, duration: ContinuousClock.now - start)
            return response
        }
    }

    /// Answers one review body; the result label is for metrics.
    func review(_ body: Data) async -> (Response, String) {
        let review: AdmissionReview
        do { review = try BoundedJSON.decode(AdmissionReview.self, from: body) } catch {
            return (Self.badRequest("not an AdmissionReview: \(Self.describe(error))"), "invalid")
        }
        guard review.apiVersion == AdmissionReview.apiVersionV1, review.kind == "AdmissionReview", let request = review.request else {
            return (Self.badRequest("expected an admission.k8s.io/v1 AdmissionReview with a request"), "invalid")
        }
        guard request.kind.kind == "Pod", request.kind.group.isEmpty, request.operation == "CREATE", let object = request.object else {
            return (Self.answer(AdmissionResponse(uid: request.uid, allowed: true)), "ignored")
        }
        let pod: Pod
        do { pod = try BoundedJSON.decode(Pod.self, from: JSONEncoder().encode(object)) } catch {
            return (Self.badRequest("request.object is not a Pod: \(Self.describe(error))"), "invalid")
        }
        let namespace = request.namespace ?? pod.metadata.namespace ?? "default"
        let podName = pod.metadata.name ?? pod.metadata.generateName.map { $0 + "…" } ?? "?"
        let outcome = await withDeadline(deadline) { try await mutate(pod, namespace: namespace, dryRun: request.dryRun ?? false) }
        switch outcome {
        case .success(let plan):
            guard !plan.patch.isEmpty else {
                if let why = plan.skipped { logger.debug("pod left unchanged", metadata: ["pod": "\(namespace)/\(podName)", "why": "\(why)"]) }
                return (Self.answer(AdmissionResponse(uid: request.uid, allowed: true, warnings: plan.warnings.isEmpty ? nil : plan.warnings)), "unchanged")
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            let patch = (try? encoder.encode(plan.patch))?.base64EncodedString()
            logger.info("rewrote pod images", metadata: [
                "pod": "\(namespace)/\(podName)", "images": "\(plan.rewrites.map(\.to))", "secrets": "\(plan.copies.map(\.copy))",
                "dryRun": "\(request.dryRun ?? false)"])
            return (Self.answer(AdmissionResponse(uid: request.uid, allowed: true, patchType: "JSONPatch", patch: patch,
                                                  warnings: plan.warnings.isEmpty ? nil : plan.warnings)), "mutated")
        case .failure(let error):
            logger.warning("admitted a pod unchanged", metadata: ["pod": "\(namespace)/\(podName)", "why": "\(error)"])
            return (Self.answer(AdmissionResponse(uid: request.uid, allowed: true,
                                                  warnings: ["peerpull: images not accelerated: \(String(describing: error).prefix(200))"])), "error")
        }
    }

    /// Reads what the plan needs, makes the plan, and creates the copies it names.
    func mutate(_ pod: Pod, namespace: String, dryRun: Bool) async throws -> PodMutator.Plan {
        let nsLabels = await namespaces.labels(of: namespace)
        if let why = mutator.skipReason(pod: pod, namespace: namespace, namespaceLabels: nsLabels) {
            var skipped = PodMutator.Plan()
            skipped.skipped = why
            return skipped
        }
        if let agents, let why = await agents.reasonToSkip {
            // Labelled, but no node could pull the rewritten names: say so on the pod.
            var skipped = PodMutator.Plan()
            skipped.skipped = why
            skipped.warnings = [why]
            return skipped
        }
        let secrets = try await pullSecrets(Self.boundedNames(pod), namespace: namespace)
        let plan = mutator.plan(pod: pod, namespace: namespace, namespaceLabels: nsLabels,
                            pullSecrets: secrets.compactMapValues(DockerConfig.init(secret:)))
        // The copies exist before the pod does (dry runs have no side effects).
        if !dryRun {
            for copy in plan.copies {
                guard let source = secrets[copy.source] else { continue }
                // A copy the watch shows current costs no API call.
                let cached = await self.secrets?.secret(namespace: namespace, name: copy.copy)
                if let cached, mirror.isCurrent(cached, for: source) { continue }
                try await mirror.sync(source: source)
            }
        }
        return plan
    }

    static func boundedNames(_ pod: Pod) -> [String] { PodMutator.pullSecretNames(of: pod).names }

    /// The named secrets that exist: from the watched cache, and for names it does not
    /// hold (not synced yet, or created a moment ago) from the API server, at most
    /// `maximumConcurrentReads` at a time.
    func pullSecrets(_ names: [String], namespace: String) async throws -> [String: Secret] {
        var found: [String: Secret] = [:]
        var missing: [String] = []
        for name in names {
            if let s = await secrets?.secret(namespace: namespace, name: name) { found[name] = s } else { missing.append(name) }
        }
        guard !missing.isEmpty else { return found }
        try await withThrowingTaskGroup(of: (String, Secret?).self) { group in
            var next = missing.makeIterator()
            let store = mirror.store
            for _ in 0..<Self.maximumConcurrentReads {
                guard let name = next.next() else { break }
                group.addTask { (name, try await store.secret(namespace: namespace, name: name)) }
            }
            while let (name, secret) = try await group.next() {
                if let secret { found[name] = secret }
                if let name = next.next() { group.addTask { (name, try await store.secret(namespace: namespace, name: name)) } }
            }
        }
        return found
    }

    /// API reads in flight for one review.
    static let maximumConcurrentReads = 4

    static func answer(_ response: AdmissionResponse) -> Response {
        let review = AdmissionReview(apiVersion: AdmissionReview.apiVersionV1, kind: "AdmissionReview", request: nil, response: response)
        let data = (try? JSONEncoder().encode(review)) ?? Data()
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func badRequest(_ message: String) -> Response {
        let data = (try? JSONEncoder().encode(["error": message])) ?? Data()
        return Response(status: .badRequest, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let c): "missing field \((c.codingPath + [key]).map(\.stringValue).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let c): "wrong type at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.valueNotFound(_, let c): "null at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.dataCorrupted(let c): c.codingPath.isEmpty ? "malformed JSON" : "bad value at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        default: "\(error)"
        }
    }
}

/// Runs `body`, giving up after `limit`. The answer comes at the deadline even if `body`
/// is stuck in a call that ignores cancellation: the work is cancelled and left to finish
/// on its own, and the caller is not held (a task group would wait for it).
func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async -> Result<T, any Error> {
    let claimed = NIOLockedValueBox(false)
    return await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, any Error>, Never>) in
        let work = Task {
            let result: Result<T, any Error>
            do { result = .success(try await body()) } catch { result = .failure(error) }
            if claimed.withLockedValue({ c in defer { c = true }; return !c }) { continuation.resume(returning: result) }
        }
        Task {
            try? await Task.sleep(for: limit)
            if claimed.withLockedValue({ c in defer { c = true }; return !c }) {
                work.cancel()
                continuation.resume(returning: .failure(KubernetesError.timedOut("admission took longer than \(limit)")))
            }
        }
    }
}
