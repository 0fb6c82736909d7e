public struct Pod: Codable, Sendable, Equatable {
    public var metadata: ObjectMeta
    public var spec: PodSpec

    public init(metadata: ObjectMeta, spec: PodSpec) {
        self.metadata = metadata
        self.spec = spec
    }
}
