import CZstd
import NIOCore

/// zstd, one or more frames.
enum ZstdCodec {
    static func compress(_ input: ByteBuffer, level: Int32) throws -> ByteBuffer {
        let bound = ZSTD_compressBound(input.readableBytes)
        var output = ByteBufferAllocator().buffer(capacity: bound)
        var failure: String?
        _ = input.withUnsafeReadableBytes { source in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { target in
                let result = ZSTD_compress(target.baseAddress, target.count, source.baseAddress, source.count, level)
                if ZSTD_isError(result) != 0 {
                    failure = String(cString: ZSTD_getErrorName(result))
                    return 0
                }
                return result
            }
        }
        if let failure { throw CompressionError.compressionFailed(codec: .zstd, reason: failure) }
        return output
    }

    static func decompress(_ input: ByteBuffer, limit: Int) throws -> ByteBuffer {
        guard let stream = ZSTD_createDStream() else {
            throw CompressionError.corrupt(codec: .zstd, reason: "cannot create a decompression stream")
        }
        defer { ZSTD_freeDStream(stream) }
        ZSTD_initDStream(stream)
        // The frame header picks the window the decoder allocates; bound it by the output limit
        // (never below 2 MiB, which librdkafka's and Kafka's frames use) so a 12-byte frame cannot
        // make it allocate 128 MiB.
        var windowLog: Int32 = 21
        while windowLog < 27 && (1 << windowLog) < limit { windowLog += 1 }
        ZSTD_DCtx_setParameter(stream, ZSTD_d_windowLogMax, windowLog)
        var output = BoundedOutput(inputSize: input.readableBytes, limit: limit, codec: .zstd)
        try input.withUnsafeReadableBytes { source in
            var inBuffer = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
            var lastHint = 1
            while true {
                let room = try output.room()
                var failure: String?
                var produced = 0
                output.write(room: room) { target in
                    var outBuffer = ZSTD_outBuffer(dst: target.baseAddress, size: target.count, pos: 0)
                    let hint = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                    if ZSTD_isError(hint) != 0 {
                        failure = String(cString: ZSTD_getErrorName(hint))
                        return 0
                    }
                    lastHint = hint
                    produced = outBuffer.pos
                    return outBuffer.pos
                }
                if let failure { throw CompressionError.corrupt(codec: .zstd, reason: failure) }
                guard inBuffer.pos == inBuffer.size else { continue }
                // 0: the last frame ended and is flushed. Otherwise zstd may still hold decoded
                // data for the next call; a call that makes no progress means input is missing.
                if lastHint == 0 { return }
                if produced == 0 { throw CompressionError.corrupt(codec: .zstd, reason: "truncated frame") }
            }
        }
        return try output.finish()
    }
}
