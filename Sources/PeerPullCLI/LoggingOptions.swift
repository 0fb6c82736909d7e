import ArgumentParser
import Logging

/// `--log-level`, shared by every long-running subcommand.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func validate() throws {
        if Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level \"\(logLevel)\" is not one of trace, debug, info, notice, warning, error, critical")
        }
    }

    /// Sends logs to standard error at the chosen level.
    func bootstrap() {
        Self.bootstrap(level: Logger.Level(rawValue: logLevel) ?? .info)
    }

    static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
    }
}
