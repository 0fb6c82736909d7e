import CloudRegistries
import OCI
import Settings

extension ControllerSettings: DeclaredSettings {
    /// Every setting of `peerpull controller`: its flag, `--config` key, chart value,
    /// default, help and checks. docs/configuration.md is generated from this table.
    public static let settingTable = SettingTable<ControllerSettings>([
        .list(\.registryInstances, yaml: "registryInstances", flag: "registry-instances", chart: "p2p.registryInstances",
              help: "Registry domains and ACR instance ids (cri-…) to accelerate, comma-separated.", valid: registryListProblem),
        .list(\.anonymousRegistries, yaml: "anonymousRegistries", flag: "anonymous-registries", chart: "p2p.anonymousRegistries",
              help: "Registries whose images are rewritten even without a pull secret (public content); comma-separated.", valid: registryListProblem),
        .number(\.agentPort, in: 1...65535, yaml: "agentPort", flag: "agent-port", chart: "p2p.port",
                help: "The agent port in the P2P host names."),
        .text(\.labelKey, yaml: "labelKey", flag: nil, help: "The label that asks for a pod's images to be pulled through the agents."),
        .text(\.labelValue, yaml: "labelValue", flag: nil, help: "The value of labelKey that asks for it."),
        .list(\.excludedNamespaces, yaml: "excludedNamespaces", flag: "excluded-namespaces", chart: "webhook.excludedNamespaces",
              help: "Namespaces never touched, comma-separated (the controller's own is always added)."),
        .text(\.namespace, yaml: "namespace", flag: "namespace", default: "the pod's, else kube-system",
              help: "The controller's namespace: its webhook certificate, the swarm's key and the agents' DaemonSet are there."),
        .text(\.serviceName, yaml: "serviceName", flag: "service-name", help: "The controller's Service name (the certificate's names)."),
        .text(\.webhookConfiguration, yaml: "webhookConfiguration", flag: "webhook-configuration",
              help: "The MutatingWebhookConfiguration whose caBundle the controller keeps current."),
        .optionalText(\.agentDaemonSet, yaml: nil, flag: "agent-daemonset",
                      help: "The agents' DaemonSet in namespace (the chart's <release>-agent): while it is missing or not every node that should run an agent has a ready one, pods are admitted unchanged. Unset: always rewrite."),
        .optionalText(\.swarmSecret, yaml: "swarmSecret", flag: "swarm-secret", chart: "p2p.swarm.enabled", emptyIsUnset: true,
                      help: "A Secret in namespace holding the swarm's peer-signing key (the chart's <fullname>-swarm, unless p2p.swarm.existingSecret names one): created with a random key when absent, never changed. Unset: none is made.",
                      valid: { name in
                          guard let name, name.count > 253 || name.wholeMatch(of: /[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/) == nil else { return nil }
                          return "\"\(name.prefix(100))\" is not a Secret name (lower-case letters, digits, '-' and '.')"
                      }),
        .text(\.listen, yaml: "listen", flag: "listen", help: "Address to listen on."),
        .number(\.port, in: 1...65535, yaml: "port", flag: "port", chart: "controller.port", help: "HTTPS port of the webhook."),
        .optionalText(\.tlsCertFile, yaml: "tlsCertFile", flag: "tls-cert-file", chart: "webhook.certManager.enabled",
                      help: "Serving certificate (PEM) mounted by cert-manager; the controller then leaves caBundle alone."),
        .optionalText(\.tlsKeyFile, yaml: "tlsKeyFile", flag: "tls-key-file", chart: "webhook.certManager.enabled", help: "Key of tlsCertFile."),
        .list(\.certificateIPAddresses, yaml: nil, flag: "tls-ip",
              help: "Extra IP address for the generated certificate (e.g. 127.0.0.1 when the API server calls a URL); the flag repeated for several."),
        .optionalText(\.kubeconfig, yaml: "kubeconfig", flag: "kubeconfig", help: "kubeconfig file, when not running in a pod."),
        .optionalText(\.ramRole, yaml: "ramRole", flag: "ram-role", chart: "controller.ramRole", emptyIsUnset: true,
                      help: "RAM role for the ACR OpenAPI (resolves cri-… instance ids)."),
        .optionalText(\.acrRegion, yaml: "acrRegion", flag: "acr-region", chart: "controller.region", default: "the node's (ECS metadata)",
                      help: "ACR region of the instance ids."),
        .optionalText(\.acrEndpoint, yaml: "acrEndpoint", flag: "acr-endpoint", default: "https://cr.<region>.aliyuncs.com",
                      help: "ACR OpenAPI endpoint."),
        .optionalText(\.ecsMetadataEndpoint, yaml: nil, flag: "ecs-metadata-endpoint", default: "http://100.100.100.200",
                      help: "ECS metadata service (the node's region)."),
        .logLevel(\.logLevel, yaml: "logLevel", flag: "log-level", chart: "logLevel",
                  help: "Log level: trace, debug, info, notice, warning, error, critical."),
    ])
}

