/// Polls `condition` every `interval` of real time, at most `limit`; false when it never held.
/// For a test that waits on something another task does (a download ending, a pod starting)
/// and that has no event to wait on instead.
public func eventually(within limit: Duration = .seconds(10), every interval: Duration = .milliseconds(5),
                       _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: interval)
    }
    return try await condition()
}
