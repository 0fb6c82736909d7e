import OCI
import Testing

@Suite("Hex")
struct HexTests {
    @Test func roundTripsAndRefusesAnythingButLowerCaseHexOfTheLength() {
        let bytes: [UInt8] = [0x00, 0x0f, 0xa5, 0xff]
        #expect(Hex.encode(bytes) == "000fa5ff")
        #expect(Hex.decode("000fa5ff", count: 4) == bytes)
        #expect(Hex.decode("000FA5FF", count: 4) == nil, "upper case")
        #expect(Hex.decode("000fa5f", count: 4) == nil && Hex.decode("000fa5ff00", count: 4) == nil, "wrong length")
        #expect(Hex.decode("000fa5fg", count: 4) == nil)
        let all = (0...255).map(UInt8.init)
        #expect(Hex.decode(Hex.encode(all), count: 256) == all)
    }
}
