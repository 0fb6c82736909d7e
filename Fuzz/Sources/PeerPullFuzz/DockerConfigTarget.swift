import Controller
import Foundation
import Kubernetes
import OCI

/// Pull secrets (`.dockerconfigjson` and the legacy `.dockercfg`), kubelet's key matching,
/// and the copy the controller writes for the P2P hosts.
///
/// Input: an image reference on the first line, the secret's JSON after it.
///
/// Properties: a config the controller reads writes back (`encoded()`) to an equal config;
/// a key naming the image's registry (bare, with `https://` and `/v2/`, or with the
/// repository) covers it; the copy is itself a readable pull secret that keeps every
/// entry of other registries, and when a key of the original covers the image at an
/// accelerated registry, a key of the copy covers the rewritten image, as kubelet will
/// look it up at the P2P host.
enum DockerConfigTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        let (firstLine, rest) = bytes.firstLineAndRest
        let json = Data(rest)
        let reference = try? ImageReference(parsing: firstLine.text)
        if let reference {
            let domain = reference.domain, repository = reference.repository
            for key in [domain, "https://\(domain)/v2/", "http://\(domain)/v1/", "\(domain)/\(repository)", domain.uppercased()] {
                require(DockerConfig.key(key, covers: domain, repository: repository), "key \(key) does not cover \(reference)")
            }
        }
        for format in [DockerConfig.Format.dockerConfigJSON, .dockerCfg] {
            guard let config = DockerConfig(format: format, json: json) else { continue }
            let written = config.encoded()
            require(DockerConfig(format: format, json: written) == config,
                    "\(format) config does not survive encoded(): \(String(decoding: written.prefix(300), as: UTF8.self))")
            if let reference { checkCopy(config, format: format, json: json, reference: reference) }
        }
    }

    static func checkCopy(_ config: DockerConfig, format: DockerConfig.Format, json: Data, reference: ImageReference) {
        let origin = reference.domain.lowercased()
        let policy = ControllerPolicy(registries: [origin])
        var meta = ObjectMeta(name: "regcred", namespace: "team-a")
        meta.uid = "7c1d"
        let source = Secret(metadata: meta, type: format.rawValue,
                            data: [format.dataKey: json.base64EncodedString()])
        let covers = config.entries.prefix(PodMutator.maximumEntriesPerSecret).contains {
            DockerConfig.key($0.key, covers: origin, repository: reference.repository)
        }
        guard let copy = PullSecretMirror(store: InMemorySecretStore(), policy: policy).copy(of: source) else {
            require(!covers || policy.rule.p2pDomain(forOrigin: origin) == nil,
                    "no copy of a secret whose keys cover \(reference) at accelerated \(origin)")
            return
        }
        guard let copied = DockerConfig(secret: copy) else { fatalError("property violated: the copy of a pull secret is not one") }
        require(copied.format == format, "the copy is a \(copied.format), the source a \(format)")
        for (key, entry) in config.entries {
            let moved = DockerConfig.key(key, covers: origin, repository: {
                let path = DockerConfig.path(of: key)
                return path.isEmpty ? "x" : String(path.dropFirst()) + "/x"
            }())
            if !moved {
                require(copied.entries.contains { $0.key == key && $0.entry == entry }, "entry \(key) of another registry is not kept in the copy")
            }
        }
        if covers, let p2p = policy.rule.p2pDomain(forOrigin: origin) {
            require(copied.entries.contains { DockerConfig.key($0.key, covers: p2p, repository: reference.repository) },
                    "no key of the copy covers \(p2p)/\(reference.repository); keys: \(copied.entries.map(\.key).prefix(8))")
        }
    }
}
