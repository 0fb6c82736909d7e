import OCI

/// Decides, without I/O, how one pod is rewritten: which images move to their P2P
/// host, which pull-secret copies it needs, and the JSON Patch that says so.
///
/// The patch is idempotent: a pod that was already rewritten yields no operation, so it
/// is safe under `reinvocationPolicy: IfNeeded`, and containers added by a later webhook
/// are rewritten on the next round.
public struct PodMutator: Sendable {
    public var policy: ControllerPolicy {
        didSet { origins = OriginSet(policy.registries) }
    }
    public var version: String
    /// The registries as the agent will map P2P hosts back to them.
    private var origins: OriginSet

    public init(policy: ControllerPolicy, version: String = PeerPullVersion.current) {
        self.policy = policy
        self.version = version
        self.origins = OriginSet(policy.registries)
    }

    public struct ImageRewrite: Sendable, Equatable {
        /// `containers/<name>`, `initContainers/<name>` or `volumes/<name>` (an image volume).
        public var container: String
        public var from: String
        public var to: String
    }

    public struct SecretCopy: Sendable, Equatable {
        public var source: String
        public var copy: String
        /// Origin registries whose entries move to their P2P hosts in the copy.
        public var origins: Set<String>
    }

    public struct Plan: Sendable, Equatable {
        public var rewrites: [ImageRewrite] = []
        public var copies: [SecretCopy] = []
        public var patch: [JSONPatchOperation] = []
        /// Why some image kept its origin (shown to the user as admission warnings).
        public var warnings: [String] = []
        /// Why nothing was considered at all (logged), e.g. "not selected".
        public var skipped: String?
    }

    /// - Parameters:
    ///   - namespace: from the AdmissionReview request, never the pod's own field.
    ///   - pullSecrets: the pod's pull secrets that exist and hold registry credentials.
    public func plan(pod: Pod, namespace: String, namespaceLabels: [String: String]?, pullSecrets: [String: DockerConfig]) -> Plan {
        var plan = Plan()
        if let why = skipReason(pod: pod, namespace: namespace, namespaceLabels: namespaceLabels) {
            plan.skipped = why
            return plan
        }
        let (secretNames, total) = Self.pullSecretNames(of: pod)
        if total > secretNames.count {
            plan.warnings.append("peerpull: only the first \(secretNames.count) of the pod's \(total) distinct pull secrets were considered")
        }
        var copies: [String: SecretCopy] = [:]
        var ops: [JSONPatchOperation] = []
        // What the kubelet pulls for the pod: init containers (native sidecars among them),
        // containers, and image volumes; each with its patch path.
        var pulls: [(key: String, image: String?, path: String)] = []
        for (field, containers) in [("initContainers", pod.spec.initContainers ?? []), ("containers", pod.spec.containers)] {
            for (index, c) in containers.enumerated() { pulls.append(("\(field)/\(c.name)", c.image, "/spec/\(field)/\(index)/image")) }
        }
        for (index, v) in (pod.spec.volumes ?? []).enumerated() where v.image != nil {
            pulls.append(("volumes/\(v.name)", v.image?.reference, "/spec/volumes/\(index)/image/reference"))
        }
        // Work per review stays bounded whatever the pod and its secrets hold: coverage is
        // worked out once per repository, over at most `maximumEntriesPerSecret` keys of
        // each secret, for at most `maximumContainers` containers.
        var coverage: [String: [String]] = [:]
        if pulls.count > Self.maximumContainers {
            plan.warnings.append("peerpull: only the first \(Self.maximumContainers) of the pod's \(pulls.count) containers and image volumes were considered")
        }
        for pull in pulls.prefix(Self.maximumContainers) {
            guard let image = pull.image, let target = rewrite(image) else { continue }
            let (origin, repository, p2pImage) = target
            let covering = coverage["\(origin)/\(repository)"] ?? secretNames.filter { name in
                pullSecrets[name]?.entries.prefix(Self.maximumEntriesPerSecret)
                    .contains { DockerConfig.key($0.key, covers: origin, repository: repository) } ?? false
            }
            coverage["\(origin)/\(repository)"] = covering
            guard !covering.isEmpty || policy.anonymousRegistries.contains(origin) else {
                plan.warnings.append("peerpull: \(pull.key) keeps \(origin): no pull secret of the pod covers it")
                continue
            }
            for name in covering {
                copies[name, default: SecretCopy(source: name, copy: ControllerPolicy.copyName(of: name), origins: [])].origins.insert(origin)
            }
            plan.rewrites.append(ImageRewrite(container: pull.key, from: image, to: p2pImage))
            ops.append(.replace(pull.path, .string(p2pImage)))
        }
        plan.copies = secretNames.compactMap { copies[$0] }
        guard !plan.rewrites.isEmpty else { return plan }

        // imagePullSecrets: append the copies that are missing; create the array if absent.
        let present = Set((pod.spec.imagePullSecrets ?? []).map(\.name))
        let missing = plan.copies.map(\.copy).filter { !present.contains($0) }
        if pod.spec.imagePullSecrets == nil {
            if !missing.isEmpty { ops.append(.add("/spec/imagePullSecrets", .array(missing.map { .object(["name": .string($0)]) }))) }
        } else {
            for name in missing { ops.append(.add("/spec/imagePullSecrets/-", .object(["name": .string(name)]))) }
        }

        // Annotations: the mode, and the record of what was done (merged with an earlier round's).
        let existing = pod.metadata.annotations
        var record = existing?[ControllerPolicy.configAnnotation].flatMap(P2PConfigAnnotation.init(json:))
            ?? P2PConfigAnnotation(controller: version, port: policy.rule.port)
        record.controller = version
        record.port = policy.rule.port
        for r in plan.rewrites { record.images[r.container] = r.from }
        for c in plan.copies { record.secrets[c.source] = c.copy }
        let values: [(String, String)] = [
            (ControllerPolicy.modeAnnotation, policy.labelValue), (ControllerPolicy.configAnnotation, record.json),
        ]
        if existing == nil {
            ops.append(.add("/metadata/annotations", .object(Dictionary(uniqueKeysWithValues: values.map { ($0.0, JSONValue.string($0.1)) }))))
        } else {
            for (key, value) in values where existing?[key] != value {
                ops.append(.add("/metadata/annotations/\(JSONPatchOperation.escape(key))", .string(value)))
            }
        }
        plan.patch = ops
        return plan
    }

