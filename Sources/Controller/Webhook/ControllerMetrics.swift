import Prometheus

/// The controller's Prometheus metrics (its own registry, like the agent's). Every
/// series exists from the start, so admission only increments.
public final class ControllerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// mutated, unchanged, ignored (not a pod CREATE), error (admitted unchanged), invalid (400).
    static let admissionResults = ["mutated", "unchanged", "ignored", "error", "invalid"]
    private let admissions: [String: Counter]
    private let secretSyncs: [String: Counter]
    private let admissionDuration: DurationHistogram

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        func counters(_ name: String, _ help: String, _ label: String, _ values: [String]) -> [String: Counter] {
            Dictionary(uniqueKeysWithValues: values.map { v in
                (v, registry.makeCounter(
                    descriptor: .init(namespace: "peerpull", subsystem: "controller", metricName: name, unitName: "total", helpText: help),
                    labels: [(label, v)]))
            })
        }
        admissions = counters("admissions", "Pod admission reviews by outcome: mutated, unchanged, ignored (not a pod CREATE), error (admitted unchanged), invalid (400).",
                              "result", Self.admissionResults)
        secretSyncs = counters("secret_syncs", "Pull-secret copies re-synced after their source changed, by outcome.", "result", ["ok", "error"])
        admissionDuration = registry.makeDurationHistogram(
            descriptor: .init(namespace: "peerpull", subsystem: "controller", metricName: "admission_duration", unitName: "seconds",
                              helpText: "Time to answer an admission review, secret creation included."),
            labels: [], buckets: [.milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5)])
    }

    func admission(_ result: String, duration: Duration) {
        admissions[result]?.increment()
        admissionDuration.record(duration)
    }

    func secretSync(_ result: String) { secretSyncs[result]?.increment() }

    public func render() -> String { registry.emitToString() }
}
