/// How often an agent ticks its downloads and talks to coordinators: one set of numbers
/// for the agent's download loop and for the simulator, so that what the simulator
/// predicts is what the agent does.
public enum SwarmCadence {
    /// A download's scheduler is ticked this often (timeouts, rests, orphans).
    public static let tick: Duration = .milliseconds(100)
    /// A download announces at least this often. A blob's coordinator hears from every
    /// agent fetching it; at N = 16 every 50 ms kept it too busy to answer within the budget.
    public static let announceEvery: Duration = .milliseconds(400)
    /// ...and on a new piece once this long has passed since its last announcement.
    public static let announceAfterPiece: Duration = .milliseconds(150)
    /// A held blob is announced again this often (well within the coordinators' holder TTL).
    public static let announceHeld: Duration = .seconds(4)
    /// Hashes sent with one announcement, at most (the rest go with the next ones).
    public static let hashesPerAnnouncement = 512
    /// How long an agent waits for a blob's coordinators before it goes to the origin.
    public static let coordinatorTimeout: Duration = .milliseconds(500)
    /// The share of `coordinatorTimeout` the first coordinator gets before the others are
    /// asked, unless it answered within `aliveWindow` (then it gets all of it, alone).
    public static let firstCoordinatorShare = 0.6
    /// Within this of its last answer a first coordinator counts as alive (shorter than
    /// the scheduler's `coordinatorLoss`, so a dead one is passed over before downloads
    /// give up on the swarm).
    public static let aliveWindow: Duration = .milliseconds(1500)
}
