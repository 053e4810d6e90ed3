import Foundation
import KafkaProtocol
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Seeded random mutations of valid encodings, decoded through the entry points the broker and
/// the client use. The fallback for machines where the libFuzzer target (Fuzz/) cannot be built,
/// and a short fuzz run in every `make test`. It passes when nothing traps and every error is
/// one of the library's own (`KafkaProtocolError`, `RecordBatchError`, `CompressionError`).
///
/// Inputs: random values of every generated message at every version (the `arbitrary`
/// generators), as bare bodies and, for requests, as whole frames; record batches in every
/// codec; the golden frames from real clients; Fuzz/Corpus (so that a crash input committed
/// there is replayed on every run). Mutations: bit flips, edge bytes, truncation, huge
/// int16/int32 lengths and counts, maximal varints, inserted/deleted/overwritten/duplicated
/// ranges; one to three of them per input.
///
/// `SLUICE_MUTATION_SEED=<n>` picks another seed; `SLUICE_MUTATION_SECONDS=<s>` runs rounds of
/// fresh seeds for that long instead of the fixed default amount (Tools/fuzz.sh uses both). If
/// a decoder traps, a signal handler prints the input (hex) and what it was being decoded as
/// before the process dies.
@Suite("Decoder mutation")
struct DecoderMutationTests {
    /// The default run: rounds of fresh random seed inputs, each mutated this many times; about
    /// 650,000 inputs, some 15 s in a debug build on 2 cores.
    static let defaultRounds = 10
    static let mutationsPerSeed = 48
    static let decompressionLimit = 1 << 20

