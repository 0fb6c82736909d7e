import Foundation
import TestSupport
import Testing

/// The chart, rendered and linted by real Helm (its Go SDK through helm-python-sdk).
@Suite("Helm chart ack-acr-acceleration-p2p")
struct ChartTests {
    let chart = HelmChart()
    static var base: [String: Any] { ["p2p": ["registryInstances": "test-registry-vpc.cn-hangzhou.cr.aliyuncs.com,cri-abc123"]] }

    func object(_ objects: [[String: Any]], _ kind: String, suffix: String = "") -> [String: Any]? {
        objects.first { $0["kind"] as? String == kind && ((($0["metadata"] as? [String: Any])?["name"] as? String) ?? "").hasSuffix(suffix) }
    }

    static func dig(_ o: Any?, _ path: String) -> Any? {
        var cur = o
        for part in path.split(separator: ".") {
            if let i = Int(part), let a = cur as? [Any] { cur = i < a.count ? a[i] : nil } else { cur = (cur as? [String: Any])?[String(part)] }
        }
        return cur
    }

    @Test func defaultsRenderTheProductsObjects() async throws {
        let objects = try await chart.objects(Self.base)
        let kinds = Set(objects.compactMap { $0["kind"] as? String })
        #expect(kinds == ["ConfigMap", "DaemonSet", "Service", "ServiceAccount", "Role", "RoleBinding", "Deployment",
                          "PodDisruptionBudget", "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "Job"])

        let ds = try #require(object(objects, "DaemonSet"))
        let pod = Self.dig(ds, "spec.template.spec")
        #expect(Self.dig(pod, "hostNetwork") as? Bool == true)
        #expect(Self.dig(pod, "priorityClassName") as? String == "system-node-critical")
        #expect((Self.dig(pod, "tolerations") as? [[String: Any]])?.first?["operator"] as? String == "Exists")
        #expect(Self.dig(ds, "spec.updateStrategy.rollingUpdate.maxUnavailable") as? String == "10%")
        #expect(Self.dig(pod, "containers.0.ports.0.containerPort") as? Int == 65001)
        #expect(Self.dig(pod, "containers.0.readinessProbe.httpGet.path") as? String == "/readyz")
        #expect(Self.dig(pod, "initContainers.0.securityContext.privileged") as? Bool == true)
        #expect((Self.dig(pod, "initContainers.0.args") as? [String])?.contains("--setup-only") == true)
        #expect(Self.dig(pod, "volumes.1.hostPath.path") as? String == "/var/lib/peerpull")
        // The swarm: members from the headless Service, this node from the downward API, the
        // peer secret from a Secret the chart does not render (ChartSwarmKeyTests).
        let agentArgs = try #require(Self.dig(pod, "containers.0.args") as? [String])
        #expect(agentArgs.contains("--membership-service=p2p-ack-acr-acceleration-p2p-agent") || agentArgs.contains { $0.hasPrefix("--membership-service=") && $0.hasSuffix("-agent") })
        #expect(agentArgs.contains("--node-name=$(NODE_NAME)") && agentArgs.contains("--advertise-address=$(HOST_IP)"))
        #expect((Self.dig(pod, "containers.0.env") as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["NODE_NAME", "HOST_IP"])

        let config = try #require((Self.dig(object(objects, "ConfigMap"), "data") as? [String: Any])?["agent.yaml"] as? String)
        #expect(config.contains("port: 65001") && config.contains(#"ratelimit: "512M""#))
        #expect(config.contains(#"origins: ["test-registry-vpc.cn-hangzhou.cr.aliyuncs.com","cri-abc123"]"#))

        // The containerd preflight: the config's directory read-only under /host, where the
        // agent reads it; the hosts.toml directory mounted (writable) beneath it.
        #expect(config.contains("hostRoot: /host") && config.contains(#"containerdConfig: "/etc/containerd/config.toml""#), "\(config)")
        let mounts = try #require(Self.dig(pod, "containers.0.volumeMounts") as? [[String: Any]])
        let configMount = try #require(mounts.first { $0["name"] as? String == "containerd-config" })
        #expect(configMount["mountPath"] as? String == "/host/etc/containerd" && configMount["readOnly"] as? Bool == true)
        let volumes = try #require(Self.dig(pod, "volumes") as? [[String: Any]])
        #expect(volumes.first { $0["name"] as? String == "containerd-config" }.map { Self.dig($0, "hostPath.path") as? String } == "/etc/containerd")
        var noCheck = Self.base
        noCheck["p2p"] = ["registryInstances": "r.example.com", "containerdConfig": ["configFile": ""]]
        let unchecked = try await chart.objects(noCheck)
        let uncheckedMounts = Self.dig(object(unchecked, "DaemonSet"), "spec.template.spec.containers.0.volumeMounts") as? [[String: Any]]
        #expect(uncheckedMounts?.contains { $0["name"] as? String == "containerd-config" } == false)
        #expect(((Self.dig(object(unchecked, "ConfigMap"), "data") as? [String: Any])?["agent.yaml"] as? String)?.contains(#"containerdConfig: """#) == true)

        let deploy = try #require(object(objects, "Deployment"))
        #expect(Self.dig(deploy, "spec.replicas") as? Int == 2)
        let args = try #require(Self.dig(deploy, "spec.template.spec.containers.0.args") as? [String])
        #expect(args.contains("--registry-instances=test-registry-vpc.cn-hangzhou.cr.aliyuncs.com,cri-abc123"))
        #expect(args.contains("--agent-port=65001"))
        #expect(Self.dig(deploy, "spec.template.spec.securityContext.runAsNonRoot") as? Bool == true)
        #expect(Self.dig(object(objects, "PodDisruptionBudget"), "spec.minAvailable") as? Int == 1)

        let webhook = try #require(object(objects, "MutatingWebhookConfiguration"))
        let hooks = try #require(webhook["webhooks"] as? [[String: Any]])
        #expect(hooks.count == 2)
        for h in hooks {
            #expect(h["failurePolicy"] as? String == "Ignore")
            #expect(h["timeoutSeconds"] as? Int == 5)
            #expect(h["sideEffects"] as? String == "NoneOnDryRun")
            #expect(h["reinvocationPolicy"] as? String == "IfNeeded")
            #expect(h["admissionReviewVersions"] as? [String] == ["v1"])
            #expect(Self.dig(h, "rules.0.operations") as? [String] == ["CREATE"])
            #expect(Self.dig(h, "clientConfig.service.path") as? String == "/mutate")
            let exprs = Self.dig(h, "namespaceSelector.matchExpressions") as? [[String: Any]] ?? []
            #expect(exprs.contains { ($0["values"] as? [String]) == ["kube-system", "peerpull-system"] && $0["operator"] as? String == "NotIn" })
        }
        // Label keys have dots, so the selectors are read as maps, not through `dig`.
        #expect((Self.dig(hooks[0], "objectSelector.matchLabels") as? [String: String])?["k8s.aliyun.com/image-accelerate-mode"] == "p2p")
        #expect((Self.dig(hooks[1], "objectSelector.matchExpressions.0") as? [String: Any])?["operator"] as? String == "DoesNotExist")

        // RBAC: the controller may only touch namespaces, secrets and its own webhook configuration.
        let rules = try #require(object(objects, "ClusterRole", suffix: "-controller")?["rules"] as? [[String: Any]])
        #expect(Set(rules.flatMap { $0["resources"] as? [String] ?? [] }) == ["namespaces", "secrets", "mutatingwebhookconfigurations"])
        #expect(!rules.contains { ($0["verbs"] as? [String] ?? []).contains("delete") || ($0["resources"] as? [String] ?? []).contains("pods") })
        let agentRules = try #require(object(objects, "Role", suffix: "-agent")?["rules"] as? [[String: Any]])
        #expect(agentRules.flatMap { $0["verbs"] as? [String] ?? [] }.allSatisfy { ["get", "list", "watch"].contains($0) })
        // The controller follows the agent DaemonSet (no ready agent: pods left unchanged).
        #expect(args.contains("--agent-daemonset=p2p-ack-acr-acceleration-p2p-agent"))
        let controllerRole = try #require(object(objects, "Role", suffix: "-controller")?["rules"] as? [[String: Any]])
        #expect(controllerRole.contains { $0["resources"] as? [String] == ["daemonsets"] && $0["verbs"] as? [String] == ["get", "list", "watch"] })

        // helm uninstall: a pre-delete Job with its own account, the only one that may delete
        // secrets, removes the secrets the controller made.
        let job = try #require(object(objects, "Job"))
        let annotations = Self.dig(job, "metadata.annotations") as? [String: String]
        #expect(annotations?["helm.sh/hook"] == "pre-delete")
        #expect(Self.dig(job, "spec.template.spec.containers.0.args") as? [String] == ["controller", "--remove-generated-secrets", "--log-level=info"])
        #expect(Self.dig(job, "spec.template.spec.serviceAccountName") as? String == "p2p-ack-acr-acceleration-p2p-uninstall")
        let hookRules = try #require(object(objects, "ClusterRole", suffix: "-uninstall")?["rules"] as? [[String: Any]])
        #expect(hookRules.count == 1 && hookRules[0]["resources"] as? [String] == ["secrets"] && hookRules[0]["verbs"] as? [String] == ["list", "delete"])
        for o in objects where (o["metadata"] as? [String: Any]).flatMap({ ($0["name"] as? String)?.hasSuffix("-uninstall") }) == true {
            #expect((Self.dig(o, "metadata.annotations") as? [String: String])?["helm.sh/hook"] == "pre-delete", "\(o["kind"] ?? "")")
        }
    }

