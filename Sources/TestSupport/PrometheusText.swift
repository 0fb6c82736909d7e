import Testing

/// The value of one series in a Prometheus text page. A series that is not there (a
/// misspelt name, a label set never registered) records an issue and reads as NaN, so
/// that no comparison of two missing series can pass.
public func metric(_ text: String, _ series: String, sourceLocation: SourceLocation = #_sourceLocation) -> Double {
    for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
        return Double(line.split(separator: " ").last!) ?? .nan
    }
    Issue.record("no series \(series) in the metrics", sourceLocation: sourceLocation)
    return .nan
}
