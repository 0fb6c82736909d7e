/// Decides when an agent says that its swarm has no members: a member list that stays
/// empty for `after` (the membership watch failing, RBAC missing, a Service without
/// ready endpoints) is said once, as a warning, and its end once. A moment of emptiness
/// (a re-list, the agent's own first seconds before it is ready) is not.
public struct EmptySwarmAlarm: Sendable {
    public enum Action: Sendable, Equatable {
        /// The list has been empty this long: say so.
        case warn(emptyFor: Duration)
        /// Members again after a warning.
        case recovered(members: Int)
    }

    public let after: Duration
    private var emptySince: SwarmInstant?
    private var warned = false

    public init(after: Duration = .seconds(60)) { self.after = after }

    /// The member count seen at `now`; what to say, if anything.
    public mutating func observe(members: Int, now: SwarmInstant) -> Action? {
        if members > 0 {
            emptySince = nil
            defer { warned = false }
            return warned ? .recovered(members: members) : nil
        }
        let since = emptySince ?? now
        emptySince = since
        guard !warned, now - since >= after else { return nil }
        warned = true
        return .warn(emptyFor: now - since)
    }
}
