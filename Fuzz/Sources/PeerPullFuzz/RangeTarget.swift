import OCI

/// `Range` request headers as the agent serves them, and `Content-Range` as the client reads it.
///
/// Properties: a single range prints as a header that parses back to it; resolved
/// against any blob size it never reaches past the blob (nor before it), selects what
/// RFC 9110 §14.1.2 says, and is unsatisfiable exactly when the RFC says; the
/// `Content-Range` the agent then sends parses back; a `Content-Range` accepted from an
/// origin is ordered and inside its complete length.
enum RangeTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        let header = bytes.text
        if case .single(let range) = ByteRange.parse(header) {
            require(ByteRange.parse(range.headerValue) == .single(range), "\(range) does not round-trip")
            var sizes: [Int64] = [0, 1, 2, 1000, 1 << 20, 1 << 62, .max - 1, .max]
            switch range {
            case .closed(let f, let l): sizes += [f, l]
            case .from(let f): sizes += [f]
            case .suffix(let n): sizes += [n]
            }
            for s in sizes where s >= 0 {
                for size in [s, s == .max ? s : s + 1, s == 0 ? s : s - 1] {
                    check(range, size: size)
                }
            }
        }
        if let cr = ContentRange(parsing: header) {
            require(cr.first >= 0 && cr.first <= cr.last, "\(header) accepted as \(cr)")
            require(cr.completeLength.map { $0 > cr.last } ?? true, "\(header) accepted as \(cr)")
            require(ContentRange(parsing: cr.description) == cr, "\(cr) does not round-trip")
        }
    }

    static func check(_ range: ByteRange, size: Int64) {
        guard let span = range.resolve(size: size) else {
            let unsatisfiable = switch range {
            case .closed(let f, _), .from(let f): f >= size
            case .suffix(let n): n == 0 || size == 0
            }
            require(unsatisfiable, "\(range) of \(size) bytes refused as unsatisfiable")
            return
        }
        require(span.lowerBound >= 0 && span.upperBound < size, "\(range) of \(size) bytes resolved to \(span), past the blob")
        switch range {
        case .closed(let f, let l): require(span == f...min(l, size - 1), "\(range) of \(size) bytes resolved to \(span)")
        case .from(let f): require(span == f...(size - 1), "\(range) of \(size) bytes resolved to \(span)")
        case .suffix(let n): require(span == (size - min(n, size))...(size - 1), "\(range) of \(size) bytes resolved to \(span)")
        }
        // What the front end computes from the span (RegistryFrontEnd+Blobs.swift).
        let length = span.count
        let end = span.upperBound + 1
        require(Int64(length) == end - span.lowerBound, "\(span): length \(length)")
        let sent = ContentRange(first: span.lowerBound, last: span.upperBound, completeLength: size)
        require(ContentRange(parsing: sent.description) == sent, "\(sent) does not round-trip")
    }
}
