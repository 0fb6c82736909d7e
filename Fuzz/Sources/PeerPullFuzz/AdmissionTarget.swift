import Controller
import Foundation
import OCI

/// An `AdmissionReview` body as the webhook reads it (`AdmissionWebhook.review`), through
/// the mutator's plan to the JSON Patch it answers with, applied back to the pod.
///
/// Properties: the patch applies to the pod the API server sent and yields a valid pod;
/// it changes nothing but container and image-volume images, `imagePullSecrets` and annotations, adds
/// exactly the copies of the plan; a container whose image is not of an accelerated
/// registry keeps it, and a rewritten image parses and leads the agent back to the very
/// registry, repository, tag and digest it named; the patched pod yields no patch
/// (idempotent under `reinvocationPolicy: IfNeeded`).
enum AdmissionTarget {
    static let origins = ["test-registry-vpc.cn-hangzhou.cr.aliyuncs.com", "harbor.example.com:8443", "public.example.com",
                          "registry.example.com", "registry.example.com:5000"]
    static let mutator: PodMutator = {
        var policy = ControllerPolicy(registries: origins)
        policy.anonymousRegistries = ["public.example.com"]
        return PodMutator(policy: policy, version: "0.1.0")
    }()
    static let pullSecrets: [String: DockerConfig] = [
        "regcred": config(["test-registry-vpc.cn-hangzhou.cr.aliyuncs.com", "https://harbor.example.com:8443/v2/", "registry.example.com"]),
        "team": config(["*.cn-hangzhou.cr.aliyuncs.com/team", "registry.example.com:5000"]),
        "other": config(["ghcr.io"]),
    ]
    static let namespaceLabels = ["team-a": ["k8s.aliyun.com/image-accelerate-mode": "p2p"]]

    static func config(_ keys: [String]) -> DockerConfig {
        DockerConfig(format: .dockerConfigJSON, entries: keys.map { ($0, .object(["auth": .string("YWxpY2U6c2VjcmV0")])) })
    }

    static func run(_ bytes: UnsafeRawBufferPointer) {
        // What `AdmissionWebhook.review` does before it asks the API server anything.
        guard let review = try? BoundedJSON.decode(AdmissionReview.self, from: Data(bytes)),
              review.apiVersion == AdmissionReview.apiVersionV1, review.kind == "AdmissionReview", let request = review.request,
              request.kind.kind == "Pod", request.kind.group.isEmpty, request.operation == "CREATE", let object = request.object,
              let encodedObject = try? JSONEncoder().encode(object),
              let pod = try? BoundedJSON.decode(Pod.self, from: encodedObject)
        else { return }
        let namespace = request.namespace ?? pod.metadata.namespace ?? "default"
        let plan = mutator.plan(pod: pod, namespace: namespace, namespaceLabels: namespaceLabels[namespace],
                                pullSecrets: pullSecrets.filter { name, _ in PodMutator.pullSecretNames(of: pod).names.contains(name) })
        guard !plan.patch.isEmpty else {
            require(plan.rewrites.isEmpty, "rewrites without a patch")
            return
        }
        // The patch as the webhook sends it: JSON, as the API server decodes it.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        guard let wire = try? encoder.encode(plan.patch), let sent = try? JSONDecoder().decode([JSONPatchOperation].self, from: wire) else {
            fatalError("property violated: the patch does not encode")
        }
        let patched: JSONValue
        do { patched = try JSONPatchApplier.apply(sent, to: object.value) } catch {
            fatalError("property violated: the patch does not apply: \(error); patch: \(String(decoding: wire.prefix(2000), as: UTF8.self))")
        }
        let after: Pod
        do { after = try BoundedJSON.decode(Pod.self, from: JSONEncoder().encode(patched)) } catch {
            fatalError("property violated: the patched object is not a pod: \(error)")
        }
        checkImages(before: pod, after: after, plan: plan)
        require(untouched(object.value) == untouched(patched), "the patch changed more than images, pull secrets and annotations")

