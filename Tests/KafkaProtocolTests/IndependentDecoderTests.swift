import Foundation
import KafkaProtocol
import NIOCore
import Testing

/// Batches Sluice encodes are read back by a decoder nobody here wrote: kafka-python's
/// DefaultRecordBatch, through Tools/interop/decode_batches.py. `make test` points
/// SLUICE_PYTHON at the venv that has kafka-python and its codec packages.
@Suite("Independent decoder interop")
struct IndependentDecoderTests {
    static let python = ProcessInfo.processInfo.environment["SLUICE_PYTHON"]
    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Tools/interop/decode_batches.py")

    @Test(
        .enabled(if: python != nil, "SLUICE_PYTHON is not set (make test sets it to the venv with kafka-python)"),
        arguments: CompressionCodec.allCases)
    func kafkaPythonReadsOurBatches(codec: CompressionCodec) throws {
        var builder = RecordBatchBuilder(
            baseOffset: 500, compression: codec, producerId: 9001, producerEpoch: 2, baseSequence: 40)
        var expected: [(key: String?, value: String?, headers: [(String, String?)], timestamp: Int64)] = []
        for index in 0..<300 {
            let key: String? = index % 4 == 0 ? nil : "key-\(index)"
            let value: String? = index % 7 == 6 ? nil : String(repeating: "value \(index) ", count: 1 + index % 9)
            let headers: [(String, String?)] = index % 3 == 0 ? [("trace", "t\(index)"), ("empty", nil)] : []
            let timestamp = 1_700_000_000_000 + Int64(index * 11)
            expected.append((key, value, headers, timestamp))
            builder.append(
                key: key.map { ByteBuffer(string: $0) }, value: value.map { ByteBuffer(string: $0) },
                headers: headers.map { RecordHeader(key: $0.0, value: $0.1.map { ByteBuffer(string: $0) }) },
                timestamp: timestamp)
        }
        let batch = try builder.build()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-interop-\(codec)-\(getpid()).batch")
        try Data(batch.readableBytesView).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(Self.python))
        process.arguments = [Self.script.path, file.path]
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "decode_batches.py failed: \(errors)")

        let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
        let files = try #require(json["files"] as? [[String: Any]])
        let batches = try #require(files.first?["batches"] as? [[String: Any]])
        try #require(batches.count == 1)
        let decoded = batches[0]
        #expect(decoded["compression"] as? String == codec.description)
        #expect(decoded["baseOffset"] as? Int == 500)
        #expect(decoded["producerId"] as? Int == 9001)
        #expect(decoded["producerEpoch"] as? Int == 2)
        #expect(decoded["baseSequence"] as? Int == 40)
        let records = try #require(decoded["records"] as? [[String: Any]])
        try #require(records.count == expected.count)
        func text(_ value: Any?) -> String? {
            guard let encoded = value as? String, let data = Data(base64Encoded: encoded) else { return nil }
            return String(decoding: data, as: UTF8.self)
        }
        for (index, record) in records.enumerated() {
            let want = expected[index]
            #expect(record["offset"] as? Int == 500 + index)
            #expect(record["timestamp"] as? Int == Int(want.timestamp))
            #expect(text(record["key"]) == want.key)
            #expect(text(record["value"]) == want.value)
            let headers = (record["headers"] as? [[Any]]) ?? []
            #expect(headers.count == want.headers.count)
            for (got, wanted) in zip(headers, want.headers) {
                #expect(got.first as? String == wanted.0)
                #expect(text(got.last) == wanted.1)
            }
        }
    }
}
