import KafkaProtocol
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The seed corpus: a few valid inputs for each of the four decoders, built from the generated
/// types' `encoded(version:)` and `RecordBatchBuilder`, so they stay valid as the encoders
/// change. `ProtocolFuzzer --write-seeds DIR` writes them (Fuzz/Corpus holds the result).
enum Seeds {
    struct Seed {
        let name: String
        let bytes: [UInt8]
    }

    static func all() throws -> [Seed] {
        var seeds: [Seed] = []

        // (c) record batches, one per codec, plus a two-batch blob with headers.
        var batches: [CompressionCodec: ByteBuffer] = [:]
        for codec in CompressionCodec.allCases {
            var builder = RecordBatchBuilder(baseOffset: 42, compression: codec, producerId: 7, producerEpoch: 1, baseSequence: 0)
            builder.append(key: ByteBuffer(string: "key-1"), value: ByteBuffer(string: "value one"), timestamp: 1_700_000_000_000)
            builder.append(
                key: nil, value: ByteBuffer(string: String(repeating: "compressible ", count: 8)),
                headers: [RecordHeader(key: "trace", value: ByteBuffer(string: "abc")), RecordHeader(key: "nil", value: nil)],
                timestamp: 1_700_000_000_123)
            builder.append(key: ByteBuffer(string: "k3"), value: nil, timestamp: 1_699_999_999_999)
            let batch = try builder.build()
            batches[codec] = batch
            seeds.append(Seed(name: "records-\(codec)", bytes: [2] + batch.readableBytesView))
        }
        var twoBatches = batches[.none]!
        twoBatches.writeImmutableBuffer(batches[.zstd]!)
        seeds.append(Seed(name: "records-two-batches", bytes: [2] + twoBatches.readableBytesView))

        // Raw compressed payloads for the codecs on their own.
        let plain = ByteBuffer(string: String(repeating: "sluice kafka ", count: 20))
        for codec in CompressionCodec.allCases where codec != .none {
            let compressed = try codec.compress(plain)
            seeds.append(Seed(name: "codec-\(codec)", bytes: [3, UInt8(codec.rawValue)] + compressed.readableBytesView))
        }

        // (a) request frames and (b) bodies.
        let produce = ProduceRequest(
            transactionalId: nil, acks: -1, timeoutMs: 30_000,
            topicData: [.init(name: "orders", partitionData: [.init(index: 0, records: batches[.none]!), .init(index: 1, records: batches[.lz4]!)])])
        let fetch = FetchRequest(
            maxWaitMs: 500, minBytes: 1, maxBytes: 52_428_800, sessionEpoch: -1,
            topics: [.init(topic: "orders", topicId: KafkaUUID(high: 0x0123_4567_89AB_4DEF, low: 0x8123_4567_89AB_CDEF),
                           partitions: [.init(partition: 0, currentLeaderEpoch: 3, fetchOffset: 42, logStartOffset: 0, partitionMaxBytes: 1_048_576)])],
            rackId: "rack-a")
        let metadata = MetadataRequest(topics: [.init(topicId: .zero, name: "orders"), .init(topicId: .zero, name: "payments")], allowAutoTopicCreation: false)
        let apiVersions = ApiVersionsRequest(clientSoftwareName: "sluice-fuzz", clientSoftwareVersion: "0.1")
        let join = JoinGroupRequest(
            groupId: "group", sessionTimeoutMs: 45_000, rebalanceTimeoutMs: 300_000, memberId: "",
            protocolType: "consumer", protocols: [.init(name: "range", metadata: ByteBuffer(bytes: [0, 3, 0, 0, 0, 1, 0, 6]))])
        let createTopics = CreateTopicsRequest(
            topics: [.init(name: "orders", numPartitions: 3, replicationFactor: 1, configs: [.init(name: "retention.ms", value: "86400000")])],
            timeoutMs: 30_000)

        seeds += try requestSeeds(produce, name: "produce", versions: [3, 9, 11])
        seeds += try requestSeeds(fetch, name: "fetch", versions: [4, 12, 17])
        seeds += try requestSeeds(metadata, name: "metadata", versions: [4, 9, 12])
        seeds += try requestSeeds(apiVersions, name: "apiversions", versions: [0, 3])
        seeds += try requestSeeds(join, name: "joingroup", versions: [5, 9])
        seeds += try requestSeeds(createTopics, name: "createtopics", versions: [4, 7])

        // A stream of three frames, as a connection would carry them.
        var stream = ByteBuffer()
        try stream.writeKafkaRequest(apiVersions, version: 3, correlationId: 1, clientId: "c")
        try stream.writeKafkaRequest(metadata, version: 12, correlationId: 2, clientId: "c")
        try stream.writeKafkaRequest(produce, version: 9, correlationId: 3, clientId: "c")
        seeds.append(Seed(name: "frame-stream-3", bytes: [0] + stream.readableBytesView))

        // Responses, as a client decodes them.
        let fetchResponse = FetchResponse(
            throttleTimeMs: 0, errorCode: 0, sessionId: 0,
            responses: [.init(topic: "orders", topicId: .zero, partitions: [
                .init(partitionIndex: 0, highWatermark: 45, lastStableOffset: 45, logStartOffset: 0,
                      abortedTransactions: [.init(producerId: 7, firstOffset: 40)], records: twoBatches),
            ])])
        let metadataResponse = MetadataResponse(
            brokers: [.init(nodeId: 1, host: "localhost", port: 9092, rack: nil)], clusterId: "cluster", controllerId: 1,
            topics: [.init(errorCode: 0, name: "orders", topicId: .zero, partitions: [
                .init(errorCode: 0, partitionIndex: 0, leaderId: 1, leaderEpoch: 3, replicaNodes: [1], isrNodes: [1], offlineReplicas: []),
            ])])
        seeds += try responseSeeds(fetchResponse, name: "fetch", versions: [4, 12, 16])
        seeds += try responseSeeds(metadataResponse, name: "metadata", versions: [1, 9, 12])
        return seeds
    }

