import Swarm

/// Where an agent learns the other agents of its swarm.
public protocol SwarmMembers: Sendable {
    /// The members now.
    var current: [Member] { get async }
    /// Keeps `current` up to date until cancelled.
    func follow() async
}
