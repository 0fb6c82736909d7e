import Foundation
import Logging
import OCI

/// A settings struct whose settings are declared once, in `settingTable`: the command
/// line, the `--config` file, docs/configuration.md and the chart's tests all read it.
public protocol DeclaredSettings: Sendable {
    /// The defaults.
    init()
    static var settingTable: SettingTable<Self> { get }
}

/// How a setting is written in a YAML file; on the command line every value is text.
public enum SettingKind: String, Sendable {
    /// Text (`20Gi`, `/var/lib/peerpull`); YAML numbers and booleans are taken as written.
    case text
    /// A whole number; YAML must give a number (`512`, not `"512"`).
    case wholeNumber
    /// A YAML list or a comma-separated string; on the command line a comma-separated
    /// value, or the flag repeated when the command takes it that way.
    case list
}

/// A setting's value as a flag or a file gives it, before the setting parses it.
public enum SettingValue: Sendable, Equatable {
    case text(String)
    case list([String])
}

/// One setting, declared once: its flag, YAML key, chart value, default, help, and how a
/// value is parsed, checked and stored.
///
/// ```swift
/// .parsed(\.cacheSize, yaml: "cacheSize", flag: "cache-size", chart: "p2p.cacheSize",
///         help: "Cache size limit, e.g. 20Gi, 500Mi, 10G; 0 turns the cache off.",
///         parse: ByteSize.init(parsing:))
/// ```
public struct SettingDeclaration<Root: DeclaredSettings>: Sendable {
    /// The YAML key when there is one, else the name it would have (camelCase).
    public let name: String
    /// The key in the `--config` file; nil: a flag only.
    public let yamlKey: String?
    /// The long flag without its dashes; nil: the file only.
    public let flag: String?
    /// The dotted path in the chart's values.yaml that sets it; nil: the chart sets it
    /// itself (a path, the release's names) or not at all.
    public let chartValue: String?
    /// What it means, for `--help` and the docs.
    public let help: String
    public let kind: SettingKind
    /// The default as an operator writes it ("" for none).
    public let defaultValue: String
    private let store: @Sendable (inout Root, SettingValue, String) throws(SettingError) -> Void
    private let check: @Sendable (Root) -> String?

    /// Parses `value` and stores it; errors name `field` (the flag or the YAML key).
    public func apply(_ value: SettingValue, to settings: inout Root, field: String) throws(SettingError) {
        try store(&settings, value, field)
    }

    /// The problem with this setting's value in `settings`, if any; the error names its YAML
    /// key (or its flag, for a flag only).
    public func validate(_ settings: Root) throws(SettingError) {
        if let problem = check(settings) { throw SettingError(field: yamlKey ?? "--\(flag ?? name)", problem: problem) }
    }

    /// The general form; the static functions below cover the usual kinds of value.
    public init<Value>(
        _ keyPath: any WritableKeyPath<Root, Value> & Sendable, kind: SettingKind, yaml: String?, flag: String?, chart: String?,
        default shown: String?, help: String,
        parse: @escaping @Sendable (SettingValue) throws -> Value, valid: @escaping @Sendable (Value) -> String?
    ) {
        precondition(yaml != nil || flag != nil, "a setting needs a YAML key or a flag")
        name = yaml ?? flag.map(Self.camelCase) ?? ""
        yamlKey = yaml
        self.flag = flag
        chartValue = chart
        self.help = help
        self.kind = kind
        defaultValue = shown ?? Self.describe(Root()[keyPath: keyPath])
        store = { settings, value, field throws(SettingError) in
            do { settings[keyPath: keyPath] = try parse(value) } catch let e as SettingError {
                throw SettingError(field: field, problem: e.problem)
            } catch { throw SettingError(field: field, problem: "\(error)") }
        }
        check = { valid($0[keyPath: keyPath]) }
    }