    /// Each version of a request as a framed request (with header) and as a bare body.
    static func requestSeeds<R: KafkaRequest>(_ request: R, name: String, versions: [Int16]) throws -> [Seed] {
        var seeds: [Seed] = []
        for version in versions {
            var frame = ByteBuffer()
            try frame.writeKafkaRequest(request, version: version, correlationId: 7, clientId: "sluice-fuzz")
            seeds.append(Seed(name: "frame-\(name)-v\(version)", bytes: [0] + frame.readableBytesView))
            seeds.append(Seed(name: "body-request-\(name)-v\(version)", bytes: bodyPrefix(R.apiKey, version, response: false) + (try request.encoded(version: version)).readableBytesView))
        }
        return seeds
    }

    static func responseSeeds<R: KafkaResponse>(_ response: R, name: String, versions: [Int16]) throws -> [Seed] {
        try versions.map { version in
            let body = try response.encoded(version: version)
            return Seed(name: "body-response-\(name)-v\(version)", bytes: bodyPrefix(R.apiKey, version, response: true) + body.readableBytesView)
        }
    }

    static func bodyPrefix(_ key: ApiKey, _ version: Int16, response: Bool) -> [UInt8] {
        let k = UInt16(bitPattern: key.rawValue), v = UInt16(bitPattern: version)
        return [1, UInt8(k >> 8), UInt8(k & 0xFF), UInt8(v >> 8), UInt8(v & 0xFF), response ? 1 : 0]
    }