    @Test func valuesReachTheObjects() async throws {
        let objects = try await chart.objects([
            "p2p": ["port": 5001, "registryInstances": "harbor.example.com", "ratelimit": "1G", "cacheSize": "50Gi",
                    "containerdConfig": ["enabled": false], "swarm": ["enabled": false],
                    "originCACert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"],
            "controller": ["ramRole": "acr-reader", "replicas": 3],
            "metrics": ["serviceMonitor": ["enabled": true]],
            "webhook": ["excludedNamespaces": ["kube-system", "monitoring"]],
            "logLevel": "debug",
        ])
        let ds = try #require(object(objects, "DaemonSet"))
        #expect(Self.dig(ds, "spec.template.spec.containers.0.ports.0.containerPort") as? Int == 5001)
        #expect(Self.dig(ds, "spec.template.spec.initContainers") == nil)
        let config = try #require((Self.dig(object(objects, "ConfigMap"), "data") as? [String: Any])?["agent.yaml"] as? String)
        #expect(config.contains("port: 5001") && config.contains(#"ratelimit: "1G""#) && config.contains(#"cacheSize: "50Gi""#))
        #expect(config.contains(#"ramRole: "acr-reader""#))
        // A private registry CA: a file of the agent's ConfigMap, named in its settings.
        #expect(config.contains("originCACert: /etc/peerpull/origin-ca.crt"))
        #expect((Self.dig(object(objects, "ConfigMap"), "data") as? [String: Any])?["origin-ca.crt"] as? String
                    == "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
        let args = try #require(Self.dig(object(objects, "Deployment"), "spec.template.spec.containers.0.args") as? [String])
        #expect(args.contains("--ram-role=acr-reader") && args.contains("--agent-port=5001") && args.contains("--log-level=debug"))
        #expect(args.contains("--excluded-namespaces=kube-system,monitoring,peerpull-system"))
        #expect(Self.dig(object(objects, "Deployment"), "spec.replicas") as? Int == 3)
        #expect(object(objects, "ServiceMonitor") != nil)
        #expect(object(objects, "Secret") == nil, "no swarm, no peer secret")
        #expect((Self.dig(ds, "spec.template.spec.containers.0.args") as? [String])?.contains { $0.hasPrefix("--membership-service") } == false)
    }