        let secretsBefore = (pod.spec.imagePullSecrets ?? []).map(\.name)
        let secretsAfter = (after.spec.imagePullSecrets ?? []).map(\.name)
        require(Array(secretsAfter.prefix(secretsBefore.count)) == secretsBefore, "pull secrets reordered: \(secretsBefore) → \(secretsAfter)")
        require(Set(secretsAfter) == Set(secretsBefore).union(plan.copies.map(\.copy)), "pull secrets \(secretsAfter), copies \(plan.copies)")
        for (key, value) in pod.metadata.annotations ?? [:] where key != ControllerPolicy.modeAnnotation && key != ControllerPolicy.configAnnotation {
            require(after.metadata.annotations?[key] == value, "annotation \(key) changed")
        }
        require(after.metadata.annotations?[ControllerPolicy.configAnnotation].flatMap(P2PConfigAnnotation.init(json:)) != nil,
                "no readable \(ControllerPolicy.configAnnotation) annotation")

        let again = mutator.plan(pod: after, namespace: namespace, namespaceLabels: namespaceLabels[namespace],
                                 pullSecrets: pullSecrets.filter { name, _ in PodMutator.pullSecretNames(of: after).names.contains(name) })
        require(again.patch.isEmpty, "the patched pod is patched again: \(again.patch)")
    }

    /// What the kubelet pulls for a pod, by the plan's keys: init containers, containers, image volumes.
    static func pulls(_ pod: Pod) -> [(field: String, names: [String], images: [String?])] {
        let volumes = (pod.spec.volumes ?? []).filter { $0.image != nil }
        return [("initContainers", (pod.spec.initContainers ?? []).map(\.name), (pod.spec.initContainers ?? []).map(\.image)),
                ("containers", pod.spec.containers.map(\.name), pod.spec.containers.map(\.image)),
                ("volumes", volumes.map(\.name), volumes.map { $0.image?.reference })]
    }

    static func checkImages(before: Pod, after: Pod, plan: PodMutator.Plan) {
        let set = OriginSet(origins)
        for (old, new) in zip(pulls(before), pulls(after)) {
            let field = old.field
            require(old.names == new.names, "\(field) changed: \(old.names) → \(new.names)")
            for (name, (o, n)) in zip(old.names, zip(old.images, new.images)) where o != n {
                let what = "\(field)/\(name): \(o ?? "nil") → \(n ?? "nil")"
                guard let image = o, let from = try? ImageReference(parsing: image) else {
                    fatalError("property violated: \(what): the original is not an image reference")
                }
                require(mutator.policy.registries.contains(from.domain.lowercased()), "\(what): not an accelerated registry")
                guard let rewritten = n, let to = try? ImageReference(parsing: rewritten) else {
                    fatalError("property violated: \(what): the rewritten image does not parse")
                }
                let origin = mutator.policy.rule.origin(forP2PDomain: to.domain).flatMap(set.origin(named:))
                require(origin == from.domain.lowercased(), "\(what): the agent maps \(to.domain) to \(origin ?? "no origin")")
                require(to.repository == from.repository && to.tag == from.tag && to.digest == from.digest, "\(what): another image")
                require(plan.rewrites.contains { $0.container == "\(field)/\(name)" && $0.from == image && $0.to == rewritten },
                        "\(what): not in the plan's rewrites")
            }
        }
    }

    /// The object without what the controller may change: container images, pull secrets, annotations.
    static func untouched(_ value: JSONValue) -> JSONValue {
        guard case .object(var pod) = value else { return value }
        if case .object(var metadata)? = pod["metadata"] {
            metadata["annotations"] = nil
            pod["metadata"] = .object(metadata)
        }
        if case .object(var spec)? = pod["spec"] {
            spec["imagePullSecrets"] = nil
            for field in ["containers", "initContainers"] {
                guard case .array(let containers)? = spec[field] else { continue }
                spec[field] = .array(containers.map { c in
                    guard case .object(var members) = c else { return c }
                    members["image"] = nil
                    return .object(members)
                })
            }
            if case .array(let volumes)? = spec["volumes"] {
                spec["volumes"] = .array(volumes.map { v in
                    guard case .object(var members) = v, case .object(var image)? = members["image"] else { return v }
                    image["reference"] = nil
                    members["image"] = .object(image)
                    return .object(members)
                })
            }
            pod["spec"] = .object(spec)
        }
        return .object(pod)
    }
}
