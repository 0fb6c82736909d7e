/// How often an agent ticks its downloads and talks to coordinators: one set of numbers
/// for the agent's download loop and for the simulator, so that what the simulator
/// predicts is what the agent does.
public enum SwarmCadence {
    /// A download's scheduler is ticked this often (timeouts, rests, orphans).
    public static let tick: Duration = .milliseconds(100)
    /// A download announces at least this often. A blob's coordinator hears from every
    /// agent fetching it, and too often keeps it too busy to answer within the budget
    /// (docs/decisions/swarm-tuning.md#the-announcement-pace).
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
    /// A first coordinator that did not answer (and has not answered since) is passed over
    /// for this long: the others are asked at once with the whole budget. Asked first on
    /// every round, a stopped coordinator cost each announcement its share of the budget,
    /// and a lone fetcher, refilled by announcements, waited for it between deals.
    public static let coordinatorRetry: Duration = .seconds(5)
    /// Announcements a coordinator lets wait for it, at most; one more is refused at once
    /// (503), and its agent keeps its last answer or asks another coordinator. At about
    /// 100 µs each, the last waits 0.1 s. Unbounded, a swamped coordinator's queue grows
    /// for as long as the rollout lasts, each answer computed after its asker gave up
    /// (docs/decisions/swarm-tuning.md#the-coordinators-queue).
    public static let coordinatorQueue = 1_000

    /// Whether a coordinator that answered `since` ago, asking for announcements every
    /// `announceEvery`, counts as alive (then it alone gets the whole budget).
    public static func alive(since: Duration, announceEvery: Duration) -> Bool {
        since < aliveWindow + announceEvery
    }

    /// How much later than its pace a download announces after its first coordinator
    /// refused it, busy: a random share (`random` in 0..<1) of one interval. Agents that
    /// started together announce together, and those refused together were told the same
    /// interval: without the spread they came back together every interval, most refused
    /// for good (docs/decisions/swarm-tuning.md#refused-announcements-spread-over-one-interval).
    public static func delayAfterRefusal(announceEvery every: Duration, random: Double) -> Duration {
        max(every, announceEvery) * min(max(random, 0), 1)
    }

    /// Whether a fetching download announces now: `since` its last announcement, with a new
    /// piece since then or not, at the pace its coordinator asked for (`announceEvery`).
    /// An origin fetcher about to run out of dealt pieces (`PieceScheduler.wantsDeals`)
    /// announces at once, whatever the pace: waiting for the cadence left the origin link
    /// idle between deals (docs/decisions/swarm-tuning.md#announcing-at-once-when-dealt-work-runs-low).
    /// A blob has at most
    /// `CoordinatorState.Configuration.originFetchers` of them, so the pace still holds
    /// for everyone else.
    public static func announceDue(since: Duration, newPiece: Bool, announceEvery: Duration, wantsDeals: Bool = false) -> Bool {
        wantsDeals || since > max(newPiece ? announceAfterPiece : SwarmCadence.announceEvery, announceEvery)
    }
}
