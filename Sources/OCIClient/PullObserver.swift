/// Receives pull events; implementations must be cheap, they run on the transfer path.
public protocol PullObserver: Sendable {
    func pull(_ event: PullEvent)
}
