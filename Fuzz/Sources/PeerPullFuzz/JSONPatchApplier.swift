import Controller

/// RFC 6902 `add` and `replace` (the two operations the controller sends), applied as the
/// API server applies them: strict JSON Pointers (RFC 6901), `replace` only of a value
/// that exists, `add` into an existing object or array (`-` appends), nothing created on
/// the way.
enum JSONPatchApplier {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func apply(_ operations: [JSONPatchOperation], to document: JSONValue) throws(Failure) -> JSONValue {
        var document = document
        for operation in operations {
            guard operation.op == "add" || operation.op == "replace" else { throw Failure(description: "operation \(operation.op)") }
            guard operation.path.hasPrefix("/") else { throw Failure(description: "path \(operation.path) is not a JSON Pointer") }
            let tokens = try operation.path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map(unescape)
            try set(operation.value, at: tokens[...], in: &document, adding: operation.op == "add", path: operation.path)
        }
        return document
    }

    private static func unescape(_ token: Substring) throws(Failure) -> String {
        var out = ""
        var i = token.startIndex
        while i < token.endIndex {
            let c = token[i]
            i = token.index(after: i)
            guard c == "~" else { out.append(c); continue }
            guard i < token.endIndex, token[i] == "0" || token[i] == "1" else { throw Failure(description: "bad escape in \(token)") }
            out.append(token[i] == "0" ? "~" : "/")
            i = token.index(after: i)
        }
        return out
    }

    private static func index(_ token: String, count: Int, path: String) throws(Failure) -> Int {
        guard !token.isEmpty, token.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), token == "0" || !token.hasPrefix("0"),
              let i = Int(token), i <= count else { throw Failure(description: "\(path): no index \(token) in \(count) elements") }
        return i
    }

    private static func set(_ value: JSONValue, at tokens: ArraySlice<String>, in target: inout JSONValue, adding: Bool, path: String) throws(Failure) {
        guard let token = tokens.first else { throw Failure(description: "\(path): replacing the whole document") }
        let last = tokens.count == 1
        switch target {
        case .object(var members):
            if last {
                guard adding || members[token] != nil else { throw Failure(description: "\(path): replace of a missing member") }
                members[token] = value
            } else {
                guard var child = members[token] else { throw Failure(description: "\(path): no member \(token)") }
                try set(value, at: tokens.dropFirst(), in: &child, adding: adding, path: path)
                members[token] = child
            }
            target = .object(members)
        case .array(var elements):
            if last {
                if adding {
                    let i = token == "-" ? elements.count : try index(token, count: elements.count, path: path)
                    elements.insert(value, at: i)
                } else {
                    let i = try index(token, count: elements.count - 1, path: path)
                    elements[i] = value
                }
            } else {
                let i = try index(token, count: elements.count - 1, path: path)
                try set(value, at: tokens.dropFirst(), in: &elements[i], adding: adding, path: path)
            }
            target = .array(elements)
        default:
            throw Failure(description: "\(path): \(token) inside a value that is neither an object nor an array")
        }
    }
}
