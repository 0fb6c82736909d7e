/// An observer that ignores everything.
public struct NoPullObserver: PullObserver {
    public init() {}
    public func pull(_ event: PullEvent) {}
}
