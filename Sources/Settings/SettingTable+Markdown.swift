import Foundation

extension SettingTable {
    /// The settings as a Markdown table: flag, YAML key, chart value, default, meaning.
    public var markdown: String {
        var lines = ["| Flag | YAML key | Chart value | Default | Meaning |", "|---|---|---|---|---|"]
        for d in declarations {
            let cells = [
                Self.code(d.flag.map { "--\($0)" }), Self.code(d.yamlKey), Self.code(d.chartValue),
                d.defaultValue.isEmpty ? "—" : Self.escape(d.defaultValue), Self.escape(d.help),
            ]
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The settings as plain values (for the chart's tests, through `peerpull settings --json`).
    public var summaries: [[String: String]] {
        declarations.map { d in
            var s = ["name": d.name, "kind": d.kind.rawValue, "default": d.defaultValue, "help": d.help]
            s["flag"] = d.flag
            s["yamlKey"] = d.yamlKey
            s["chartValue"] = d.chartValue
            return s
        }
    }

    private static func code(_ text: String?) -> String { text.map { "`\($0)`" } ?? "—" }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "<", with: "&lt;")
    }
}
