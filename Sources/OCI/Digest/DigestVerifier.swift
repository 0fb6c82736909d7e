import Crypto

/// Incrementally hashes a byte stream so it can be checked against a digest
/// without holding the whole blob in memory.
public struct DigestVerifier: Sendable {
    private enum State: Sendable {
        case sha256(SHA256)
        case sha512(SHA512)
    }

    private var state: State
    /// Bytes hashed so far.
    public private(set) var count: Int64 = 0
    public let algorithm: Digest.Algorithm

    public init(algorithm: Digest.Algorithm = .sha256) {
        self.algorithm = algorithm
        switch algorithm {
        case .sha256: state = .sha256(SHA256())
        case .sha512: state = .sha512(SHA512())
        }
    }

    /// A verifier for the algorithm of `expected`.
    public init(for expected: Digest) {
        self.init(algorithm: expected.algorithm)
    }

    public mutating func update(_ raw: UnsafeRawBufferPointer) {
        count += Int64(raw.count)
        switch state {
        case .sha256(var h):
            h.update(bufferPointer: raw)
            state = .sha256(h)
        case .sha512(var h):
            h.update(bufferPointer: raw)
            state = .sha512(h)
        }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public func finalize() -> Digest {
        switch state {
        case .sha256(let h): Digest(algorithm: .sha256, hash: h.finalize())
        case .sha512(let h): Digest(algorithm: .sha512, hash: h.finalize())
        }
    }

    /// Throws `digestMismatch` unless the bytes seen hash to `expected`.
    public func verify(_ expected: Digest) throws(DigestMismatch) {
        let actual = finalize()
        guard actual == expected else {
            throw DigestMismatch(expected: expected, actual: actual, size: count)
        }
    }
}