    /// At most this many distinct pull secrets of one pod are read and copied: the work of
    /// one review must stay bounded whatever the pod says (a pod naming 20,000 secrets
    /// once pinned the controller), and real pods name a handful.
    public static let maximumPullSecrets = 32
    /// Containers, init containers and image volumes of one pod that are considered for a rewrite.
    public static let maximumContainers = 256
    /// Registry keys of one pull secret that are matched against an image.
    public static let maximumEntriesPerSecret = 256

    /// The pod's distinct pull-secret names in their order, at most `maximumPullSecrets`,
    /// and how many distinct names it has in all.
    public static func pullSecretNames(of pod: Pod) -> (names: [String], total: Int) {
        var seen = Set<String>()
        var names: [String] = []
        for ref in pod.spec.imagePullSecrets ?? [] where seen.insert(ref.name).inserted {
            if names.count < maximumPullSecrets { names.append(ref.name) }
        }
        return (names, seen.count)
    }

    /// Why the pod is not considered at all, or nil when it is (checked before any secret is read).
    public func skipReason(pod: Pod, namespace: String, namespaceLabels: [String: String]?) -> String? {
        if policy.excludedNamespaces.contains(namespace) { return "namespace \(namespace) is excluded" }
        if pod.metadata.annotations?[ControllerPolicy.mirrorPodAnnotation] != nil { return "mirror pod" }
        guard policy.selects(podLabels: pod.metadata.labels, namespaceLabels: namespaceLabels) else {
            return "neither the pod nor namespace \(namespace) has \(policy.labelKey)=\(policy.labelValue)"
        }
        return nil
    }

    /// The origin, repository and rewritten image text when `image` names an accelerated
    /// registry; the text after the domain (path, tag, digest) is kept byte for byte.
    func rewrite(_ image: String) -> (origin: String, repository: String, image: String)? {
        guard let reference = try? ImageReference(parsing: image),
              let slash = image.firstIndex(of: "/") else { return nil }
        let written = image[..<slash].lowercased()
        let origin = reference.domain.lowercased()
        // Only images that name their registry: `nginx` means docker.io, never rewritten implicitly.
        // Only when the agent will map the P2P host back to this very registry (two origins
        // on one host with different ports are ambiguous, and left alone).
        guard written == origin, policy.registries.contains(origin), origins.roundTrips(origin, rule: policy.rule),
              let p2p = policy.rule.p2pDomain(forOrigin: origin)
        else { return nil }
        return (origin, reference.repository, p2p + image[slash...])
    }
}
