import CFuzzSupport
import KafkaProtocol
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One fuzz input, decoded through the entry points a broker or client would use.
///
/// The first byte picks the decoder (its value modulo 4), so that every corpus entry is
/// meaningful to exactly one of them and libFuzzer's coverage feedback is not diluted:
///
/// - 0: a byte stream of size-prefixed request frames: `KafkaFrameDecoder`, then
///   `KafkaRequestFrame(frame:)` and `decodeBody()`; the record batches of a Produce request
///   are walked as well.
/// - 1: a bare body: 2 bytes API key, 2 bytes version, 1 byte direction (even: request,
///   odd: response), the rest the body, through `ApiKey.decodeRequest`/`decodeResponse`. Any
///   key and version reaches the dispatch, so every generated decoder is reachable. Produce
///   requests' and Fetch responses' records are walked as well.
/// - 2: a records blob: `RecordBatch.next`, `verifyCRC`, `records(decompressionLimit:)` (bit 4
///   of the first byte sets `allowPartialTail`).
/// - 3: a compressed payload: the next byte picks the codec (modulo 5), the rest goes to
///   `CompressionCodec.decompress(_:limit:)`.
///
/// Any thrown error is an acceptable answer. A trap, a sanitizer report, or one allocation
/// larger than the input allows (see `AllocationBudget`) is a finding.
enum FuzzTarget {
    /// Largest frame the frame decoder accepts here; libFuzzer's -max_len keeps inputs below it.
    static let maximumFrameSize = 1 << 20
    /// Bound on decompressed output, as the broker gives `forEachRecord`.
    static let decompressionLimit = 1 << 20

    static func run(_ input: UnsafeRawBufferPointer) {
        guard let selector = input.first else { return }
        var rest = ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: input.dropFirst()))
        switch selector % 4 {
        case 0:
            decodeFrames(&rest, inputSize: input.count)
        case 1:
            decodeBody(&rest, inputSize: input.count)
        case 2:
            walkRecords(rest, allowPartialTail: selector & 0x10 != 0, inputSize: input.count)
        default:
            AllocationBudget.measure(inputSize: input.count, decompressing: true) { decompress(&rest) }
        }
    }

    // MARK: (a) frames

    static func decodeFrames(_ stream: inout ByteBuffer, inputSize: Int) {
        let decoder = KafkaFrameDecoder(maximumFrameSize: maximumFrameSize)
        var produceRecords: [ByteBuffer] = []
        AllocationBudget.measure(inputSize: inputSize) {
            while true {
                let frame: ByteBuffer
                do {
                    guard let next = try decoder.nextFrame(from: &stream) else { break }
                    frame = next
                } catch {
                    break  // a bad size prefix ends the connection
                }
                do {
                    let request = try KafkaRequestFrame(frame: frame)
                    let body = try request.decodeBody()
                    if let produce = body as? ProduceRequest {
                        produceRecords.append(contentsOf: records(of: produce))
                    }
                } catch {
                    continue  // a bad frame is answered or closes the connection; the next one is independent
                }
            }
        }
        for blob in produceRecords { walkRecords(blob, allowPartialTail: false, inputSize: inputSize) }
    }

    // MARK: (b) any API key and version

    static func decodeBody(_ input: inout ByteBuffer, inputSize: Int) {
        guard let key = input.readInteger(as: Int16.self),
              let version = input.readInteger(as: Int16.self),
              let direction = input.readInteger(as: UInt8.self)
        else { return }
        let apiKey = ApiKey(rawValue: key)
        var blobs: [ByteBuffer] = []
        AllocationBudget.measure(inputSize: inputSize) {
            do {
                if direction & 1 == 0 {
                    let request = try apiKey.decodeRequest(from: &input, version: version)
                    if let produce = request as? ProduceRequest { blobs = records(of: produce) }
                } else {
                    let response = try apiKey.decodeResponse(from: &input, version: version)
                    if let fetch = response as? FetchResponse { blobs = records(of: fetch) }
                }
            } catch {
                return
            }
        }
        // A fetch response may end in a partial batch; a produce request may not.
        for blob in blobs { walkRecords(blob, allowPartialTail: direction & 1 == 1, inputSize: inputSize) }
    }

    static func records(of produce: ProduceRequest) -> [ByteBuffer] {
        produce.topicData.flatMap { topic in topic.partitionData.compactMap(\.records) }
    }

    static func records(of fetch: FetchResponse) -> [ByteBuffer] {
        fetch.responses.flatMap { topic in topic.partitions.compactMap(\.records) }
    }

    // MARK: (c) record batches

    /// Walks every batch of a records blob. The CRC is checked but a mismatch does not stop
    /// the walk, so that mutated batches still reach the record decoder. An uncompressed
    /// batch is held to the input's allocation bound, a compressed one to the codec's.
    static func walkRecords(_ blob: ByteBuffer, allowPartialTail: Bool, inputSize: Int) {
        var buffer = blob
        while true {
            let batch: RecordBatch
            do {
                guard let next = try RecordBatch.next(from: &buffer, allowPartialTail: allowPartialTail) else { return }
                batch = next
            } catch {
                return
            }
            _ = try? batch.verifyCRC()
            let compressed = batch.header.attributes.compression.map { $0 != .none } ?? false
            AllocationBudget.measure(inputSize: inputSize, decompressing: compressed) {
                _ = try? batch.records(decompressionLimit: decompressionLimit)
            }
        }
    }

    // MARK: codecs

    static func decompress(_ input: inout ByteBuffer) {
        guard let which = input.readInteger(as: UInt8.self) else { return }
        let codec = CompressionCodec.allCases[Int(which) % CompressionCodec.allCases.count]
        _ = try? codec.decompress(input, limit: decompressionLimit)
    }
}

