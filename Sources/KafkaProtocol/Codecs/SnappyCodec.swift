import CSnappy
import NIOCore

/// Snappy, raw (librdkafka writes this) or in xerial framing (the Java client writes this).
enum SnappyCodec {
    /// The xerial header: magic "\u{82}SNAPPY\0", then version and minimum compatible version.
    static let xerialMagic: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]
    /// Java's SnappyOutputStream default block size.
    static let xerialBlockSize = 32 * 1024

    static func compressXerial(_ input: ByteBuffer) throws -> ByteBuffer {
        var output = ByteBufferAllocator().buffer(capacity: input.readableBytes + 64)
        output.writeBytes(xerialMagic)
        output.writeInteger(Int32(1))
        output.writeInteger(Int32(1))
        var remaining = input
        while remaining.readableBytes > 0 {
            let chunk = remaining.readSlice(length: min(xerialBlockSize, remaining.readableBytes))!
            let lengthIndex = output.writerIndex
            output.writeInteger(Int32(0))
            let written = try compressRaw(chunk, into: &output)
            output.setInteger(Int32(written), at: lengthIndex)
        }
        return output
    }

    static func compressRaw(_ input: ByteBuffer) throws -> ByteBuffer {
        var output = ByteBuffer()
        _ = try compressRaw(input, into: &output)
        return output
    }

    private static func compressRaw(_ input: ByteBuffer, into output: inout ByteBuffer) throws -> Int {
        let bound = snappy_max_compressed_length(input.readableBytes)
        var status = SNAPPY_OK
        let written = input.withUnsafeReadableBytes { source in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { target in
                var length = target.count
                status = snappy_compress(
                    source.bindMemory(to: CChar.self).baseAddress, source.count,
                    target.bindMemory(to: CChar.self).baseAddress, &length)
                return status == SNAPPY_OK ? length : 0
            }
        }
        guard status == SNAPPY_OK else {
            throw CompressionError.compressionFailed(codec: .snappy, reason: "snappy_compress status \(status.rawValue)")
        }
        return written
    }

    static func isXerial(_ input: ByteBuffer) -> Bool {
        guard input.readableBytes >= 16 else { return false }
        return input.readableBytesView.prefix(8).elementsEqual(xerialMagic)
    }

    static func decompress(_ input: ByteBuffer, limit: Int) throws -> ByteBuffer {
        guard isXerial(input) else {
            var output = ByteBuffer()
            try decompressRaw(input, into: &output, limit: limit)
            return output
        }
        var remaining = input
        remaining.moveReaderIndex(forwardBy: 16)
        var output = ByteBuffer()
        while remaining.readableBytes > 0 {
            guard let length = remaining.readInteger(as: Int32.self), length >= 0,
                  let block = remaining.readSlice(length: Int(length))
            else {
                throw CompressionError.corrupt(codec: .snappy, reason: "truncated xerial block")
            }
            try decompressRaw(block, into: &output, limit: limit)
        }
        return output
    }

    private static func decompressRaw(_ input: ByteBuffer, into output: inout ByteBuffer, limit: Int) throws {
        var expected = 0
        let lengthStatus = input.withUnsafeReadableBytes { source in
            snappy_uncompressed_length(source.bindMemory(to: CChar.self).baseAddress, source.count, &expected)
        }
        guard lengthStatus == SNAPPY_OK else {
            throw CompressionError.corrupt(codec: .snappy, reason: "unreadable length header")
        }
        guard expected <= limit - output.readableBytes else {
            throw CompressionError.outputTooLarge(codec: .snappy, limit: limit)
        }
        var status = SNAPPY_OK
        _ = input.withUnsafeReadableBytes { source in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: expected) { target in
                var length = expected
                status = snappy_uncompress(
                    source.bindMemory(to: CChar.self).baseAddress, source.count,
                    target.bindMemory(to: CChar.self).baseAddress, &length)
                return status == SNAPPY_OK ? length : 0
            }
        }
        guard status == SNAPPY_OK else {
            throw CompressionError.corrupt(codec: .snappy, reason: "snappy_uncompress status \(status.rawValue)")
        }
    }
}
