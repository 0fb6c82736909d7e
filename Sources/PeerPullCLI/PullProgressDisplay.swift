import Foundation
import OCI
import OCIClient
import Synchronization

/// Shows pull progress: one redrawn status line on a terminal, plain lines otherwise.
final class PullProgressDisplay: PullObserver {
    private struct State {
        var total: Int64 = 0
        var blobs = 0
        var done = 0
        var written: [Digest: Int64] = [:]
        var lastDraw = ContinuousClock.now - .seconds(1)
        let start = ContinuousClock.now
    }

    private let interactive: Bool
    private let state = Mutex(State())

    init(interactive: Bool) { self.interactive = interactive }

    func pull(_ event: PullEvent) {
        var line: String?
        state.withLock { s in
            switch event {
            case .resolved(let reference, let manifest, let platform, let blobs):
                s.total = blobs.reduce(0) { $0 + $1.size }
                s.blobs = blobs.count
                line = "resolved \(reference) to \(manifest)\(platform.map { " (\($0))" } ?? ""): \(blobs.count) blobs, \(HumanReadable.bytes(s.total))"
            case .blobStarted(let d):
                s.written[d.digest] = 0
            case .blobProgress(let digest, let written):
                s.written[digest] = written
                if interactive, ContinuousClock.now - s.lastDraw > .milliseconds(100) {
                    s.lastDraw = .now
                    line = status(s)
                }
            case .blobCompleted(let d, let present):
                s.done += 1
                s.written[d.digest] = d.size
                line = interactive ? status(s) : "\(present ? "present" : "fetched") \(d.digest) (\(HumanReadable.bytes(d.size))) [\(s.done)/\(s.blobs)]"
            case .blobRetrying(let digest, let attempt, let reason):
                line = "retrying \(digest) after attempt \(attempt): \(reason)"
            case .finished(let r):
                let seconds = max(0.001, (ContinuousClock.now - s.start).inSeconds)
                line = "done: \(r.blobCount) blobs, \(HumanReadable.bytes(r.bytesDownloaded)) downloaded, \(HumanReadable.bytes(r.bytesAlreadyPresent)) already present, \(HumanReadable.bytes(Int64(Double(r.bytesDownloaded) / seconds)))/s"
            }
        }
        guard let line else { return }
        if interactive {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line + (isFinalLine(event) ? "\n" : "")).utf8))
        } else {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    private func isFinalLine(_ event: PullEvent) -> Bool {
        switch event {
        case .resolved, .finished, .blobRetrying: true
        default: false
        }
    }

    private func status(_ s: State) -> String {
        let got = s.written.values.reduce(0, +)
        return "pulling: \(s.done)/\(s.blobs) blobs, \(HumanReadable.bytes(got)) of \(HumanReadable.bytes(s.total))"
    }
}