/// Checks "never an allocation larger than the frame": while a decoder runs, the sanitizer
/// allocator reports every allocation, and each single one must stay within
/// `max(floor, input size)`. Where a codec runs, the bound is the input plus twice the
/// decompression limit (the output buffer, rounded up to a power of two) plus
/// `codecWorkingMemory`, the window and block buffers that real producers' frames ask the C
/// libraries for (librdkafka's zstd frames declare a 2 MiB window; LZ4 frames allow 4 MiB
/// blocks). `floor` covers the Swift runtime's own caches (metadata, conformances) that a
/// first call may fill, and small fixed buffers. An allocation past the bound aborts inside the
/// hook, so the stack shows where it was made.
///
/// Only active in sanitizer builds (the hook needs the sanitizer allocator); a plain build
/// skips it. `SLUICE_FUZZ_ALLOCATION_FLOOR=<bytes>` changes the floor,
/// `SLUICE_FUZZ_CODEC_MEMORY=<bytes>` the codec allowance, `SLUICE_FUZZ_NO_ALLOCATION_CHECK=1`
/// turns the check off.
enum AllocationBudget {
    nonisolated(unsafe) static var enabled = false
    nonisolated(unsafe) static var floor = 64 * 1024
    nonisolated(unsafe) static var codecWorkingMemory = 4 << 20

    static func install() {
        enabled = sluice_fuzz_install_allocation_hook() != 0
        if let text = getenv("SLUICE_FUZZ_ALLOCATION_FLOOR"), let value = Int(String(cString: text)) {
            floor = value
        }
        if let text = getenv("SLUICE_FUZZ_CODEC_MEMORY"), let value = Int(String(cString: text)) {
            codecWorkingMemory = value
        }
        if getenv("SLUICE_FUZZ_NO_ALLOCATION_CHECK") != nil { enabled = false }
    }

    static func measure(inputSize: Int, decompressing: Bool = false, _ body: () -> Void) {
        guard enabled else { return body() }
        var allowed = max(floor, inputSize)
        if decompressing { allowed = max(allowed, inputSize + 2 * FuzzTarget.decompressionLimit + codecWorkingMemory) }
        sluice_fuzz_arm(allowed)
        body()
        _ = sluice_fuzz_disarm()
    }
}
