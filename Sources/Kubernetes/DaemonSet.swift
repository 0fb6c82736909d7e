/// The part of an apps/v1 DaemonSet the controller reads: how many of its pods should run
/// and how many are ready.
public struct DaemonSet: Codable, Sendable, Equatable {
    public struct Status: Codable, Sendable, Equatable {
        /// Nodes that should run the DaemonSet's pod.
        public var desiredNumberScheduled: Int?
        /// Nodes whose pod is ready.
        public var numberReady: Int?
        public init(desiredNumberScheduled: Int? = nil, numberReady: Int?) {
            self.desiredNumberScheduled = desiredNumberScheduled
            self.numberReady = numberReady
        }
    }
    public var metadata: ObjectMeta
    public var status: Status?

    public init(metadata: ObjectMeta, status: Status?) {
        self.metadata = metadata
        self.status = status
    }
}
