import OCI

/// Image references as pods, the CLI and registry routes write them; digests; the P2P host rule.
///
/// Properties: a reference that parses round-trips through `description` (to an equal
/// value printing the same text) and is made of a valid repository and tag; a refusal
/// points inside the input; a digest is accepted only in its canonical form; an origin's
/// P2P host maps back to the origin, and the image under it parses to the same repository.
enum ReferenceTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        let text = bytes.text
        if let digest = try? Digest(parsing: text) {
            require(digest.description == text, "digest \(digest) accepted from non-canonical \(String(reflecting: text))")
            require(digest.hex.utf8.allSatisfy { ("0"..."9").contains(Character(Unicode.Scalar($0))) || ("a"..."f").contains(Character(Unicode.Scalar($0))) },
                    "digest hex \(digest.hex) is not lower-case hex")
        }

        let reference: ImageReference
        do {
            reference = try ImageReference(parsing: text)
        } catch {
            require((0...text.count).contains(error.offset), "offset \(error.offset) outside \(text.count) characters")
            _ = error.description
            return
        }
        let printed = reference.description
        let again: ImageReference
        do { again = try ImageReference(parsing: printed) } catch {
            fatalError("property violated: \(String(reflecting: text)) parsed as \(printed), which does not parse: \(error)")
        }
        require(again == reference, "\(String(reflecting: text)) parsed as \(printed), which parses as \(again)")
        require(again.description == printed, "\(printed) prints as \(again.description)")
        require(ImageReference.isValidRepository(reference.repository), "invalid repository \(reference.repository)")
        require(reference.tag.map(ImageReference.isValidTag) ?? true, "invalid tag \(reference.tag ?? "")")
        require(reference.tag != nil || reference.digest != nil, "\(printed) has neither tag nor digest")

        // The rule the controller rewrites with and the agent maps back with.
        let rule = P2PHostRule()
        if let p2p = rule.p2pDomain(forOrigin: reference.domain) {
            let origin = rule.origin(forP2PDomain: p2p)
            require(origin == P2PHostRule.host(of: reference.domain), "\(reference.domain) → \(p2p) → \(origin ?? "nil")")
            require(OriginSet([reference.domain]).roundTrips(reference.domain.lowercased(), rule: rule),
                    "\(reference.domain) does not round-trip through \(p2p)")
            let moved = reference.withDomain(p2p)
            let parsed = try? ImageReference(parsing: moved.description)
            require(parsed == moved, "\(moved) (the P2P form of \(printed)) parses as \(parsed.map(String.init(describing:)) ?? "an error")")
        }
    }
}
