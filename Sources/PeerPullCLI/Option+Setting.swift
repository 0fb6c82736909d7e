import ArgumentParser
import Settings

// A setting's flag takes its name and help from the setting's declaration; the value is
// kept as written and parsed by the declaration, as the same key in the `--config` file is.

extension Option where Value == String? {
    init<Root>(_ setting: SettingDeclaration<Root>) {
        self.init(name: .customLong(setting.flag!), help: ArgumentHelp(setting.flagHelp, valueName: setting.valueName))
    }
}

extension Option where Value == [String] {
    /// A repeatable flag (`--origin a --origin b`).
    init<Root>(_ setting: SettingDeclaration<Root>) {
        self.init(wrappedValue: [], name: .customLong(setting.flag!), help: ArgumentHelp(setting.flagHelp, valueName: setting.valueName))
    }
}

extension SettingDeclaration {
    var flagHelp: String { defaultValue.isEmpty ? help : "\(help) (default: \(defaultValue))" }

    var valueName: String { flag ?? name }
}

extension SettingValue {
    /// A flag's value as given: nil when it was not.
    static func flag(_ text: String?) -> SettingValue? { text.map(SettingValue.text) }
    /// A repeatable flag's values: nil when it was not given.
    static func flag(_ list: [String]) -> SettingValue? { list.isEmpty ? nil : .list(list) }
}
