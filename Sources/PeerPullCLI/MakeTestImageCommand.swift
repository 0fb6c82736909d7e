import ArgumentParser
import OCI
import SyntheticImages

struct MakeTestImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-test-image",
        abstract: "Write a synthetic image (random gzip'd tar layers) into an OCI layout, for demos and benchmarks."
    )

    @Option(name: .shortAndLong, help: "OCI image layout directory to write.")
    var output: String

    @Option(help: "Tag to record in the layout's index.json.")
    var tag = "latest"

    @Option(help: "Comma-separated layer sizes, e.g. 4M,16M,1G (K/M/G are powers of 1024).")
    var layers = "4M,16M"

    @Option(help: "Comma-separated platforms; more than one writes an image index.")
    var platforms = Platform.host.description

    @Option(help: "Seed for the random content: the same seed gives the same image.")
    var seed: UInt64 = 1

    func run() throws {
        var sizes: [Int] = []
        for part in layers.split(separator: ",") {
            guard let n = Self.size(String(part)) else {
                throw ValidationError("--layers: \"\(part)\" is not a size like 512K, 16M or 1G")
            }
            sizes.append(n)
        }
        var list: [Platform] = []
        for part in platforms.split(separator: ",") {
            guard let p = Platform(parsing: String(part)) else {
                throw ValidationError("--platforms: \"\(part)\" must look like os/arch[/variant]")
            }
            list.append(p)
        }
        guard !sizes.isEmpty, !list.isEmpty else { throw ValidationError("need at least one layer and one platform") }
        do {
            let layout = try OCILayout(root: output)
            let top = try SyntheticImage(layerSizes: sizes, platforms: list, seed: seed).write(to: layout, tag: tag)
            print("\(top.digest) \(top.mediaType)")
        } catch {
            throw CLIError(error.description)
        }
    }

    static func size(_ text: String) -> Int? {
        let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        var t = text.uppercased()
        if t.hasSuffix("I") { t.removeLast() }  // accept Ki/Mi/Gi too
        if let u = t.last, let m = units[u], let v = Int(t.dropLast()), v >= 0 { return v * m }
        return Int(t).flatMap { $0 >= 0 ? $0 : nil }
    }
}