    @Test func mutatedInputsNeverTrap() throws {
        let environment = ProcessInfo.processInfo.environment
        let baseSeed = environment["SLUICE_MUTATION_SEED"].flatMap(UInt64.init) ?? 0x5151
        let budget = environment["SLUICE_MUTATION_SECONDS"].flatMap(Double.init)
        MutationCrashReporter.install()

        let start = ContinuousClock.now
        var stats = MutationStats()
        var round: UInt64 = 0
        repeat {
            let seed = baseSeed &+ round &* 0x9E37_79B9_7F4A_7C15
            var rng = TestRandom(seed: seed)
            let seeds = try Self.seedInputs(using: &rng)
            for input in seeds {
                for _ in 0..<Self.mutationsPerSeed {
                    var bytes = input.bytes
                    Self.mutate(&bytes, using: &rng)
                    Self.decode(bytes, as: input.kind, label: input.label, stats: &stats)
                }
            }
            round += 1
            if round == 1 {
                // The unmutated seeds must decode (a check that the inputs are meaningful),
                // except the golden and corpus files, which include deliberately odd frames, and
                // random Produce/Fetch values, whose records are random bytes, not batches.
                for input in seeds where input.mustDecode {
                    var clean = MutationStats()
                    Self.decode(input.bytes, as: input.kind, label: input.label, stats: &clean)
                    let kinds = clean.errorKinds.keys.sorted().joined(separator: ", ")
                    #expect(clean.errors == 0, "seed \(input.label) did not decode: \(kinds)")
                }
                stats.seedInputs = seeds.count
            }
        } while budget.map { ContinuousClock.now - start < .seconds($0) } ?? (round < Self.defaultRounds)

        let elapsed = ContinuousClock.now - start
        print("decoder mutation: seed \(baseSeed), \(round) round(s), \(stats.seedInputs) seed inputs, \(stats.inputs) mutated inputs decoded in \(elapsed) (\(stats.decoded) decoded, \(stats.errors) typed errors); error kinds: \(stats.errorKinds.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
        let untyped = stats.untyped.sorted().joined(separator: "\n")
        #expect(stats.untyped.isEmpty, "errors that are not KafkaProtocolError/RecordBatchError/CompressionError:\n\(untyped)")
    }

    /// Every generated message has a mutation case: a protocolgen change that adds one shows
    /// up here until `mutationCases` below gets it too.
    @Test func everyGeneratedMessageHasAMutationCase() {
        let mutated = Set(mutationCases.map(\.name))
        let missing = allGeneratedMessages.map(\.name).filter { !mutated.contains($0) }
        #expect(missing.isEmpty, "add to mutationCases: \(missing)")
    }

    // MARK: Inputs

    enum Kind {
        case message(MutationCase, version: Int16)
        case frames
        case records(allowPartialTail: Bool)
        case compressed(CompressionCodec)
    }

    struct SeedInput {
        let label: String
        let kind: Kind
        let bytes: [UInt8]
        let mustDecode: Bool
    }

    static func seedInputs(using rng: inout TestRandom) throws -> [SeedInput] {
        var inputs: [SeedInput] = []
        for message in mutationCases {
            let carriesRecords = message.name == "ProduceRequest" || message.name == "FetchResponse"
            for version in message.validVersions {
                let body = try message.encode(version, &rng)
                inputs.append(SeedInput(label: "\(message.name) v\(version)", kind: .message(message, version: version), bytes: Array(body.readableBytesView), mustDecode: !carriesRecords))
                if message.isRequest, let key = message.apiKey, let spec = ApiKey(rawValue: key).spec {
                    var frame = ByteBuffer()
                    let start = frame.beginKafkaFrame()
                    try RequestHeader(requestApiKey: key, requestApiVersion: version, correlationId: Int32(truncatingIfNeeded: rng.next()), clientId: rng.nextString())
                        .write(to: &frame, version: spec.requestHeaderVersion(forApiVersion: version))
                    frame.writeImmutableBuffer(body)
                    frame.endKafkaFrame(at: start)
                    inputs.append(SeedInput(label: "\(message.name) v\(version) frame", kind: .frames, bytes: Array(frame.readableBytesView), mustDecode: !carriesRecords))
                }
            }
        }
        for codec in CompressionCodec.allCases {
            let batch = try randomBatch(codec: codec, using: &rng)
            inputs.append(SeedInput(label: "batch \(codec)", kind: .records(allowPartialTail: rng.nextBool()), bytes: Array(batch.readableBytesView), mustDecode: true))
            if codec != .none {
                let payload = try codec.compress(rng.nextBytes())
                inputs.append(SeedInput(label: "payload \(codec)", kind: .compressed(codec), bytes: Array(payload.readableBytesView), mustDecode: true))
            }
            // A produce request carrying the batch, framed, so that frames lead into records.
            let produce = ProduceRequest(acks: -1, timeoutMs: 1000, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: batch)])])
            var frame = ByteBuffer()
            try frame.writeKafkaRequest(produce, version: 9, correlationId: 1, clientId: "m")
            inputs.append(SeedInput(label: "produce frame \(codec)", kind: .frames, bytes: Array(frame.readableBytesView), mustDecode: true))
        }
        inputs += fileSeeds
        return inputs
    }

    static func randomBatch(codec: CompressionCodec, using rng: inout TestRandom) throws -> ByteBuffer {
        var builder = RecordBatchBuilder(baseOffset: Int64(rng.next() % 1000), compression: codec)
        for index in 0..<(1 + Int(rng.next() % 5)) {
            let headers = rng.nextArray { rng in RecordHeader(key: rng.nextString(), value: rng.nextBool(oneIn: 4) ? nil : rng.nextBytes()) }
            builder.append(
                key: rng.nextBool(oneIn: 4) ? nil : rng.nextBytes(), value: rng.nextBool(oneIn: 8) ? nil : rng.nextBytes(),
                headers: headers, timestamp: 1_700_000_000_000 + Int64(index))
        }
        return try builder.build()
    }

    /// The golden frames (requests as frames, responses as bodies of the API and version their
    /// file name gives) and Fuzz/Corpus, read once.
    static let fileSeeds: [SeedInput] = {
        var inputs: [SeedInput] = []
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let golden = root.appendingPathComponent("Fixtures/golden")
        let files = FileManager.default.enumerator(at: golden, includingPropertiesForKeys: nil)?
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "bin" }
            .sorted { $0.path < $1.path } ?? []
        var seen = Set<String>()
        for file in files {
            let parts = file.deletingPathExtension().lastPathComponent.split(separator: "-", maxSplits: 4).map(String.init)
            guard parts.count == 5, parts[3].hasPrefix("v"), let version = Int16(parts[3].dropFirst()),
                  let spec = ApiKey.allSpecs.first(where: { $0.name == parts[2] }),
                  seen.insert(file.deletingLastPathComponent().lastPathComponent + parts[1...3].joined(separator: "-") + parts[4]).inserted,
                  let data = try? Data(contentsOf: file), data.count >= 8
            else { continue }
            let bytes = [UInt8](data)
            if parts[1] == "req" {
                inputs.append(SeedInput(label: "golden \(file.lastPathComponent)", kind: .frames, bytes: bytes, mustDecode: false))
            } else if let response = mutationCases.first(where: { $0.apiKey == spec.key.rawValue && !$0.isRequest }) {
                var body = ByteBuffer(bytes: bytes.dropFirst(8))
                if spec.responseHeaderVersion(forApiVersion: version) >= 1 { _ = try? body.readKafkaTaggedFields { _, _ in } }
                inputs.append(SeedInput(label: "golden \(file.lastPathComponent)", kind: .message(response, version: version), bytes: Array(body.readableBytesView), mustDecode: false))
            }
        }
        // Fuzz/Corpus, in the fuzz target's format: first byte picks the decoder.
        let corpus = root.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz/Corpus")
        let corpusFiles = (try? FileManager.default.contentsOfDirectory(at: corpus, includingPropertiesForKeys: nil))?.sorted { $0.path < $1.path } ?? []
        for file in corpusFiles {
            guard let data = try? Data(contentsOf: file), let selector = data.first else { continue }
            let rest = [UInt8](data.dropFirst())
            let label = "corpus \(file.lastPathComponent)"
            switch selector % 4 {
            case 0:
                inputs.append(SeedInput(label: label, kind: .frames, bytes: rest, mustDecode: false))
            case 1:
                guard rest.count >= 5 else { continue }
                let key = Int16(bitPattern: UInt16(rest[0]) << 8 | UInt16(rest[1]))
                let version = Int16(bitPattern: UInt16(rest[2]) << 8 | UInt16(rest[3]))
                let isRequest = rest[4] & 1 == 0
                guard let message = mutationCases.first(where: { $0.apiKey == key && $0.isRequest == isRequest }) else { continue }
                inputs.append(SeedInput(label: label, kind: .message(message, version: version), bytes: Array(rest.dropFirst(5)), mustDecode: false))
            case 2:
                inputs.append(SeedInput(label: label, kind: .records(allowPartialTail: selector & 0x10 != 0), bytes: rest, mustDecode: false))
            default:
                guard let which = rest.first else { continue }
                let codec = CompressionCodec.allCases[Int(which) % CompressionCodec.allCases.count]
                inputs.append(SeedInput(label: label, kind: .compressed(codec), bytes: Array(rest.dropFirst()), mustDecode: false))
            }
        }
        return inputs
    }()

    // MARK: Mutations

    static func mutate(_ bytes: inout [UInt8], using rng: inout TestRandom) {
        for _ in 0..<(1 + Int(rng.next() % 3)) {
            let position = bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count))
            switch rng.next() % 10 {
            case 0, 1:  // bit flip
                guard !bytes.isEmpty else { continue }
                bytes[position] ^= 1 << UInt8(rng.next() % 8)
            case 2:  // an edge byte
                guard !bytes.isEmpty else { continue }
                bytes[position] = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE][Int(rng.next() % 6)]
            case 3:  // truncation
                bytes.removeLast(bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count + 1)))
            case 4:  // a huge or negative int32 length/count over existing bytes
                let value: [UInt8] = [[0x7F, 0xFF, 0xFF, 0xFF], [0xFF, 0xFF, 0xFF, 0xFF], [0x80, 0, 0, 0], [0x7F, 0xFF, 0xFF, 0xFE], [0, 0x0F, 0xFF, 0xFF]][Int(rng.next() % 5)]
                overwrite(&bytes, at: position, with: value)
            case 5:  // a huge or negative int16 length
                overwrite(&bytes, at: position, with: [[0x7F, 0xFF], [0xFF, 0xFF], [0x80, 0x00], [0xFF, 0xFE]][Int(rng.next() % 4)])
            case 6:  // a maximal (or over-long) unsigned varint, inserted: a compact count or length
                let value: [UInt8] = [[0xFF, 0xFF, 0xFF, 0xFF, 0x0F], [0xFF, 0xFF, 0xFF, 0xFF, 0x7F], [0xFF, 0xFF, 0x03], [0x80, 0x80, 0x80, 0x80, 0x80, 0x01]][Int(rng.next() % 4)]
                bytes.insert(contentsOf: value, at: position)
            case 7:  // random bytes, inserted or overwriting
                let count = 1 + Int(rng.next() % 16)
                let random = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                if rng.nextBool() { bytes.insert(contentsOf: random, at: position) } else { overwrite(&bytes, at: position, with: random) }
            case 8:  // a range deleted
                let count = min(bytes.count - position, 1 + Int(rng.next() % 16))
                bytes.removeSubrange(position..<(position + count))
            default:  // a range duplicated
                let count = min(bytes.count - position, 1 + Int(rng.next() % 16))
                bytes.insert(contentsOf: bytes[position..<(position + count)], at: position)
            }
        }
    }

    static func overwrite(_ bytes: inout [UInt8], at position: Int, with value: [UInt8]) {
        for (offset, byte) in value.enumerated() where position + offset < bytes.count {
            bytes[position + offset] = byte
        }
    }

    // MARK: Decoding, through the same entry points as the fuzz target (Fuzz/Sources/ProtocolFuzzer)

    static func decode(_ bytes: [UInt8], as kind: Kind, label: String, stats: inout MutationStats) {
        stats.inputs += 1
        MutationCrashReporter.willDecode(bytes, label: label)
        defer { MutationCrashReporter.didDecode() }
        do {
            switch kind {
            case .message(let message, let version):
                var buffer = ByteBuffer(bytes: bytes)
                let value = try message.decode(&buffer, version)
                if let produce = value as? ProduceRequest {
                    for records in produce.topicData.flatMap({ $0.partitionData.compactMap(\.records) }) {
                        try walkRecords(records, allowPartialTail: false)
                    }
                } else if let fetch = value as? FetchResponse {
                    for records in fetch.responses.flatMap({ $0.partitions.compactMap(\.records) }) {
                        try walkRecords(records, allowPartialTail: true)
                    }
                }
            case .frames:
                try decodeFrames(bytes, stats: &stats)
            case .records(let allowPartialTail):
                try walkRecords(ByteBuffer(bytes: bytes), allowPartialTail: allowPartialTail)
            case .compressed(let codec):
                _ = try codec.decompress(ByteBuffer(bytes: bytes), limit: decompressionLimit)
            }
            stats.decoded += 1
        } catch {
            stats.record(error)
        }
    }

    /// A connection's byte stream: frames until the decoder wants more bytes or rejects a size;
    /// each frame's header and body, and a produce request's record batches.
    static func decodeFrames(_ bytes: [UInt8], stats: inout MutationStats) throws {
        var stream = ByteBuffer(bytes: bytes)
        let decoder = KafkaFrameDecoder(maximumFrameSize: 1 << 20)
        var lastError: Error?
        while let frame = try decoder.nextFrame(from: &stream) {
            do {
                let request = try KafkaRequestFrame(frame: frame).decodeBody()
                if let produce = request as? ProduceRequest {
                    for topic in produce.topicData {
                        for partition in topic.partitionData {
                            if let records = partition.records { try walkRecords(records, allowPartialTail: false) }
                        }
                    }
                }
            } catch {
                lastError = error
            }
        }
        if let lastError { throw lastError }
    }

    /// Every batch of a records blob: CRC checked (a mismatch does not stop the walk, so that
    /// mutated batches reach the record decoder), records decompressed and decoded.
    static func walkRecords(_ blob: ByteBuffer, allowPartialTail: Bool) throws {
        var buffer = blob
        var firstError: Error?
        while let batch = try RecordBatch.next(from: &buffer, allowPartialTail: allowPartialTail) {
            do { try batch.verifyCRC() } catch { firstError = firstError ?? error }
            _ = try batch.records(decompressionLimit: decompressionLimit)
        }
        if let firstError { throw firstError }
    }
}

