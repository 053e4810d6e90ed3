import CSluiceCodecs
import CZlib
import NIOCore

/// gzip through zlib. Reading accepts gzip or zlib wrappers and concatenated gzip members.
enum GzipCodec {
    static func compress(_ input: ByteBuffer, level: Int32) throws -> ByteBuffer {
        var stream = z_stream()
        let initResult = sluice_deflate_init2(&stream, level, 15 + 16, 8)
        guard initResult == Z_OK else {
            throw CompressionError.compressionFailed(codec: .gzip, reason: "deflateInit2 returned \(initResult)")
        }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(input.readableBytes))) + 32
        var output = ByteBufferAllocator().buffer(capacity: bound)
        var result: Int32 = Z_OK
        _ = input.withUnsafeReadableBytes { source in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { target in
                stream.next_in = UnsafeMutablePointer(mutating: source.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(source.count)
                stream.next_out = target.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(target.count)
                result = deflate(&stream, Z_FINISH)
                return target.count - Int(stream.avail_out)
            }
        }
        guard result == Z_STREAM_END else {
            throw CompressionError.compressionFailed(codec: .gzip, reason: "deflate returned \(result)")
        }
        return output
    }

    static func decompress(_ input: ByteBuffer, limit: Int) throws -> ByteBuffer {
        guard input.readableBytes > 0 else { throw CompressionError.corrupt(codec: .gzip, reason: "empty input") }
        var stream = z_stream()
        guard sluice_inflate_init2(&stream, 15 + 32) == Z_OK else {
            throw CompressionError.corrupt(codec: .gzip, reason: "inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var output = BoundedOutput(inputSize: input.readableBytes, limit: limit, codec: .gzip)
        try input.withUnsafeReadableBytes { source in
            stream.next_in = UnsafeMutablePointer(mutating: source.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(source.count)
            while true {
                let room = try output.room()
                var result: Int32 = Z_OK
                output.write(room: room) { target in
                    stream.next_out = target.bindMemory(to: Bytef.self).baseAddress
                    stream.avail_out = uInt(target.count)
                    result = inflate(&stream, Z_NO_FLUSH)
                    return target.count - Int(stream.avail_out)
                }
                switch result {
                case Z_STREAM_END:
                    if stream.avail_in == 0 { return }
                    // Another gzip member follows; Kafka's readers accept concatenations.
                    guard inflateReset(&stream) == Z_OK else {
                        throw CompressionError.corrupt(codec: .gzip, reason: "inflateReset failed")
                    }
                case Z_OK, Z_BUF_ERROR:
                    // Output full: loop for more room. Otherwise inflate wants input that is not there.
                    if stream.avail_out != 0 && stream.avail_in == 0 {
                        throw CompressionError.corrupt(codec: .gzip, reason: "truncated stream")
                    }
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "inflate returned \(result)"
                    throw CompressionError.corrupt(codec: .gzip, reason: message)
                }
            }
        }
        return try output.finish()
    }
}
