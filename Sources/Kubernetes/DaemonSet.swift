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
