/// A member list written by hand or by a test: one agent per line, `node address [port]`,
/// `#` starting a comment. Errors name the line.
public enum StaticMembership {
    public struct Problem: Error, CustomStringConvertible, Equatable {
        public let line: Int
        public let problem: String
        public var description: String { "peers file line \(line): \(problem)" }

        public init(line: Int, problem: String) {
            self.line = line
            self.problem = problem
        }
    }

    public static func parse(_ text: String, defaultPort: Int = Member.defaultPeerPort) throws(Problem) -> [Member] {
        var members: [Member] = []
        var seen = Set<String>()
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if words.isEmpty { continue }
            guard words.count == 2 || words.count == 3 else {
                throw Problem(line: n + 1, problem: "expected `node address [port]`, got \(words.count) words")
            }
            let node = String(words[0]), address = String(words[1])
            guard node.utf8.count <= 253, !node.contains(",") else { throw Problem(line: n + 1, problem: "node name \(node.prefix(40)) is not a node name") }
            guard seen.insert(node).inserted else { throw Problem(line: n + 1, problem: "node \(node) is listed twice") }
            guard address.utf8.count <= 64, address.allSatisfy({ $0.isHexDigit || $0 == "." || $0 == ":" }) else {
                throw Problem(line: n + 1, problem: "\(address.prefix(40)) is not an IP address")
            }
            var port = defaultPort
            if words.count == 3 {
                guard let p = Int(words[2]), (1...65535).contains(p) else { throw Problem(line: n + 1, problem: "\(words[2]) is not a port") }
                port = p
            }
            members.append(Member(node: node, address: address, peerPort: port))
        }
        return members
    }
}
