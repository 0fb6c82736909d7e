import Agent
import CFuzzSupport
import Controller
import OCI
import Settings
#if canImport(Glibc)
import Glibc
#endif

/// The agent's and the controller's `--config` YAML files, read through their settings'
/// declarations (`AgentSettings.settingTable`, `ControllerSettings.settingTable`) as the
/// commands read them, and validated as the commands validate them.
///
/// Properties: every refusal names a setting of that file, the file itself, or the
/// unknown field it refuses; settings that validate stay valid when validated again,
/// unchanged.
enum SettingsTarget {
    /// The input goes to the readers as `/proc/self/fd/<memfd>`: nothing is written to disk.
    static let file: (fd: CInt, path: String) = {
        let fd = peerpull_fuzz_memfd()
        precondition(fd >= 0, "memfd_create failed")
        return (fd, "/proc/self/fd/\(fd)")
    }()

    static func run(_ bytes: UnsafeRawBufferPointer) {
        // An empty file means no settings (`Yams.load` gives nil). It is skipped here
        // because swift-foundation's `FileManager.contents(atPath:)` on Linux leaks its
        // 4 KiB buffer for a file of size 0, which LeakSanitizer would report every time.
        guard !bytes.isEmpty else { return }
        precondition(ftruncate(file.fd, 0) == 0 && pwrite(file.fd, bytes.baseAddress, bytes.count, 0) == bytes.count, "memfd write")
        var agent = AgentSettings()
        do {
            try AgentSettings.settingTable.apply(file: file.path, to: &agent)
            let valid = try agent.validated()
            let again = try? valid.validated()
            require(again == valid, "validated agent settings change when validated again")
        } catch {
            require(namesASetting(error, AgentSettings.settingTable.yamlKeys), "agent refusal names no setting: \(error)")
        }

        var controller = ControllerSettings()
        do {
            try ControllerSettings.settingTable.apply(file: file.path, to: &controller)
            try controller.validate()
            _ = ControllerPolicy(registries: controller.registryInstances)
        } catch {
            require(namesASetting(error, ControllerSettings.settingTable.yamlKeys), "controller refusal names no setting: \(error)")
        }
    }

    static func namesASetting(_ error: SettingError, _ fields: [String]) -> Bool {
        fields.contains(error.field) || ["--config", "(top level)"].contains(error.field) || error.problem.hasPrefix("is not a known setting")
    }
}
