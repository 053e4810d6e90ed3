import CSluiceCodecs
import Testing

@Suite("CRC-32C")
struct CRC32CTests {
    @Test func checkValue() {
        let bytes = Array("123456789".utf8)
        #expect(sluice_crc32c(0, bytes, bytes.count) == 0xE306_9283)
        #expect(sluice_crc32c_portable(0, bytes, bytes.count) == 0xE306_9283)
    }

    @Test func hardwareAndPortableAgreeOnEveryLengthAndAlignment() {
        var state: UInt64 = 42
        let data: [UInt8] = (0..<4096).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        data.withUnsafeBytes { raw in
            for offset in 0..<9 {
                for length in [0, 1, 7, 8, 9, 63, 64, 65, 255, 1000, 4000] where offset + length <= raw.count {
                    let pointer = raw.baseAddress! + offset
                    #expect(sluice_crc32c(0, pointer, length) == sluice_crc32c_portable(0, pointer, length))
                }
            }
            // Chaining over two chunks equals one pass.
            let whole = sluice_crc32c(0, raw.baseAddress!, 3000)
            let first = sluice_crc32c(0, raw.baseAddress!, 1234)
            #expect(sluice_crc32c(first, raw.baseAddress! + 1234, 3000 - 1234) == whole)
        }
        print("crc32c hardware: \(sluice_crc32c_is_hardware() == 1)")
    }
}
