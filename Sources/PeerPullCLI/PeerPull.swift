import ArgumentParser
import OCI

/// `peerpull`: one binary, one subcommand per role.
@main
struct PeerPull: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peerpull",
        abstract: "Peer-to-peer container image distribution for Kubernetes nodes.",
        version: PeerPullVersion.current,
        subcommands: [PullCommand.self, AgentCommand.self, ControllerCommand.self, StatusCommand.self, SimulateCommand.self, MakeTestImageCommand.self,
                      SettingsCommand.self]
    )
}
