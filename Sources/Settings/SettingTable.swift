import OCI

/// A command's settings, each declared once, in the order `--help` and the docs list them.
/// Settings come from the defaults, then the `--config` file, then flags.
public struct SettingTable<Root: DeclaredSettings>: Sendable {
    public let declarations: [SettingDeclaration<Root>]

    public init(_ declarations: [SettingDeclaration<Root>]) {
        let names = declarations.map(\.name)
        precondition(Set(names).count == names.count, "a setting is declared twice in \(names)")
        self.declarations = declarations
    }

    /// The declaration named `name` (its YAML key, or its flag in camelCase); a name that is
    /// not declared is a programming error.
    public subscript(_ name: String) -> SettingDeclaration<Root> {
        guard let d = declarations.first(where: { $0.name == name }) else { preconditionFailure("no setting \(name) in \(Root.self)") }
        return d
    }

    /// The keys a `--config` file may hold.
    public var yamlKeys: [String] { declarations.compactMap(\.yamlKey) }

    /// The defaults, then the YAML file at `path` when one is named, then the flags given
    /// (see `apply(flags:to:)`); not yet validated.
    public func read(file path: String?, flags: [String: SettingValue?]) throws(SettingError) -> Root {
        var settings = Root()
        if let path { try apply(file: path, to: &settings) }
        try apply(flags: flags, to: &settings)
        return settings
    }

    /// Applies the YAML file at `path` over `settings`; errors name the key.
    public func apply(file path: String, to settings: inout Root) throws(SettingError) {
        let file = try SettingsFile(path: path, known: yamlKeys)
        for d in declarations {
            guard let key = d.yamlKey else { continue }
            let value: SettingValue?
            switch d.kind {
            case .text: value = try file.string(key).map(SettingValue.text)
            case .wholeNumber: value = try file.int(key).map { .text(String($0)) }
            case .list: value = try file.strings(key).map(SettingValue.list)
            }
            if let value { try d.apply(value, to: &settings, field: key) }
        }
    }

    /// Applies the flags a command was given, by setting name (nil or an empty list: not
    /// given), over `settings`; errors name the flag. `flags` names every setting with a
    /// flag: a command that passes another set is a programming error, caught by any run.
    public func apply(flags: [String: SettingValue?], to settings: inout Root) throws(SettingError) {
        let declared = Set(declarations.filter { $0.flag != nil }.map(\.name))
        precondition(Set(flags.keys) == declared,
                     "the command passes the flags of \(flags.keys.sorted()), \(Root.self) declares \(declared.sorted())")
        for d in declarations {
            guard let flag = d.flag, let value = flags[d.name] ?? nil else { continue }
            if case .list(let l) = value, l.isEmpty { continue }
            try d.apply(value, to: &settings, field: "--\(flag)")
        }
    }

    /// Throws the first declared setting whose value in `settings` is out of bounds.
    public func validate(_ settings: Root) throws(SettingError) {
        for d in declarations { try d.validate(settings) }
    }
}
