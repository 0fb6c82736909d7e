public struct PodSpec: Codable, Sendable, Equatable {
    public var containers: [Container]
    public var initContainers: [Container]?
    public var imagePullSecrets: [LocalObjectReference]?
    public var serviceAccountName: String?

    public init(containers: [Container], initContainers: [Container]? = nil, imagePullSecrets: [LocalObjectReference]? = nil,
                serviceAccountName: String? = nil) {
        self.containers = containers
        self.initContainers = initContainers
        self.imagePullSecrets = imagePullSecrets
        self.serviceAccountName = serviceAccountName
    }
}
