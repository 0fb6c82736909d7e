import NIOConcurrencyHelpers
import Prometheus

/// The controller's Prometheus metrics (its own registry, like the agent's).
public final class ControllerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let histograms = NIOLockedValueBox<[String: DurationHistogram]>([:])

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    func admission(_ result: String, duration: Duration) {
        registry.makeCounter(
            descriptor: .init(namespace: "peerpull", subsystem: "controller", metricName: "admissions", unitName: "total",
                              helpText: "Pod admission reviews by outcome: mutated, unchanged, ignored (not a pod CREATE), error (admitted unchanged), invalid (400)."),
            labels: [("result", result)]).increment()
        let h = histograms.withLockedValue { map -> DurationHistogram in
            if let h = map["all"] { return h }
            let h = registry.makeDurationHistogram(
                descriptor: .init(namespace: "peerpull", subsystem: "controller", metricName: "admission_duration", unitName: "seconds",
                                  helpText: "Time to answer an admission review, secret creation included."),
                labels: [], buckets: [.milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5)])
            map["all"] = h
            return h
        }
        h.record(duration)
    }

    func secretSync(_ result: String) {
        registry.makeCounter(
            descriptor: .init(namespace: "peerpull", subsystem: "controller", metricName: "secret_syncs", unitName: "total",
                              helpText: "Pull-secret copies re-synced after their source changed, by outcome."),
            labels: [("result", result)]).increment()
    }

    public func render() -> String { registry.emitToString() }
}
