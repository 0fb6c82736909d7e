import Foundation
import OCI
import SyntheticImages
import TestSupport
import Testing

@Suite("SyntheticImage")
struct SyntheticImageTests {
    @Test func layersAreRealGzipTarsMatchingTheConfig() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let layout = try OCILayout(root: dir.path)
        let top = try SyntheticImage(layerSizes: [70_000, 1], seed: 3).write(to: layout, tag: "t")
        let manifestBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: layout.blobPath(top.digest))))
        guard case .image(let manifest) = try ManifestDocument(data: manifestBytes, contentType: top.mediaType) else {
            Issue.record("not a manifest"); return
        }
        struct Config: Decodable { struct RootFS: Decodable { var diff_ids: [String] }; var rootfs: RootFS }
        let config = try JSONDecoder().decode(Config.self, from: Data(contentsOf: URL(fileURLWithPath: layout.blobPath(manifest.config.digest))))
        for (i, layer) in manifest.layers.enumerated() {
            // gzip itself checks the CRC and length trailer; tar lists the one file.
            let listing = try await Command.run(["tar", "tvzf", layout.blobPath(layer.digest)])
            #expect(listing.stdout.contains("layer-\(i).bin"))
            let tar = try await Command.run(["sh", "-c", "gzip -dc \(layout.blobPath(layer.digest)) | sha256sum"])
            #expect("sha256:" + tar.stdout.prefix(64) == config.rootfs.diff_ids[i])
        }
        // The same seed gives the same image.
        let again = try SyntheticImage(layerSizes: [70_000, 1], seed: 3).write(to: layout, tag: "t2")
        #expect(again.digest == top.digest)
    }
}
