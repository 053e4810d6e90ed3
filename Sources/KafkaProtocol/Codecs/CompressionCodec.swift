import NIOCore

/// The compression codecs of Kafka's record batch (attribute bits 0–2).
public enum CompressionCodec: Int16, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0
    case gzip = 1
    case snappy = 2
    case lz4 = 3
    case zstd = 4

    /// Kafka's names, as used by `compression.type`.
    public var description: String {
        switch self {
        case .none: "none"
        case .gzip: "gzip"
        case .snappy: "snappy"
        case .lz4: "lz4"
        case .zstd: "zstd"
        }
    }

    public init?(name: String) {
        guard let codec = Self.allCases.first(where: { $0.description == name }) else { return nil }
        self = codec
    }

    /// Compresses `input` as Kafka writers do: gzip with a gzip wrapper, snappy in xerial
    /// framing (what the Java client writes and every client reads), lz4 in the LZ4 frame
    /// format with 64 KiB independent blocks, zstd as one frame. `level` nil uses the codec's
    /// Kafka default.
    public func compress(_ input: ByteBuffer, level: Int32? = nil) throws -> ByteBuffer {
        switch self {
        case .none: return input
        case .gzip: return try GzipCodec.compress(input, level: level ?? 6)
        case .snappy: return try SnappyCodec.compressXerial(input)
        case .lz4: return try LZ4Codec.compress(input, level: level ?? 0)
        case .zstd: return try ZstdCodec.compress(input, level: level ?? 3)
        }
    }

    /// Decompresses `input`, failing with `CompressionError.outputTooLarge` as soon as the
    /// output would pass `limit` bytes, so a decompression bomb costs at most `limit`.
    public func decompress(_ input: ByteBuffer, limit: Int) throws -> ByteBuffer {
        switch self {
        case .none:
            guard input.readableBytes <= limit else { throw CompressionError.outputTooLarge(codec: self, limit: limit) }
            return input
        case .gzip: return try GzipCodec.decompress(input, limit: limit)
        case .snappy: return try SnappyCodec.decompress(input, limit: limit)
        case .lz4: return try LZ4Codec.decompress(input, limit: limit)
        case .zstd: return try ZstdCodec.decompress(input, limit: limit)
        }
    }
}

/// Why a compressed payload could not be read or written.
public enum CompressionError: Error, Hashable, Sendable {
    /// The decompressed data would be larger than the caller allowed.
    case outputTooLarge(codec: CompressionCodec, limit: Int)
    /// The payload is not valid for its codec (the library's message, if it gave one).
    case corrupt(codec: CompressionCodec, reason: String)
    /// The codec library refused to compress.
    case compressionFailed(codec: CompressionCodec, reason: String)
}

/// The output side of a streaming decompressor: grows by doubling and fails once more than
/// `limit` bytes would be produced. One byte of slack past the limit lets a stream that ends at
/// exactly `limit` finish and still be told apart from one that goes on.
struct BoundedOutput {
    private(set) var buffer: ByteBuffer
    let limit: Int
    let codec: CompressionCodec

    init(inputSize: Int, limit: Int, codec: CompressionCodec, exactSize: Int? = nil) {
        self.limit = limit
        self.codec = codec
        let initial = exactSize.map { $0 + 1 } ?? max(inputSize * 4, 4096)
        self.buffer = ByteBufferAllocator().buffer(capacity: min(initial, limit + 1))
    }

    /// Room for the next step, at least one byte; throws once the limit has been passed.
    mutating func room() throws -> Int {
        let hardCap = limit + 1
        guard buffer.writerIndex < hardCap else {
            throw CompressionError.outputTooLarge(codec: codec, limit: limit)
        }
        if buffer.writableBytes == 0 {
            buffer.reserveCapacity(min(max(buffer.writerIndex * 2, 4096), hardCap))
        }
        return min(buffer.writableBytes, hardCap - buffer.writerIndex)
    }

    /// Lets `body` write up to `room` bytes at the end; it returns how many it wrote.
    mutating func write(room: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> Int) rethrows {
        try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { target in
            try body(UnsafeMutableRawBufferPointer(rebasing: target.prefix(room)))
        }
    }

    func finish() throws -> ByteBuffer {
        guard buffer.readableBytes <= limit else {
            throw CompressionError.outputTooLarge(codec: codec, limit: limit)
        }
        return buffer
    }
}
