/// The lifecycle of one blob being fetched into the cache, kept as a value so every
/// transition is unit-tested without I/O; `BlobDownload` around it writes the file and
/// wakes the readers.
///
/// Readers stream from the partly written file while it grows, but the blob's final
/// byte is withheld until the whole blob has hashed to its digest: no client can ever
/// receive a complete body whose digest is wrong, whatever the origin or a peer sent.
struct DownloadProgress: Sendable, Equatable {
    enum Phase: Sendable, Equatable {
        case downloading
        /// Every byte is on disk and hashed to the digest.
        case verified
        case failed(String)
    }

    enum ReadDecision: Sendable, Equatable {
        /// Bytes up to (excluding) this offset may be read.
        case read(upTo: Int64)
        /// Nothing new yet: wait for the writer.
        case wait
        /// The reader has every byte.
        case end
        /// The download failed; the reader must continue from the origin.
        case failed(String)
    }

    let expectedSize: Int64
    private(set) var written: Int64 = 0
    private(set) var phase: Phase = .downloading

    init(expectedSize: Int64) {
        self.expectedSize = expectedSize
    }

    func decide(offset: Int64) -> ReadDecision {
        switch phase {
        case .failed(let reason):
            return .failed(reason)
        case .verified:
            return offset < written ? .read(upTo: written) : .end
        case .downloading:
            let readable = min(written, expectedSize - 1)
            return offset < readable ? .read(upTo: readable) : .wait
        }
    }

    /// Records `count` more bytes on disk; false (and failed) when the source sent more
    /// than the blob's size.
    mutating func appended(_ count: Int64) -> Bool {
        guard phase == .downloading else { return false }
        written += count
        if written > expectedSize {
            phase = .failed("the source sent more than the blob's \(expectedSize) bytes")
            return false
        }
        return true
    }

    /// The source ended; `matches` tells whether the bytes hashed to the digest.
    mutating func finished(digestMatches matches: Bool) {
        guard phase == .downloading else { return }
        if written != expectedSize {
            phase = .failed("the source ended after \(written) of \(expectedSize) bytes")
        } else if !matches {
            phase = .failed("the bytes did not hash to the blob's digest")
        } else {
            phase = .verified
        }
    }

    mutating func fail(_ reason: String) {
        if phase == .downloading { phase = .failed(reason) }
    }
}
