import OCI

/// What the controller accelerates and how: the product's contract, configured once.
public struct ControllerPolicy: Sendable, Equatable {
    /// Origin registry domains (`host[:port]`, lower case) whose images are rewritten.
    public var registries: Set<String>
    /// Registries whose images may be rewritten without a pull secret (public content).
    public var anonymousRegistries: Set<String> = []
    public var rule = P2PHostRule()
    public var labelKey = "k8s.aliyun.com/image-accelerate-mode"
    public var labelValue = "p2p"
    /// Never touched: the system, and the namespace PeerPull itself runs in.
    public var excludedNamespaces: Set<String> = ["kube-system"]

    public static let modeAnnotation = "k8s.aliyun.com/image-accelerate-mode"
    public static let configAnnotation = "k8s.aliyun.com/p2p-config"
    public static let mirrorPodAnnotation = "kubernetes.io/config.mirror"

    public init(registries: some Sequence<String>) {
        self.registries = Set(registries.map { $0.lowercased() })
    }

    /// Opt-in: the pod's own label decides when present (another value opts out of a
    /// labelled namespace); otherwise the namespace's label.
    public func selects(podLabels: [String: String]?, namespaceLabels: [String: String]?) -> Bool {
        if let own = podLabels?[labelKey] { return own == labelValue }
        return namespaceLabels?[labelKey] == labelValue
    }

    /// `acr-credential-<name>-p2p`, the product's name for a secret's copy. Names are DNS
    /// subdomains of at most 253 characters: a longer one keeps a prefix and a hash.
    public static func copyName(of source: String) -> String {
        let name = "acr-credential-\(source)-p2p"
        guard name.count > 253 else { return name }
        let hash = Digest.compute(of: Array(source.utf8)).hex.prefix(10)
        return "acr-credential-\(source.prefix(253 - 30))-\(hash)-p2p"
    }
}