    /// Text that `parse` turns into the value (sizes, rates, addresses).
    public static func parsed<Value>(
        _ keyPath: any WritableKeyPath<Root, Value> & Sendable, yaml: String?, flag: String?, chart: String? = nil, default shown: String? = nil,
        help: String, parse: @escaping @Sendable (String) throws -> Value, valid: @escaping @Sendable (Value) -> String? = { _ in nil }
    ) -> Self {
        .init(keyPath, kind: .text, yaml: yaml, flag: flag, chart: chart, default: shown, help: help,
              parse: { try parse($0.text) }, valid: valid)
    }

    /// Text stored as written.
    public static func text(
        _ keyPath: any WritableKeyPath<Root, String> & Sendable, yaml: String?, flag: String?, chart: String? = nil, default shown: String? = nil,
        help: String, valid: @escaping @Sendable (String) -> String? = { _ in nil }
    ) -> Self {
        parsed(keyPath, yaml: yaml, flag: flag, chart: chart, default: shown, help: help, parse: { $0 }, valid: valid)
    }

    /// Optional text; with `emptyIsUnset`, "" means unset (a chart value left empty).
    public static func optionalText(
        _ keyPath: any WritableKeyPath<Root, String?> & Sendable, yaml: String?, flag: String?, chart: String? = nil, default shown: String? = nil,
        emptyIsUnset: Bool = false, help: String, valid: @escaping @Sendable (String?) -> String? = { _ in nil }
    ) -> Self {
        parsed(keyPath, yaml: yaml, flag: flag, chart: chart, default: shown, help: help,
               parse: { emptyIsUnset && $0.isEmpty ? nil : $0 }, valid: valid)
    }

    /// A whole number in `range`.
    public static func number(
        _ keyPath: any WritableKeyPath<Root, Int> & Sendable, in range: ClosedRange<Int>, yaml: String?, flag: String?, chart: String? = nil,
        help: String
    ) -> Self {
        .init(keyPath, kind: .wholeNumber, yaml: yaml, flag: flag, chart: chart, default: nil, help: help,
              parse: { value in
                  guard let n = Int(value.text) else { throw SettingError(field: "", problem: "\"\(value.text.prefix(40))\" is not a whole number") }
                  return n
              },
              valid: { n in
                  guard !range.contains(n) else { return nil }
                  return range == 1...65535 ? "\(n) is not a port between 1 and 65535" : "\(n) must be between \(range.lowerBound) and \(range.upperBound)"
              })
    }

    /// A list of text.
    public static func list(
        _ keyPath: any WritableKeyPath<Root, [String]> & Sendable, yaml: String?, flag: String?, chart: String? = nil, default shown: String? = nil,
        help: String, valid: @escaping @Sendable ([String]) -> String? = { _ in nil }
    ) -> Self {
        .init(keyPath, kind: .list, yaml: yaml, flag: flag, chart: chart, default: shown, help: help, parse: { $0.list }, valid: valid)
    }

    /// A log level: trace, debug, info, notice, warning, error or critical.
    public static func logLevel(
        _ keyPath: any WritableKeyPath<Root, Logger.Level> & Sendable, yaml: String?, flag: String?, chart: String? = nil, help: String
    ) -> Self {
        parsed(keyPath, yaml: yaml, flag: flag, chart: chart, help: help, parse: { try SettingError.logLevel($0) })
    }

    static func describe(_ value: Any) -> String {
        switch value {
        case let list as [String]: list.joined(separator: ", ")
        case let text as String?: text ?? ""
        default: "\(value)"
        }
    }

    static func camelCase(_ flag: String) -> String {
        let words = flag.split(separator: "-")
        return words.prefix(1).joined() + words.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }
}

extension SettingValue {
    /// The value as one text (a list joined with commas).
    public var text: String {
        switch self {
        case .text(let t): t
        case .list(let l): l.joined(separator: ",")
        }
    }

    /// The value as a list (text split at commas, blanks dropped).
    public var list: [String] {
        switch self {
        case .text(let t): SettingValue.split(t)
        case .list(let l): l
        }
    }

    /// `"a, b,,c"` as `["a", "b", "c"]`: the chart's comma-separated form.
    public static func split(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