    @Test("the schema refuses bad values with a message naming them", arguments: [
        (#"{"p2p":{"port":70000}}"#, "/p2p/port"),
        (#"{"p2p":{"port":"65001"}}"#, "/p2p/port"),
        (#"{"p2p":{"ratelimit":"fast"}}"#, "/p2p/ratelimit"),
        (#"{"p2p":{"cacheSize":"lots"}}"#, "/p2p/cacheSize"),
        (#"{"webhook":{"timeoutSeconds":10}}"#, "/webhook/timeoutSeconds"),
        (#"{"webhook":{"failurePolicy":"Maybe"}}"#, "/webhook/failurePolicy"),
        (#"{"logLevel":"loud"}"#, "/logLevel"),
        (#"{"p2p":{"swarm":{"existingSecret":"Team Key"}}}"#, "/p2p/swarm/existingSecret"),
        (#"{"agent":{"updateStrategy":{"type":"Recreate"}}}"#, "/agent/updateStrategy/type"),
        (#"{"agent":{"updateStrategy":{"rollingUpdate":{"maxUnavailable":"ten"}}}}"#, "/agent/updateStrategy/rollingUpdate/maxUnavailable"),
        (#"{"agent":{"terminationGracePeriodSeconds":-1}}"#, "/agent/terminationGracePeriodSeconds"),
        (#"{"agent":{"podAnnotations":{"a":1}}}"#, "/agent/podAnnotations/a"),
        (#"{"agent":{"extraArgs":"--log-level=debug"}}"#, "/agent/extraArgs"),
        (#"{"agent":{"extraEnv":[{"value":"UTC"}]}}"#, "/agent/extraEnv/0"),
    ])
    func schemaRefusesBadValues(json: String, path: String) async throws {
        let values = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        var merged = values
        var p2p = (values["p2p"] as? [String: Any]) ?? [:]
        p2p["registryInstances"] = p2p["registryInstances"] ?? "r.example.com"
        merged["p2p"] = p2p
        do {
            _ = try await chart.render(merged)
            Issue.record("Helm accepted \(values)")
        } catch let refused as HelmChart.Refused {
            #expect(refused.description.contains(path), "\(refused.description)")
        }
    }

    @Test func lintsCleanly() async throws {
        let report = try await chart.lint(Self.base)
        #expect((report["errors"] as? [Any])?.isEmpty == true, "\(report)")
        let messages = report["messages"] as? [[String: Any]] ?? []
        #expect(!messages.contains { ($0["severity"] as? Int ?? 0) >= 2 }, "\(messages)")
    }
}
