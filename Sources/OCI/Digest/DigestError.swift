/// Why a digest string was refused.
public struct DigestError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Problem: Equatable, Sendable {
        case missingAlgorithm
        case unsupportedAlgorithm(String)
        case wrongLength(expected: Int, actual: Int)
        case invalidHexCharacter(offset: Int)
    }

    public let input: String
    public let problem: Problem

    public var description: String {
        let shown = input.count > 80 ? String(input.prefix(80)) + "…" : input
        switch problem {
        case .missingAlgorithm:
            return "invalid digest \"\(shown)\": expected \"sha256:<64 hex>\" or \"sha512:<128 hex>\""
        case .unsupportedAlgorithm(let name):
            return "invalid digest \"\(shown)\": unsupported algorithm \"\(name.prefix(32))\" (only sha256 and sha512)"
        case .wrongLength(let expected, let actual):
            return "invalid digest \"\(shown)\": expected \(expected) hex characters, found \(actual)"
        case .invalidHexCharacter(let offset):
            return "invalid digest \"\(shown)\": character at offset \(offset) is not lower-case hex"
        }
    }
}