struct MutationStats {
    var inputs = 0
    var decoded = 0
    var errors = 0
    var seedInputs = 0
    var errorKinds: [String: Int] = [:]
    var untyped: Set<String> = []

    mutating func record(_ error: Error) {
        errors += 1
        let kind: String
        switch error {
        case let error as KafkaProtocolError: kind = "KafkaProtocolError.\(caseName(error))"
        case let error as RecordBatchError: kind = "RecordBatchError.\(caseName(error))"
        case let error as CompressionError: kind = "CompressionError.\(caseName(error))"
        default:
            kind = "\(type(of: error))"
            untyped.insert("\(type(of: error)): \(error)")
        }
        errorKinds[kind, default: 0] += 1
    }

    private func caseName(_ error: Error) -> String {
        String("\(error)".prefix { $0 != "(" })
    }
}

/// One generated message type with its random generator, type-erased. Mirrors
/// `allGeneratedMessages` (Generated/AllMessages.swift), whose `GeneratedMessageCase` does not
/// hand out the encoded bytes; `everyGeneratedMessageHasAMutationCase` keeps the two in step.
struct MutationCase: Sendable {
    let name: String
    let apiKey: Int16?
    let isRequest: Bool
    let validVersions: ClosedRange<Int16>
    let encode: @Sendable (Int16, inout TestRandom) throws -> ByteBuffer
    /// API messages decode through `ApiKey.decodeRequest`/`decodeResponse`, as the broker and
    /// the client do; the others (headers, consumer-protocol and KRaft records) through their type.
    let decode: @Sendable (inout ByteBuffer, Int16) throws -> Any

