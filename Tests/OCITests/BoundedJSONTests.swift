import Foundation
import OCI
import Testing

/// Any nesting of arrays, objects and scalars.
private struct Nest: Decodable {
    init(from decoder: any Decoder) throws {
        if var list = try? decoder.unkeyedContainer() {
            while !list.isAtEnd { _ = try list.decode(Nest.self) }
        } else if let object = try? decoder.container(keyedBy: AnyKey.self) {
            for key in object.allKeys { _ = try object.decode(Nest.self, forKey: key) }
        }
    }
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

@Suite("Bounded JSON decoding")
struct BoundedJSONTests {
    @Test("nesting deeper than the limit is refused before Foundation sees it", arguments: [
        String(repeating: "[", count: 513),
        String(repeating: "[", count: 129),
        #"{"a":"# + String(repeating: "[", count: 512),
        String(repeating: #"{"a":"#, count: 200) + "1" + String(repeating: "}", count: 200),
    ])
    func tooDeep(text: String) throws {
        // The first input, decoded by Foundation directly, traps (SIGILL) in its error
        // reporting: this test can only fail by crashing the test process.
        #expect(throws: BoundedJSON.Refusal.tooDeep(limit: 128)) {
            _ = try BoundedJSON.decode(Nest.self, from: Data(text.utf8))
        }
    }

    @Test("UTF-16 and UTF-32, which Foundation converts before parsing, are refused", arguments: [
        (true, false), (false, false), (true, true), (false, true),
    ])
    func wideEncodings(littleEndian: Bool, byteOrderMark: Bool) throws {
        // "∀" is U+2200: in UTF-16 one of its bytes is 0x22, a quote to a byte scanner,
        // which then thinks the 512 brackets after it are inside a string.
        let text = #"["∀","# + String(repeating: "[", count: 512)
        var bytes: [UInt8] = byteOrderMark ? (littleEndian ? [0xFF, 0xFE] : [0xFE, 0xFF]) : []
        for unit in text.utf16 {
            bytes += littleEndian ? [UInt8(unit & 0xff), UInt8(unit >> 8)] : [UInt8(unit >> 8), UInt8(unit & 0xff)]
        }
        #expect(throws: BoundedJSON.Refusal.notUTF8) { _ = try BoundedJSON.decode(Nest.self, from: Data(bytes)) }
        #expect(throws: BoundedJSON.Refusal.notUTF8) { _ = try BoundedJSON.decode(Nest.self, from: Data([0xFF, 0xFE, 0x5B, 0x00])) }
    }

    @Test func escapedQuotesKeepTheScannerInsideTheString() throws {
        let inside = #"["\"["# + String(repeating: "[", count: 300) + #"\\\"", 1]"#
        _ = try BoundedJSON.decode(Nest.self, from: Data(inside.utf8))
        // An escaped backslash ends the escape: the quote after it closes the string.
        let outside = #"["\\""# + String(repeating: ",[", count: 200)
        #expect(throws: BoundedJSON.Refusal.tooDeep(limit: 128)) { _ = try BoundedJSON.decode(Nest.self, from: Data(outside.utf8)) }
    }

    @Test func brackets_inside_strings_do_not_count() throws {
        let text = #"{"a":""# + String(repeating: "[", count: 1000) + #"\"]"}"#
        let value = try BoundedJSON.decode([String: String].self, from: Data(text.utf8))
        #expect(value["a"]?.count == 1002)
    }

    @Test func documentsWithinTheLimitsDecode() throws {
        let nested = String(repeating: "[", count: 128) + String(repeating: "]", count: 128)
        _ = try BoundedJSON.decode(Nest.self, from: Data(nested.utf8))
        #expect(throws: BoundedJSON.Refusal.tooLarge(bytes: 7, limit: 6)) {
            _ = try BoundedJSON.decode([Int].self, from: Data("[1,2,3]".utf8), maximumBytes: 6)
        }
    }

    @Test("manifests from an origin go through the bound")
    func manifestDecoding() throws {
        let deep = #"{"schemaVersion":2,"layers":"# + String(repeating: "[", count: 512)
        #expect(throws: ManifestError.self) { try ManifestDocument(data: Array(deep.utf8), contentType: nil) }
    }
}