    /// Frames captured from real clients (Tests/KafkaProtocolTests/Fixtures/golden: one
    /// size-prefixed frame per `<client>/NNNN-{req,resp}-<ApiName>-v<version>-<tag>.bin`).
    /// Keeps the first request and response of each (client, API, version), every Produce
    /// request and every Fetch response; requests become frame seeds, responses body seeds
    /// (header stripped), and the record batches inside both become records seeds, one per
    /// (client, codec).
    static func fromGolden(_ root: String) -> [Seed] {
        var seeds: [Seed] = []
        var seen = Set<String>()
        var codecsSeen = Set<String>()
        for client in listDirectories(root) {
            for file in listFiles("\(root)/\(client)") where file.hasSuffix(".bin") {
                let parts = file.dropLast(4).split(separator: "-", maxSplits: 4).map(String.init)
                guard parts.count == 5, parts[3].hasPrefix("v"), let version = Int16(parts[3].dropFirst()),
                      let spec = ApiKey.allSpecs.first(where: { $0.name == parts[2] }),
                      let bytes = readFile("\(root)/\(client)/\(file)"), bytes.count >= 8
                else { continue }
                let isResponse = parts[1] == "resp"
                let always = (spec.key == .produce && !isResponse) || (spec.key == .fetch && isResponse)
                guard always || seen.insert("\(client) \(parts[1]) \(spec.key.rawValue) \(version)").inserted else { continue }
                let name = "golden-\(client)-\(file.dropLast(4))"
                var blobs: [ByteBuffer] = []
                if isResponse {
                    var body = ByteBuffer(bytes: bytes.dropFirst(8))  // size, correlation id
                    if spec.responseHeaderVersion(forApiVersion: version) >= 1 {
                        guard (try? body.readKafkaTaggedFields { _, _ in }) != nil else { continue }
                    }
                    seeds.append(Seed(name: name, bytes: bodyPrefix(spec.key, version, response: true) + body.readableBytesView))
                    var reader = body
                    if let fetch = try? spec.key.decodeResponse(from: &reader, version: version) as? FetchResponse {
                        blobs = FuzzTarget.records(of: fetch)
                    }
                } else {
                    seeds.append(Seed(name: name, bytes: [0] + bytes))
                    if let frame = try? KafkaRequestFrame(frame: ByteBuffer(bytes: bytes.dropFirst(4))),
                       let produce = try? frame.decodeBody() as? ProduceRequest {
                        blobs = FuzzTarget.records(of: produce)
                    }
                }
                for blob in blobs {
                    var reader = blob
                    while let batch = try? RecordBatch.next(from: &reader, allowPartialTail: true) {
                        let codec = batch.header.attributes.compression.map { "\($0)" } ?? "unknown"
                        guard codecsSeen.insert("\(client) \(codec)").inserted else { continue }
                        seeds.append(Seed(name: "golden-\(client)-records-\(codec)", bytes: [2] + batch.bytes.readableBytesView))
                    }
                }
            }
        }
        return seeds
    }

    static func write(to directory: String, goldenDirectory: String?) throws -> Int {
        mkdir(directory, 0o755)
        var seeds = try all()
        if let goldenDirectory { seeds += fromGolden(goldenDirectory) }
        for seed in seeds {
            guard writeFile("\(directory)/\(seed.name)", seed.bytes) else {
                throw SeedError.cannotWrite("\(directory)/\(seed.name)")
            }
        }
        return seeds.count
    }

    enum SeedError: Error { case cannotWrite(String) }
}

// Small file helpers on libc, so the fuzzer needs no Foundation.

func readFile(_ path: String) -> [UInt8]? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        if count <= 0 { break }
        bytes += chunk[0..<count]
    }
    return bytes
}

func writeFile(_ path: String, _ bytes: [UInt8]) -> Bool {
    guard let file = fopen(path, "wb") else { return false }
    defer { fclose(file) }
    return fwrite(bytes, 1, bytes.count, file) == bytes.count
}

/// Regular files in `directory`, sorted; empty when it cannot be read.
func listFiles(_ directory: String) -> [String] {
    listEntries(directory, type: S_IFREG)
}

func listDirectories(_ directory: String) -> [String] {
    listEntries(directory, type: S_IFDIR)
}

private func listEntries(_ directory: String, type: mode_t) -> [String] {
    guard let dir = opendir(directory) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
        }
        if name.hasPrefix(".") { continue }
        var info = stat()
        if stat("\(directory)/\(name)", &info) == 0 && (info.st_mode & S_IFMT) == type {
            names.append(name)
        }
    }
    return names.sorted()
}

/// Writes to standard error without Foundation (Swift 6 rejects the global `stderr`).
func printError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}

func isDirectory(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
}
