import Benchmark
import KafkaProtocol
import NIOCore

// Each iteration processes one MiB, so the throughput column reads directly as MiB/s.
private let mebibyte = 1 << 20

/// Text-like data: compressible the way real JSON-ish values are.
private func sampleData(_ size: Int) -> ByteBuffer {
    var state: UInt64 = 0x1234_5678
    var buffer = ByteBuffer()
    let words = ["{\"user\":", "\"id\":", "12345", "\"event\":\"click\"", ",", "}", " ", "sluice", "kafka"]
    while buffer.readableBytes < size {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        buffer.writeString(words[Int(state >> 33) % words.count])
    }
    return buffer.getSlice(at: 0, length: size)!
}

/// A batch of 100-byte values, about one MiB in all.
private func sampleBatch(compression: CompressionCodec) -> ByteBuffer {
    let data = sampleData(mebibyte)
    var builder = RecordBatchBuilder(compression: compression)
    var offset = 0
    while offset + 100 <= mebibyte - 20 * 100 {
        builder.append(key: nil, value: data.getSlice(at: offset, length: 100), timestamp: 1_700_000_000_000 + Int64(offset))
        offset += 100
    }
    return try! builder.build()
}

let benchmarks: @Sendable () -> Void = {
    let throughput = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(3), maxIterations: 100_000)
    let data = sampleData(mebibyte)

    Benchmark("CRC-32C hardware (MiB/s)", configuration: throughput) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(data.withUnsafeReadableBytes { CRC32C.checksum($0) })
        }
    }
    Benchmark("CRC-32C portable table (MiB/s)", configuration: throughput) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(data.withUnsafeReadableBytes { CRC32C.portableChecksum($0) })
        }
    }

    for codec in [CompressionCodec.lz4, .zstd, .snappy, .gzip] {
        let compressed = try! codec.compress(data)
        Benchmark("\(codec) compress (MiB/s of input)", configuration: throughput) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try codec.compress(data))
            }
        }
        Benchmark("\(codec) decompress (MiB/s of output)", configuration: throughput) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try codec.decompress(compressed, limit: 2 * mebibyte))
            }
        }
    }

    let values = (0..<10_000).map { data.getSlice(at: $0 * 100, length: 100)! }
    Benchmark("record batch encode, 100 B records (MiB/s)", configuration: throughput) { benchmark in
        for _ in benchmark.scaledIterations {
            var builder = RecordBatchBuilder()
            for (index, value) in values.enumerated() {
                builder.append(key: nil, value: value, timestamp: 1_700_000_000_000 + Int64(index))
            }
            blackHole(try builder.build())
        }
    }

    for codec in [CompressionCodec.none, .lz4, .zstd] {
        let batch = sampleBatch(compression: codec)
        Benchmark("record batch header + CRC check, \(codec) (batches/s, 1 MiB of records each)", configuration: throughput) { benchmark in
            for _ in benchmark.scaledIterations {
                var bytes = batch
                let parsed = try RecordBatch.next(from: &bytes)!
                try parsed.verifyCRC()
                blackHole(parsed.header.recordCount)
            }
        }
        Benchmark("record batch decode all records, \(codec) (MiB/s of records)", configuration: throughput) { benchmark in
            for _ in benchmark.scaledIterations {
                var bytes = batch
                let parsed = try RecordBatch.next(from: &bytes)!
                var count = 0
                try parsed.forEachRecord(decompressionLimit: 4 * mebibyte) { _ in count += 1 }
                blackHole(count)
            }
        }
    }
}
