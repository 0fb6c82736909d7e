/// The parts of Kubernetes objects the controller reads and writes. Decoding ignores
/// every other field; objects the controller writes (Secrets) are complete as sent.
public struct ObjectMeta: Codable, Sendable, Equatable {
    public var name: String?
    public var generateName: String?
    public var namespace: String?
    public var uid: String?
    public var resourceVersion: String?
    public var labels: [String: String]?
    public var annotations: [String: String]?
    public var ownerReferences: [OwnerReference]?

    public init(name: String? = nil, namespace: String? = nil, labels: [String: String]? = nil, annotations: [String: String]? = nil) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
    }
}

public struct OwnerReference: Codable, Sendable, Equatable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var uid: String
    public var controller: Bool?
    public var blockOwnerDeletion: Bool?

    public init(apiVersion: String, kind: String, name: String, uid: String, controller: Bool? = nil, blockOwnerDeletion: Bool? = nil) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.uid = uid
        self.controller = controller
        self.blockOwnerDeletion = blockOwnerDeletion
    }
}

public struct Container: Codable, Sendable, Equatable {
    public var name: String
    public var image: String?

    public init(name: String, image: String?) {
        self.name = name
        self.image = image
    }
}

public struct LocalObjectReference: Codable, Sendable, Equatable, Hashable {
    public var name: String

    public init(name: String) { self.name = name }
}

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

public struct Pod: Codable, Sendable, Equatable {
    public var metadata: ObjectMeta
    public var spec: PodSpec

    public init(metadata: ObjectMeta, spec: PodSpec) {
        self.metadata = metadata
        self.spec = spec
    }
}

public struct Secret: Codable, Sendable, Equatable {
    public var apiVersion: String? = "v1"
    public var kind: String? = "Secret"
    public var metadata: ObjectMeta
    public var type: String?
    /// Base64 values, as the API serves them.
    public var data: [String: String]?

    public init(metadata: ObjectMeta, type: String?, data: [String: String]?) {
        self.metadata = metadata
        self.type = type
        self.data = data
    }
}

public struct Namespace: Codable, Sendable, Equatable {
    public var metadata: ObjectMeta
}

/// A `List` response: items and the resourceVersion to watch from.
public struct ObjectList<Item: Codable & Sendable>: Codable, Sendable {
    public struct ListMeta: Codable, Sendable {
        public var resourceVersion: String?
        /// Set when the list is paged (`limit`) and more items follow.
        public var `continue`: String?
    }
    public var metadata: ListMeta
    public var items: [Item]
}

/// The part of an apps/v1 DaemonSet the controller reads: how many of its pods are ready.
public struct DaemonSet: Codable, Sendable, Equatable {
    public struct Status: Codable, Sendable, Equatable {
        public var numberReady: Int?
        public init(numberReady: Int?) { self.numberReady = numberReady }
    }
    public var metadata: ObjectMeta
    public var status: Status?

    public init(metadata: ObjectMeta, status: Status?) {
        self.metadata = metadata
        self.status = status
    }
}
