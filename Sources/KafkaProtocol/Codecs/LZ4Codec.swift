import CLZ4
import NIOCore

/// LZ4 in the frame format, which is what Kafka's lz4 codec means for magic 2 batches.
enum LZ4Codec {
    static func compress(_ input: ByteBuffer, level: Int32) throws -> ByteBuffer {
        // Kafka's Java writer uses 64 KiB independent blocks and no content checksum.
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.blockSizeID = LZ4F_max64KB
        preferences.frameInfo.blockMode = LZ4F_blockIndependent
        preferences.compressionLevel = level
        let bound = LZ4F_compressFrameBound(input.readableBytes, &preferences)
        var output = ByteBufferAllocator().buffer(capacity: bound)
        var failure: String?
        _ = input.withUnsafeReadableBytes { source in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { target in
                let result = LZ4F_compressFrame(target.baseAddress, target.count, source.baseAddress, source.count, &preferences)
                if LZ4F_isError(result) != 0 {
                    failure = String(cString: LZ4F_getErrorName(result))
                    return 0
                }
                return result
            }
        }
        if let failure { throw CompressionError.compressionFailed(codec: .lz4, reason: failure) }
        return output
    }

    static func decompress(_ input: ByteBuffer, limit: Int) throws -> ByteBuffer {
        var context: OpaquePointer?
        let created = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
        guard LZ4F_isError(created) == 0, let context else {
            throw CompressionError.corrupt(codec: .lz4, reason: "cannot create a decompression context")
        }
        defer { LZ4F_freeDecompressionContext(context) }
        var output = BoundedOutput(inputSize: input.readableBytes, limit: limit, codec: .lz4)
        try input.withUnsafeReadableBytes { source in
            var consumed = 0
            while true {
                let room = try output.room()
                var hint = 0
                var failure: String?
                var produced = 0
                var taken = 0
                output.write(room: room) { target in
                    produced = target.count
                    taken = source.count - consumed
                    hint = LZ4F_decompress(context, target.baseAddress, &produced, source.baseAddress.map { $0 + consumed }, &taken, nil)
                    if LZ4F_isError(hint) != 0 {
                        failure = String(cString: LZ4F_getErrorName(hint))
                        return 0
                    }
                    consumed += taken
                    return produced
                }
                if let failure { throw CompressionError.corrupt(codec: .lz4, reason: failure) }
                if hint == 0 {
                    // Frame complete. Trailing bytes after the frame are not something Kafka writes.
                    guard consumed == source.count else {
                        throw CompressionError.corrupt(codec: .lz4, reason: "bytes after the end of the frame")
                    }
                    return
                }
                if consumed == source.count && produced == 0 && taken == 0 {
                    throw CompressionError.corrupt(codec: .lz4, reason: "truncated frame")
                }
            }
        }
        return try output.finish()
    }
}
