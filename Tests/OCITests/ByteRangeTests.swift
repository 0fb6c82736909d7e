import OCI
import Testing

@Suite("ByteRange (RFC 9110 §14)")
struct ByteRangeTests {
    @Test("parse", arguments: [
        ("bytes=0-99", ByteRange.Parsed.single(.closed(first: 0, last: 99))),
        ("bytes=100-", .single(.from(first: 100))),
        ("bytes=-500", .single(.suffix(length: 500))),
        ("bytes=0-0", .single(.closed(first: 0, last: 0))),
        (" bytes=5-9 ", .single(.closed(first: 5, last: 9))),
        ("BYTES=5-9", .single(.closed(first: 5, last: 9))),
        ("bytes=0-1,4-5", .multiple),
        ("bytes=0-1, -5", .multiple),
        ("bytes=0-1,", .single(.closed(first: 0, last: 1))),
        ("bytes=9-5", .invalid),
        ("bytes=", .invalid),
        ("bytes=-", .invalid),
        ("bytes=a-b", .invalid),
        ("bytes=1-2-3", .invalid),
        ("bytes 0-1", .invalid),
        ("items=0-1", .invalid),
        ("bytes=+1-2", .invalid),
        ("bytes=99999999999999999999-", .invalid),
        ("bytes=0x10-", .invalid),
        ("", .invalid),
    ])
    func parse(_ vector: (String, ByteRange.Parsed)) {
        #expect(ByteRange.parse(vector.0) == vector.1, "\(vector.0)")
    }

    @Test func resolveAgainstSize() {
        #expect(ByteRange.closed(first: 0, last: 99).resolve(size: 1000) == 0...99)
        #expect(ByteRange.closed(first: 900, last: 2000).resolve(size: 1000) == 900...999)
        #expect(ByteRange.closed(first: 1000, last: 2000).resolve(size: 1000) == nil)
        #expect(ByteRange.from(first: 10).resolve(size: 1000) == 10...999)
        #expect(ByteRange.from(first: 1000).resolve(size: 1000) == nil)
        // The suffix case Hummingbird gets wrong: the *last* N bytes.
        #expect(ByteRange.suffix(length: 100).resolve(size: 1000) == 900...999)
        #expect(ByteRange.suffix(length: 5000).resolve(size: 1000) == 0...999)
        #expect(ByteRange.suffix(length: 0).resolve(size: 1000) == nil)
        #expect(ByteRange.suffix(length: 1).resolve(size: 0) == nil)
    }

    @Test func headerRoundTrip() {
        for r in [ByteRange.closed(first: 3, last: 7), .from(first: 9), .suffix(length: 4)] {
            #expect(ByteRange.parse(r.headerValue) == .single(r))
        }
    }

    @Test func contentRange() {
        #expect(ContentRange(parsing: "bytes 0-99/1000") == ContentRange(first: 0, last: 99, completeLength: 1000))
        #expect(ContentRange(parsing: "bytes 0-99/*") == ContentRange(first: 0, last: 99, completeLength: nil))
        #expect(ContentRange(parsing: "bytes 99-0/1000") == nil)
        #expect(ContentRange(parsing: "bytes 0-1000/1000") == nil)
        #expect(ContentRange(parsing: "0-99/1000") == nil)
    }
}
