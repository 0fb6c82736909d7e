public struct PodSpec: Codable, Sendable, Equatable {
    public var containers: [Container]
    /// Native sidecars (`restartPolicy: Always`) are init containers too.
    public var initContainers: [Container]?
    public var imagePullSecrets: [LocalObjectReference]?
    public var serviceAccountName: String?
    /// Only what the controller reads of each volume: its name and, for an image volume,
    /// the image it mounts.
    public var volumes: [Volume]?

    public init(containers: [Container], initContainers: [Container]? = nil, imagePullSecrets: [LocalObjectReference]? = nil,
                serviceAccountName: String? = nil, volumes: [Volume]? = nil) {
        self.containers = containers
        self.initContainers = initContainers
        self.imagePullSecrets = imagePullSecrets
        self.serviceAccountName = serviceAccountName
        self.volumes = volumes
    }
}

/// A pod volume; of its sources only `image` (Kubernetes 1.31+: an OCI image or artifact
/// mounted read-only, pulled by the kubelet with the pod's pull secrets like a container's).
public struct Volume: Codable, Sendable, Equatable {
    public var name: String
    public var image: ImageVolumeSource?

    public init(name: String, image: ImageVolumeSource? = nil) {
        self.name = name
        self.image = image
    }
}

public struct ImageVolumeSource: Codable, Sendable, Equatable {
    public var reference: String?

    public init(reference: String?) { self.reference = reference }
}
