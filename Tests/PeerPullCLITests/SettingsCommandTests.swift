import Foundation
import TestSupport
import Testing

/// `peerpull settings`: the settings' declarations, against the commands' flags and
/// docs/configuration.md.
@Suite("peerpull settings")
struct SettingsCommandTests {
    static let documentPath = HelmChart.repositoryRoot + "/docs/configuration.md"

    @Test func docsConfigurationIsTheGeneratedDocument() async throws {
        let generated = try await Command.run([TestImages.peerpullBinary, "settings"]).stdout
        let committed = try String(contentsOfFile: Self.documentPath, encoding: .utf8)
        #expect(committed == generated, "docs/configuration.md is out of date: run `swift run peerpull settings > docs/configuration.md`")
    }

    /// Options of a command that are not settings.
    static let actions: Set<String> = ["config", "setup-only", "undo-containerd-config", "remove-generated-secrets", "check-config",
                                       "help", "version"]

    @Test("every setting with a flag is an option of its command, and every option a setting or an action",
          arguments: ["agent", "controller"])
    func flagsAreTheDeclaredOnes(command: String) async throws {
        let json = try await Command.run([TestImages.peerpullBinary, "settings", "--json"]).stdout
        let all = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: [[String: String]]])
        let declared = try #require(all[command])
        let help = try await Command.run([TestImages.peerpullBinary, command, "--help"]).stdout
        let options = Set(help.split(separator: "\n").compactMap { line in
            line.firstMatch(of: /^ {2}(?:-[a-z], )?--([a-z0-9-]+)/).map { String($0.output.1) }
        })
        let flags = Set(declared.compactMap { $0["flag"] })
        #expect(flags.subtracting(options).isEmpty, "declared but not options of \(command): \(flags.subtracting(options).sorted())")
        #expect(options.subtracting(flags).subtracting(Self.actions).isEmpty,
                "options of \(command) that no setting declares: \(options.subtracting(flags).subtracting(Self.actions).sorted())")
    }
}
