/// The mesh's timing: what the agent and the simulator both wait for.
public struct MeshCadence: Sendable {
    /// A download's clock: orphans, refills, keep-alives are looked at this often.
    public var tick: Duration = .milliseconds(100)
    /// Keep-alives to the blob's coordinator while pulling, and once the blob is held.
    public var keepAlive: Duration = .seconds(5)
    public var keepAliveHeld: Duration = .seconds(10)
    /// A coordinator that has not answered in this long is given up on; the message is sent
    /// again (to the blob's coordinator then).
    public var coordinatorTimeout: Duration = .milliseconds(500)
    /// Sessions a node accepts per blob, as a multiple of the neighbours it dials.
    public var inboundFactor = 2
    public init() {}
}
