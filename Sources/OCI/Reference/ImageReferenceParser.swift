/// A hand-written parser for the distribution/reference grammar, so that every error
/// can say what is wrong and at which offset (a regular expression can only say "no").
///
/// ```
/// reference  := name [ ":" tag ] [ "@" digest ]
/// name       := [domain '/'] path-component ['/' path-component]*
/// domain     := host [':' port]
/// host       := domain-name | IPv4address | '[' IPv6address ']'
/// tag        := [\w][\w.-]{0,127}
/// ```
struct ImageReferenceParser {
    let input: String
    let chars: [Character]

    init(_ input: String) {
        self.input = input
        self.chars = Array(input)
    }

    private func fail(_ problem: ImageReferenceError.Problem, at offset: Int) -> ImageReferenceError {
        ImageReferenceError(input: input, problem: problem, offset: offset)
    }

    func parse() throws(ImageReferenceError) -> ImageReference {
        guard !chars.isEmpty else { throw fail(.empty, at: 0) }
        if chars.count == 64, chars.allSatisfy({ $0.isASCII && ($0.isNumber || ("a"..."f").contains($0)) }) {
            throw fail(.hexIdentifier, at: 0)
        }
        if let bad = chars.firstIndex(where: { !$0.isASCII || $0.isWhitespace || $0.asciiValue! < 0x21 || $0.asciiValue! == 0x7f }) {
            throw fail(.invalidCharacter(chars[bad]), at: bad)
        }

        // Digest: everything after the first '@'.
        var end = chars.count
        var digest: Digest?
        if let at = chars.firstIndex(of: "@") {
            do {
                digest = try Digest(parsing: String(chars[(at + 1)...]))
            } catch {
                throw fail(.invalidDigest(error), at: at + 1)
            }
            end = at
        }

        // Tag: after a ':' that follows the last '/' (a ':' before it is a port).
        let lastSlash = chars[..<end].lastIndex(of: "/") ?? -1
        var tag: String?
        if let colon = chars[(lastSlash + 1)..<end].lastIndex(of: ":") {
            let tagText = String(chars[(colon + 1)..<end])
            try validateTag(tagText, at: colon + 1)
            tag = tagText
            end = colon
        }

        // Domain, as splitDockerDomain decides it.
        let nameChars = chars[..<end]
        var domain = ImageReference.defaultDomain
        var pathStart = 0
        if let slash = nameChars.firstIndex(of: "/") {
            let first = String(nameChars[..<slash])
            if first.contains(".") || first.contains(":") || first == "localhost" || first.lowercased() != first {
                try validateDomain(first, at: 0)
                domain = first
                pathStart = slash + 1
            }
        }
        if domain == ImageReference.legacyDefaultDomain { domain = ImageReference.defaultDomain }

        var path = String(nameChars[pathStart...])
        if path.lowercased() != path {
            throw fail(.uppercaseRepository(path), at: pathStart)
        }
        try validatePath(path, at: pathStart)
        if domain == ImageReference.defaultDomain && !path.contains("/") {
            path = ImageReference.officialRepositoryPrefix + path
        }
        guard path.count <= ImageReference.maxRepositoryLength else {
            throw fail(.repositoryTooLong(path.count), at: pathStart)
        }
        if tag == nil && digest == nil { tag = "latest" }
        return ImageReference(domain: domain, repository: path, tag: tag, digest: digest)
    }

    private func validateTag(_ tag: String, at offset: Int) throws(ImageReferenceError) {
        guard tag.count <= ImageReference.maxTagLength else { throw fail(.tagTooLong(tag.count), at: offset) }
        guard ImageReference.isValidTag(tag) else { throw fail(.invalidTag(tag), at: offset) }
    }

    private func validateDomain(_ domain: String, at offset: Int) throws(ImageReferenceError) {
        var host = Substring(domain)
        var port: Substring?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw fail(.invalidDomain(domain), at: offset) }
            let inside = host[host.index(after: host.startIndex)..<close]
            guard !inside.isEmpty, inside.contains(":"), inside.allSatisfy({ $0.isHexDigit || $0 == ":" }) else {
                throw fail(.invalidDomain(domain), at: offset)
            }
            let rest = host[host.index(after: close)...]
            if !rest.isEmpty {
                guard rest.first == ":" else { throw fail(.invalidDomain(domain), at: offset) }
                port = rest.dropFirst()
            }
            host = host[...close]
        } else {
            if let colon = host.firstIndex(of: ":") {
                port = host[host.index(after: colon)...]
                host = host[..<colon]
            }
            let labels = host.split(separator: ".", omittingEmptySubsequences: false)
            for label in labels {
                guard let f = label.first, let l = label.last,
                      Self.isAlnum(f), Self.isAlnum(l),
                      label.allSatisfy({ Self.isAlnum($0) || $0 == "-" })
                else { throw fail(.invalidDomain(domain), at: offset) }
            }
        }
        if let port {
            guard !port.isEmpty, port.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw fail(.invalidPort(String(port)), at: offset + domain.distance(from: domain.startIndex, to: port.startIndex))
            }
        }
    }

    private func validatePath(_ path: String, at offset: Int) throws(ImageReferenceError) {
        var position = offset
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            guard Self.isPathComponent(component) else {
                throw fail(.invalidPathComponent(String(component)), at: position)
            }
            position += component.count + 1
        }
    }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
    static func isPathComponent(_ s: Substring) -> Bool {
        var i = s.startIndex
        func alnumRun() -> Bool {
            let start = i
            while i < s.endIndex, s[i].isASCII, s[i].isLowercase || s[i].isNumber { i = s.index(after: i) }
            return i > start
        }
        guard alnumRun() else { return false }
        while i < s.endIndex {
            let c = s[i]
            if c == "." {
                i = s.index(after: i)
            } else if c == "_" {
                i = s.index(after: i)
                if i < s.endIndex, s[i] == "_" { i = s.index(after: i) }
            } else if c == "-" {
                while i < s.endIndex, s[i] == "-" { i = s.index(after: i) }
            } else {
                return false
            }
            guard alnumRun() else { return false }
        }
        return true
    }

    private static func isAlnum(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber) }
}
