import Swarm
import Testing

@Suite("Empty swarm alarm")
struct EmptySwarmAlarmTests {
    static func t(_ s: Int) -> SwarmInstant { .seconds(s) }

    @Test func aListEmptyForAMinuteIsSaidOnceAndItsEndOnce() {
        var alarm = EmptySwarmAlarm(after: .seconds(60))
        #expect(alarm.observe(members: 0, now: Self.t(0)) == nil)
        #expect(alarm.observe(members: 0, now: Self.t(59)) == nil)
        #expect(alarm.observe(members: 0, now: Self.t(60)) == .warn(emptyFor: .seconds(60)))
        #expect(alarm.observe(members: 0, now: Self.t(120)) == nil, "said once")
        #expect(alarm.observe(members: 3, now: Self.t(121)) == .recovered(members: 3))
        #expect(alarm.observe(members: 3, now: Self.t(122)) == nil)
    }

    @Test func aMomentOfEmptinessIsNotSaid() {
        var alarm = EmptySwarmAlarm(after: .seconds(60))
        #expect(alarm.observe(members: 0, now: Self.t(0)) == nil)
        #expect(alarm.observe(members: 2, now: Self.t(30)) == nil, "no warning, so no recovery either")
        #expect(alarm.observe(members: 0, now: Self.t(40)) == nil)
        #expect(alarm.observe(members: 0, now: Self.t(99)) == nil, "the minute counts from the list's last emptying")
        #expect(alarm.observe(members: 0, now: Self.t(100)) == .warn(emptyFor: .seconds(60)))
    }
}
