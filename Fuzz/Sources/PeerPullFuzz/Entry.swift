import CFuzzSupport
import Foundation

/// One fuzz target: a parser fed libFuzzer's bytes, checking properties of what it returns.
struct FuzzTarget: Sendable {
    let name: String
    let summary: String
    let run: @Sendable (UnsafeRawBufferPointer) -> Void
}

/// Every target, by the name `FUZZ_TARGET` and `Fuzz/Corpus/<name>/` use.
let fuzzTargets: [FuzzTarget] = [
    FuzzTarget(name: "reference", summary: "image references, digests and the P2P host rule", run: ReferenceTarget.run),
    FuzzTarget(name: "range", summary: "Range and Content-Range headers", run: RangeTarget.run),
    FuzzTarget(name: "auth-challenge", summary: "WWW-Authenticate challenges", run: AuthChallengeTarget.run),
    FuzzTarget(name: "docker-config", summary: "pull secrets' Docker config JSON, kubelet key matching and the secret copy", run: DockerConfigTarget.run),
    FuzzTarget(name: "admission", summary: "AdmissionReview decoding through to the pod's JSON Patch, applied back", run: AdmissionTarget.run),
    FuzzTarget(name: "settings", summary: "the agent's and the controller's YAML settings files", run: SettingsTarget.run),
    FuzzTarget(name: "manifest", summary: "image manifests and indexes", run: ManifestTarget.run),
    FuzzTarget(name: "peer-messages", summary: "the peer protocol: announcements, answers, credentials", run: PeerMessagesTarget.run),
]

/// Chosen once, before libFuzzer starts calling `LLVMFuzzerTestOneInput`.
let selectedTarget: FuzzTarget? = {
    guard let name = getenv("FUZZ_TARGET").map({ String(cString: $0) }) else { return nil }
    return fuzzTargets.first { $0.name == name }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let target = selectedTarget else { return 0 }
    target.run(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

/// SwiftPM links an executable with `main` defined as `<module>_main`: this is it.
@_cdecl("PeerPullFuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    guard selectedTarget != nil else {
        let names = fuzzTargets.map { "  \($0.name): \($0.summary)" }.joined(separator: "\n")
        FileHandle.standardError.write(Data("set FUZZ_TARGET to one of:\n\(names)\nthen pass libFuzzer's flags and corpus directories (scripts/fuzz.sh does).\n".utf8))
        return 2
    }
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) }
}

/// Traps when a property does not hold, so that libFuzzer reports the input as a crash.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("property violated: \(message())", file: file, line: line) }
}

extension UnsafeRawBufferPointer {
    /// The bytes as text, invalid UTF-8 repaired, as HTTP libraries hand header values over.
    var text: String { String(decoding: self, as: UTF8.self) }

    /// The bytes before the first newline, and those after it (empty when there is none).
    var firstLineAndRest: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) {
        guard let newline = firstIndex(of: 0x0A) else { return (self, UnsafeRawBufferPointer(rebasing: self[endIndex...])) }
        return (UnsafeRawBufferPointer(rebasing: self[..<newline]), UnsafeRawBufferPointer(rebasing: self[(newline + 1)...]))
    }
}
