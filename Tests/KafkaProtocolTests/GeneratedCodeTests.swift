import Foundation
import Testing

/// The committed generated code is exactly what the generator writes from the specs.
@Suite("Generated code")
struct GeneratedCodeTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let specFolder = repositoryRoot.deletingLastPathComponent()
        .appendingPathComponent("shared/kafka-protocol/message")
    static let specsPresent = FileManager.default.fileExists(atPath: specFolder.path)

    @Test(.enabled(if: specsPresent, "../shared/kafka-protocol/message is absent: cannot compare the generated code with the specs"))
    func committedCodeMatchesTheGenerator() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", Self.repositoryRoot.appendingPathComponent("Tools/protocolgen/protocolgen.py").path,
            "--check", "--spec", Self.specFolder.path, "--root", Self.repositoryRoot.path,
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "generated code differs from the generator's output; run `make generate`:\n\(output)")
    }
}