    init<M: KafkaMessage>(_ type: M.Type, apiKey: Int16?, arbitrary: @escaping @Sendable (Int16, inout TestRandom) -> M) {
        let name = String(describing: type)
        self.name = name
        self.apiKey = apiKey
        self.isRequest = name.hasSuffix("Request")
        self.validVersions = M.validVersions
        self.encode = { version, rng in try arbitrary(version, &rng).encoded(version: version) }
        if let apiKey {
            let key = ApiKey(rawValue: apiKey)
            if name.hasSuffix("Request") {
                self.decode = { buffer, version in try key.decodeRequest(from: &buffer, version: version) }
            } else {
                self.decode = { buffer, version in try key.decodeResponse(from: &buffer, version: version) }
            }
        } else {
            self.decode = { buffer, version in try M(from: &buffer, version: version) }
        }
    }
}

/// Prints the input being decoded when the process dies of a signal (a Swift trap is SIGILL or
/// SIGTRAP), then lets the previous handler (the Swift runtime's backtracer, or the default)
/// run: the handler restores it and returns, and the faulting instruction traps again.
enum MutationCrashReporter {
    static let capacity = 1 << 16
    nonisolated(unsafe) static var input = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
    nonisolated(unsafe) static var inputCount = 0
    nonisolated(unsafe) static var active = false
    nonisolated(unsafe) static var label = UnsafeMutablePointer<CChar>.allocate(capacity: 256)
    nonisolated(unsafe) static var hex = UnsafeMutablePointer<UInt8>.allocate(capacity: 2 * capacity + 1)
    /// The handlers that were there before, indexed by signal number.
    nonisolated(unsafe) static var previous = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)
    nonisolated(unsafe) static var installed = false
    static let signals: [Int32] = [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE]

    static func install() {
        guard !installed else { return }
        installed = true
        label.initialize(to: 0)
        for number in signals {
            var action = sigaction()
            #if canImport(Glibc)
            action.__sigaction_handler.sa_handler = { number in MutationCrashReporter.report(number) }
            #else
            action.__sigaction_u.__sa_handler = { number in MutationCrashReporter.report(number) }
            #endif
            sigemptyset(&action.sa_mask)
            sigaction(number, &action, previous + Int(number))
        }
    }

    static func willDecode(_ bytes: [UInt8], label text: String) {
        let count = min(bytes.count, capacity)
        bytes.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { input.update(from: base, count: count) }
        }
        inputCount = count
        _ = text.withCString { strncpy(label, $0, 255) }
        active = true
    }

    static func didDecode() {
        active = false
    }

    /// Runs in the signal handler: no allocation, only write(2).
    static func report(_ number: Int32) {
        if active {
            active = false
            for index in 0..<inputCount {
                let high = input[index] >> 4, low = input[index] & 0xF
                hex[2 * index] = high < 10 ? 48 + high : 87 + high
                hex[2 * index + 1] = low < 10 ? 48 + low : 87 + low
            }
            hex[2 * inputCount] = 10
            writeStandardError("\nDecoderMutationTests: a signal arrived while decoding a mutation of ")
            _ = write(2, label, strlen(label))
            writeStandardError(" (input in hex):\n")
            _ = write(2, hex, 2 * inputCount + 1)
        }
        sigaction(number, previous + Int(number), nil)
    }

    private static func writeStandardError(_ text: StaticString) {
        _ = write(2, text.utf8Start, text.utf8CodeUnitCount)
    }
}

