import Logging

/// An invalid setting of the agent or the controller, naming the field (its YAML name
/// or its flag) so an operator knows what to fix.
public struct SettingError: Error, Sendable, Equatable, CustomStringConvertible {
    public let field: String
    public let problem: String

    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }

    public var description: String { "invalid setting \(field): \(problem)" }

    /// A log level as written in a setting.
    public static func logLevel(_ text: String, field: String = "logLevel") throws(SettingError) -> Logger.Level {
        guard let level = Logger.Level(rawValue: text) else {
            throw SettingError(field: field, problem: "\"\(text.prefix(40))\" is not one of trace, debug, info, notice, warning, error, critical")
        }
        return level
    }
}
