import Foundation
import OCI

/// Generates test images with random content into an OCI layout: real gzip'd tar
/// layers (so runtimes can unpack them), a config with matching `diff_ids`, a manifest,
/// and an index when several platforms are asked for. The same seed gives the same bytes.
///
/// Used by the tests, the demo and the benchmarks; there are no images to download here.
public struct SyntheticImage: Sendable {
    /// Approximate size of each layer's file content, in bytes.
    public var layerSizes: [Int]
    public var platforms: [Platform]
    public var seed: UInt64

    public init(layerSizes: [Int], platforms: [Platform] = [.host], seed: UInt64 = 1) {
        self.layerSizes = layerSizes
        self.platforms = platforms
        self.seed = seed
    }

    /// Writes all blobs and adds the image to the layout's index under `tag`.
    /// Returns the top-level descriptor (an index when there are several platforms).
    @discardableResult
    public func write(to layout: OCILayout, tag: String) throws(LayoutError) -> Descriptor {
        var manifests: [Descriptor] = []
        for (p, platform) in platforms.enumerated() {
            var layers: [Descriptor] = []
            var diffIDs: [String] = []
            for (i, size) in layerSizes.enumerated() {
                var rng = SplitMix64(seed: seed &* 1_000_003 &+ UInt64(p) &* 7919 &+ UInt64(i))
                var tarVerifier = DigestVerifier(algorithm: .sha256)
                let layer = try layout.writeGeneratedBlob(mediaType: MediaType.ociLayerGzip) { (write) throws(LayoutError) in
                    var gzip = StoredGzipWriter()
                    try write(gzip.header())
                    func emit(_ tar: [UInt8]) throws(LayoutError) {
                        tarVerifier.update(tar)
                        try write(gzip.deflateStored(tar))
                    }
                    try emit(Tar.header(name: "layer-\(i).bin", size: size))
                    var remaining = size
                    while remaining > 0 {
                        let n = min(remaining, 1 << 16)
                        try emit(rng.bytes(n))
                        remaining -= n
                    }
                    try emit(Tar.trailer(contentSize: size))
                    try write(gzip.finish())
                }
                layers.append(layer)
                diffIDs.append(tarVerifier.finalize().description)
            }
            let config: [String: Any] = [
                "architecture": platform.architecture,
                "os": platform.os,
                "created": "2026-01-01T00:00:00Z",
                "config": ["Cmd": ["/layer-0.bin"]],
                "rootfs": ["type": "layers", "diff_ids": diffIDs],
            ]
            let configBytes = try Self.json(config)
            let configDigest = Digest.compute(of: configBytes)
            try layout.writeBlob(configBytes, digest: configDigest)
            let manifest = ImageManifest(
                config: Descriptor(mediaType: MediaType.ociConfig, digest: configDigest, size: Int64(configBytes.count)),
                layers: layers)
            let manifestBytes = try Self.encode(manifest)
            let manifestDigest = Digest.compute(of: manifestBytes)
            try layout.writeBlob(manifestBytes, digest: manifestDigest)
            manifests.append(Descriptor(
                mediaType: MediaType.ociManifest, digest: manifestDigest, size: Int64(manifestBytes.count),
                platform: platforms.count > 1 ? platform : nil))
        }
        var top = manifests[0]
        if platforms.count > 1 {
            let indexBytes = try Self.encode(ImageIndex(manifests: manifests))
            let indexDigest = Digest.compute(of: indexBytes)
            try layout.writeBlob(indexBytes, digest: indexDigest)
            top = Descriptor(mediaType: MediaType.ociIndex, digest: indexDigest, size: Int64(indexBytes.count))
        }
        top.annotations = [OCILayout.refNameAnnotation: tag]
        try layout.addToIndex(top)
        return top
    }

    private static func encode(_ value: some Encodable) throws(LayoutError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do { return Array(try encoder.encode(value)) } catch {
            throw .invalid(path: "<generated>", reason: "cannot encode: \(error)")
        }
    }

    private static func json(_ object: [String: Any]) throws(LayoutError) -> [UInt8] {
        do { return Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) } catch {
            throw .invalid(path: "<generated>", reason: "cannot encode config: \(error)")
        }
    }
}

/// A fast, seedable pseudo-random generator (SplitMix64): test content need not be
/// cryptographic, only incompressible and reproducible.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func bytes(_ n: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: n)
        out.withUnsafeMutableBytes { raw in
            var i = 0
            while i + 8 <= n {
                raw.storeBytes(of: next(), toByteOffset: i, as: UInt64.self)
                i += 8
            }
            var last = next()
            while i < n {
                raw[i] = UInt8(truncatingIfNeeded: last)
                last >>= 8
                i += 1
            }
        }
        return out
    }
}

/// Minimal ustar writing for one regular file.
enum Tar {
    static func header(name: String, size: Int) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ s: String, _ offset: Int, _ length: Int) {
            for (i, b) in s.utf8.prefix(length).enumerated() { h[offset + i] = b }
        }
        func octal(_ v: Int, _ width: Int) -> String {
            let s = String(v, radix: 8)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        put(name, 0, 100)
        put(octal(0o644, 7), 100, 8)
        put(octal(0, 7), 108, 8)
        put(octal(0, 7), 116, 8)
        put(octal(size, 11), 124, 12)
        put(octal(1_767_225_600, 11), 136, 12)
        put("        ", 148, 8)
        h[156] = UInt8(ascii: "0")
        put("ustar", 257, 6)
        put("00", 263, 2)
        let sum = h.reduce(0) { $0 + Int($1) }
        put(octal(sum, 6), 148, 6)
        h[154] = 0
        h[155] = UInt8(ascii: " ")
        return h
    }

    /// Padding of the file content to a 512-byte block, then two zero blocks.
    static func trailer(contentSize: Int) -> [UInt8] {
        let pad = (512 - contentSize % 512) % 512
        return [UInt8](repeating: 0, count: pad + 1024)
    }
}

/// gzip (RFC 1952) around deflate "stored" blocks (RFC 1951 §3.2.4): valid gzip that
/// any runtime can decompress, produced at memory speed, of predictable size.
struct StoredGzipWriter {
    private var crc = CRC32()
    private var size: UInt32 = 0

    func header() -> [UInt8] { [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff] }

    /// Non-final stored blocks; the final empty block is written by `finish()`.
    mutating func deflateStored(_ bytes: [UInt8]) -> [UInt8] {
        crc.update(bytes)
        size &+= UInt32(truncatingIfNeeded: bytes.count)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + (bytes.count / 65535 + 1) * 5)
        var i = 0
        while i < bytes.count {
            let n = min(65535, bytes.count - i)
            out.append(0)
            out.append(UInt8(n & 0xff)); out.append(UInt8(n >> 8))
            out.append(UInt8(~n & 0xff)); out.append(UInt8((~n >> 8) & 0xff))
            out.append(contentsOf: bytes[i..<(i + n)])
            i += n
        }
        return out
    }

    func finish() -> [UInt8] {
        var out: [UInt8] = [1, 0, 0, 0xff, 0xff]
        let c = crc.value
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8((c >> UInt32(shift)) & 0xff)) }
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8((size >> UInt32(shift)) & 0xff)) }
        return out
    }
}

struct CRC32 {
    private static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    private var crc: UInt32 = 0xFFFF_FFFF

    mutating func update(_ bytes: [UInt8]) {
        var c = crc
        Self.table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        }
        crc = c
    }

    var value: UInt32 { crc ^ 0xFFFF_FFFF }
}