// MARK: The cases

/// Every generated message (the same list as `allGeneratedMessages`).
let mutationCases: [MutationCase] = [
    MutationCase(AddOffsetsToTxnRequest.self, apiKey: 25) { AddOffsetsToTxnRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(AddOffsetsToTxnResponse.self, apiKey: 25) { AddOffsetsToTxnResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(AddPartitionsToTxnRequest.self, apiKey: 24) { AddPartitionsToTxnRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(AddPartitionsToTxnResponse.self, apiKey: 24) { AddPartitionsToTxnResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(AddRaftVoterRequest.self, apiKey: 80) { AddRaftVoterRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(AddRaftVoterResponse.self, apiKey: 80) { AddRaftVoterResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(AllocateProducerIdsRequest.self, apiKey: 67) { AllocateProducerIdsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(AllocateProducerIdsResponse.self, apiKey: 67) { AllocateProducerIdsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(AlterClientQuotasRequest.self, apiKey: 49) { AlterClientQuotasRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(AlterClientQuotasResponse.self, apiKey: 49) { AlterClientQuotasResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(AlterConfigsRequest.self, apiKey: 33) { AlterConfigsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(AlterConfigsResponse.self, apiKey: 33) { AlterConfigsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(AlterPartitionReassignmentsRequest.self, apiKey: 45) { AlterPartitionReassignmentsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(AlterPartitionReassignmentsResponse.self, apiKey: 45) { AlterPartitionReassignmentsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(AlterPartitionRequest.self, apiKey: 56) { AlterPartitionRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(AlterPartitionResponse.self, apiKey: 56) { AlterPartitionResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(AlterReplicaLogDirsRequest.self, apiKey: 34) { AlterReplicaLogDirsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(AlterReplicaLogDirsResponse.self, apiKey: 34) { AlterReplicaLogDirsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(AlterUserScramCredentialsRequest.self, apiKey: 51) { AlterUserScramCredentialsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(AlterUserScramCredentialsResponse.self, apiKey: 51) { AlterUserScramCredentialsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(ApiVersionsRequest.self, apiKey: 18) { ApiVersionsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(ApiVersionsResponse.self, apiKey: 18) { ApiVersionsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(AssignReplicasToDirsRequest.self, apiKey: 73) { AssignReplicasToDirsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(AssignReplicasToDirsResponse.self, apiKey: 73) { AssignReplicasToDirsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(BeginQuorumEpochRequest.self, apiKey: 53) { BeginQuorumEpochRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(BeginQuorumEpochResponse.self, apiKey: 53) { BeginQuorumEpochResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(BrokerHeartbeatRequest.self, apiKey: 63) { BrokerHeartbeatRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(BrokerHeartbeatResponse.self, apiKey: 63) { BrokerHeartbeatResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(BrokerRegistrationRequest.self, apiKey: 62) { BrokerRegistrationRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(BrokerRegistrationResponse.self, apiKey: 62) { BrokerRegistrationResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(ConsumerGroupDescribeRequest.self, apiKey: 69) { ConsumerGroupDescribeRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(ConsumerGroupDescribeResponse.self, apiKey: 69) { ConsumerGroupDescribeResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(ConsumerGroupHeartbeatRequest.self, apiKey: 68) { ConsumerGroupHeartbeatRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(ConsumerGroupHeartbeatResponse.self, apiKey: 68) { ConsumerGroupHeartbeatResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(ConsumerProtocolAssignment.self, apiKey: nil) { ConsumerProtocolAssignment.arbitrary(version: $0, using: &$1) },
    MutationCase(ConsumerProtocolSubscription.self, apiKey: nil) { ConsumerProtocolSubscription.arbitrary(version: $0, using: &$1) },
    MutationCase(ControlledShutdownRequest.self, apiKey: 7) { ControlledShutdownRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(ControlledShutdownResponse.self, apiKey: 7) { ControlledShutdownResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(ControllerRegistrationRequest.self, apiKey: 70) { ControllerRegistrationRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(ControllerRegistrationResponse.self, apiKey: 70) { ControllerRegistrationResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(CreateAclsRequest.self, apiKey: 30) { CreateAclsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(CreateAclsResponse.self, apiKey: 30) { CreateAclsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(CreateDelegationTokenRequest.self, apiKey: 38) { CreateDelegationTokenRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(CreateDelegationTokenResponse.self, apiKey: 38) { CreateDelegationTokenResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(CreatePartitionsRequest.self, apiKey: 37) { CreatePartitionsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(CreatePartitionsResponse.self, apiKey: 37) { CreatePartitionsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(CreateTopicsRequest.self, apiKey: 19) { CreateTopicsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(CreateTopicsResponse.self, apiKey: 19) { CreateTopicsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(DefaultPrincipalData.self, apiKey: nil) { DefaultPrincipalData.arbitrary(version: $0, using: &$1) },
    MutationCase(DeleteAclsRequest.self, apiKey: 31) { DeleteAclsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(DeleteAclsResponse.self, apiKey: 31) { DeleteAclsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(DeleteGroupsRequest.self, apiKey: 42) { DeleteGroupsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(DeleteGroupsResponse.self, apiKey: 42) { DeleteGroupsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(DeleteRecordsRequest.self, apiKey: 21) { DeleteRecordsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(DeleteRecordsResponse.self, apiKey: 21) { DeleteRecordsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(DeleteShareGroupStateRequest.self, apiKey: 86) { DeleteShareGroupStateRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(DeleteShareGroupStateResponse.self, apiKey: 86) { DeleteShareGroupStateResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(DeleteTopicsRequest.self, apiKey: 20) { DeleteTopicsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(DeleteTopicsResponse.self, apiKey: 20) { DeleteTopicsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeAclsRequest.self, apiKey: 29) { DescribeAclsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeAclsResponse.self, apiKey: 29) { DescribeAclsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeClientQuotasRequest.self, apiKey: 48) { DescribeClientQuotasRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeClientQuotasResponse.self, apiKey: 48) { DescribeClientQuotasResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeClusterRequest.self, apiKey: 60) { DescribeClusterRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeClusterResponse.self, apiKey: 60) { DescribeClusterResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeConfigsRequest.self, apiKey: 32) { DescribeConfigsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeConfigsResponse.self, apiKey: 32) { DescribeConfigsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeDelegationTokenRequest.self, apiKey: 41) { DescribeDelegationTokenRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeDelegationTokenResponse.self, apiKey: 41) { DescribeDelegationTokenResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeGroupsRequest.self, apiKey: 15) { DescribeGroupsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeGroupsResponse.self, apiKey: 15) { DescribeGroupsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeLogDirsRequest.self, apiKey: 35) { DescribeLogDirsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeLogDirsResponse.self, apiKey: 35) { DescribeLogDirsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeProducersRequest.self, apiKey: 61) { DescribeProducersRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeProducersResponse.self, apiKey: 61) { DescribeProducersResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeQuorumRequest.self, apiKey: 55) { DescribeQuorumRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeQuorumResponse.self, apiKey: 55) { DescribeQuorumResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeTopicPartitionsRequest.self, apiKey: 75) { DescribeTopicPartitionsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeTopicPartitionsResponse.self, apiKey: 75) { DescribeTopicPartitionsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeTransactionsRequest.self, apiKey: 65) { DescribeTransactionsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeTransactionsResponse.self, apiKey: 65) { DescribeTransactionsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeUserScramCredentialsRequest.self, apiKey: 50) { DescribeUserScramCredentialsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(DescribeUserScramCredentialsResponse.self, apiKey: 50) { DescribeUserScramCredentialsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(ElectLeadersRequest.self, apiKey: 43) { ElectLeadersRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(ElectLeadersResponse.self, apiKey: 43) { ElectLeadersResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(EndQuorumEpochRequest.self, apiKey: 54) { EndQuorumEpochRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(EndQuorumEpochResponse.self, apiKey: 54) { EndQuorumEpochResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(EndTxnRequest.self, apiKey: 26) { EndTxnRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(EndTxnResponse.self, apiKey: 26) { EndTxnResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(EnvelopeRequest.self, apiKey: 58) { EnvelopeRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(EnvelopeResponse.self, apiKey: 58) { EnvelopeResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(ExpireDelegationTokenRequest.self, apiKey: 40) { ExpireDelegationTokenRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(ExpireDelegationTokenResponse.self, apiKey: 40) { ExpireDelegationTokenResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(FetchRequest.self, apiKey: 1) { FetchRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(FetchResponse.self, apiKey: 1) { FetchResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(FetchSnapshotRequest.self, apiKey: 59) { FetchSnapshotRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(FetchSnapshotResponse.self, apiKey: 59) { FetchSnapshotResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(FindCoordinatorRequest.self, apiKey: 10) { FindCoordinatorRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(FindCoordinatorResponse.self, apiKey: 10) { FindCoordinatorResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(GetTelemetrySubscriptionsRequest.self, apiKey: 71) { GetTelemetrySubscriptionsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(GetTelemetrySubscriptionsResponse.self, apiKey: 71) { GetTelemetrySubscriptionsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(HeartbeatRequest.self, apiKey: 12) { HeartbeatRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(HeartbeatResponse.self, apiKey: 12) { HeartbeatResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(IncrementalAlterConfigsRequest.self, apiKey: 44) { IncrementalAlterConfigsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(IncrementalAlterConfigsResponse.self, apiKey: 44) { IncrementalAlterConfigsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(InitProducerIdRequest.self, apiKey: 22) { InitProducerIdRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(InitProducerIdResponse.self, apiKey: 22) { InitProducerIdResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(InitializeShareGroupStateRequest.self, apiKey: 83) { InitializeShareGroupStateRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(InitializeShareGroupStateResponse.self, apiKey: 83) { InitializeShareGroupStateResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(JoinGroupRequest.self, apiKey: 11) { JoinGroupRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(JoinGroupResponse.self, apiKey: 11) { JoinGroupResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(KRaftVersionRecord.self, apiKey: nil) { KRaftVersionRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(LeaderAndIsrRequest.self, apiKey: 4) { LeaderAndIsrRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(LeaderAndIsrResponse.self, apiKey: 4) { LeaderAndIsrResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(LeaderChangeMessage.self, apiKey: nil) { LeaderChangeMessage.arbitrary(version: $0, using: &$1) },
    MutationCase(LeaveGroupRequest.self, apiKey: 13) { LeaveGroupRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(LeaveGroupResponse.self, apiKey: 13) { LeaveGroupResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(ListClientMetricsResourcesRequest.self, apiKey: 74) { ListClientMetricsResourcesRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(ListClientMetricsResourcesResponse.self, apiKey: 74) { ListClientMetricsResourcesResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(ListGroupsRequest.self, apiKey: 16) { ListGroupsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(ListGroupsResponse.self, apiKey: 16) { ListGroupsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(ListOffsetsRequest.self, apiKey: 2) { ListOffsetsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(ListOffsetsResponse.self, apiKey: 2) { ListOffsetsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(ListPartitionReassignmentsRequest.self, apiKey: 46) { ListPartitionReassignmentsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(ListPartitionReassignmentsResponse.self, apiKey: 46) { ListPartitionReassignmentsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(ListTransactionsRequest.self, apiKey: 66) { ListTransactionsRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(ListTransactionsResponse.self, apiKey: 66) { ListTransactionsResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(MetadataRequest.self, apiKey: 3) { MetadataRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(MetadataResponse.self, apiKey: 3) { MetadataResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(OffsetCommitRequest.self, apiKey: 8) { OffsetCommitRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(OffsetCommitResponse.self, apiKey: 8) { OffsetCommitResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(OffsetDeleteRequest.self, apiKey: 47) { OffsetDeleteRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(OffsetDeleteResponse.self, apiKey: 47) { OffsetDeleteResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(OffsetFetchRequest.self, apiKey: 9) { OffsetFetchRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(OffsetFetchResponse.self, apiKey: 9) { OffsetFetchResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(OffsetForLeaderEpochRequest.self, apiKey: 23) { OffsetForLeaderEpochRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(OffsetForLeaderEpochResponse.self, apiKey: 23) { OffsetForLeaderEpochResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(ProduceRequest.self, apiKey: 0) { ProduceRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(ProduceResponse.self, apiKey: 0) { ProduceResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(PushTelemetryRequest.self, apiKey: 72) { PushTelemetryRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(PushTelemetryResponse.self, apiKey: 72) { PushTelemetryResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(ReadShareGroupStateRequest.self, apiKey: 84) { ReadShareGroupStateRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(ReadShareGroupStateResponse.self, apiKey: 84) { ReadShareGroupStateResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(ReadShareGroupStateSummaryRequest.self, apiKey: 87) { ReadShareGroupStateSummaryRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(ReadShareGroupStateSummaryResponse.self, apiKey: 87) { ReadShareGroupStateSummaryResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(RemoveRaftVoterRequest.self, apiKey: 81) { RemoveRaftVoterRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(RemoveRaftVoterResponse.self, apiKey: 81) { RemoveRaftVoterResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(RenewDelegationTokenRequest.self, apiKey: 39) { RenewDelegationTokenRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(RenewDelegationTokenResponse.self, apiKey: 39) { RenewDelegationTokenResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(RequestHeader.self, apiKey: nil) { RequestHeader.arbitrary(version: $0, using: &$1) },
    MutationCase(ResponseHeader.self, apiKey: nil) { ResponseHeader.arbitrary(version: $0, using: &$1) },
    MutationCase(SaslAuthenticateRequest.self, apiKey: 36) { SaslAuthenticateRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(SaslAuthenticateResponse.self, apiKey: 36) { SaslAuthenticateResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(SaslHandshakeRequest.self, apiKey: 17) { SaslHandshakeRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(SaslHandshakeResponse.self, apiKey: 17) { SaslHandshakeResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(ShareAcknowledgeRequest.self, apiKey: 79) { ShareAcknowledgeRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(ShareAcknowledgeResponse.self, apiKey: 79) { ShareAcknowledgeResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(ShareFetchRequest.self, apiKey: 78) { ShareFetchRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(ShareFetchResponse.self, apiKey: 78) { ShareFetchResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(ShareGroupDescribeRequest.self, apiKey: 77) { ShareGroupDescribeRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(ShareGroupDescribeResponse.self, apiKey: 77) { ShareGroupDescribeResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(ShareGroupHeartbeatRequest.self, apiKey: 76) { ShareGroupHeartbeatRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(ShareGroupHeartbeatResponse.self, apiKey: 76) { ShareGroupHeartbeatResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(SnapshotFooterRecord.self, apiKey: nil) { SnapshotFooterRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(SnapshotHeaderRecord.self, apiKey: nil) { SnapshotHeaderRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(StopReplicaRequest.self, apiKey: 5) { StopReplicaRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(StopReplicaResponse.self, apiKey: 5) { StopReplicaResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(SyncGroupRequest.self, apiKey: 14) { SyncGroupRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(SyncGroupResponse.self, apiKey: 14) { SyncGroupResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(TxnOffsetCommitRequest.self, apiKey: 28) { TxnOffsetCommitRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(TxnOffsetCommitResponse.self, apiKey: 28) { TxnOffsetCommitResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(UnregisterBrokerRequest.self, apiKey: 64) { UnregisterBrokerRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(UnregisterBrokerResponse.self, apiKey: 64) { UnregisterBrokerResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(UpdateFeaturesRequest.self, apiKey: 57) { UpdateFeaturesRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(UpdateFeaturesResponse.self, apiKey: 57) { UpdateFeaturesResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(UpdateMetadataRequest.self, apiKey: 6) { UpdateMetadataRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(UpdateMetadataResponse.self, apiKey: 6) { UpdateMetadataResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(UpdateRaftVoterRequest.self, apiKey: 82) { UpdateRaftVoterRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(UpdateRaftVoterResponse.self, apiKey: 82) { UpdateRaftVoterResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(VoteRequest.self, apiKey: 52) { VoteRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(VoteResponse.self, apiKey: 52) { VoteResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(VotersRecord.self, apiKey: nil) { VotersRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(WriteShareGroupStateRequest.self, apiKey: 85) { WriteShareGroupStateRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(WriteShareGroupStateResponse.self, apiKey: 85) { WriteShareGroupStateResponse.arbitrary(version: $0, using: &$1) },
    MutationCase(WriteTxnMarkersRequest.self, apiKey: 27) { WriteTxnMarkersRequest.arbitrary(version: $0, using: &$1) },
    MutationCase(WriteTxnMarkersResponse.self, apiKey: 27) { WriteTxnMarkersResponse.arbitrary(version: $0, using: &$1) },
    // KRaft metadata records (Generated/Metadata).
    MutationCase(AbortTransactionRecord.self, apiKey: nil) { AbortTransactionRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(AccessControlEntryRecord.self, apiKey: nil) { AccessControlEntryRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(BeginTransactionRecord.self, apiKey: nil) { BeginTransactionRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(BrokerRegistrationChangeRecord.self, apiKey: nil) { BrokerRegistrationChangeRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(ClientQuotaRecord.self, apiKey: nil) { ClientQuotaRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(ConfigRecord.self, apiKey: nil) { ConfigRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(DelegationTokenRecord.self, apiKey: nil) { DelegationTokenRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(EndTransactionRecord.self, apiKey: nil) { EndTransactionRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(FeatureLevelRecord.self, apiKey: nil) { FeatureLevelRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(FenceBrokerRecord.self, apiKey: nil) { FenceBrokerRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(NoOpRecord.self, apiKey: nil) { NoOpRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(PartitionChangeRecord.self, apiKey: nil) { PartitionChangeRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(PartitionRecord.self, apiKey: nil) { PartitionRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(ProducerIdsRecord.self, apiKey: nil) { ProducerIdsRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(RegisterBrokerRecord.self, apiKey: nil) { RegisterBrokerRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(RegisterControllerRecord.self, apiKey: nil) { RegisterControllerRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(RemoveAccessControlEntryRecord.self, apiKey: nil) { RemoveAccessControlEntryRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(RemoveDelegationTokenRecord.self, apiKey: nil) { RemoveDelegationTokenRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(RemoveTopicRecord.self, apiKey: nil) { RemoveTopicRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(RemoveUserScramCredentialRecord.self, apiKey: nil) { RemoveUserScramCredentialRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(TopicRecord.self, apiKey: nil) { TopicRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(UnfenceBrokerRecord.self, apiKey: nil) { UnfenceBrokerRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(UnregisterBrokerRecord.self, apiKey: nil) { UnregisterBrokerRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(UserScramCredentialRecord.self, apiKey: nil) { UserScramCredentialRecord.arbitrary(version: $0, using: &$1) },
    MutationCase(ZkMigrationStateRecord.self, apiKey: nil) { ZkMigrationStateRecord.arbitrary(version: $0, using: &$1) },
    // The transaction log's records (coordinator/).
    MutationCase(TransactionLogKey.self, apiKey: nil) { TransactionLogKey.arbitrary(version: $0, using: &$1) },
    MutationCase(TransactionLogValue.self, apiKey: nil) { TransactionLogValue.arbitrary(version: $0, using: &$1) },
]
