import Glibc
import SluiceClient

/// A running mockbroker process (librdkafka's mock cluster); killed at deinit. A `controlled`
/// one takes fault-injection commands (`control`) through a FIFO, as mockbroker.c describes.
final class MockCluster: @unchecked Sendable {
    static let binary: String? = {
        guard let path = getenv("SLUICE_MOCKBROKER").map({ String(cString: $0) }) ?? defaultPath(), access(path, X_OK) == 0 else { return nil }
        return path
    }()

    private static func defaultPath() -> String? {
        let here = String(#filePath)
        guard let range = here.range(of: "/Tests/") else { return nil }
        return String(here[..<range.lowerBound]) + "/.build/mockbroker"
    }

    let pid: pid_t
    let bootstrap: String
    /// The FIFO commands are written to, and the mock's stdout, where each is answered.
    private let controlPath: String?
    private let answers: Int32

    init(brokers: Int, controlled: Bool = false) throws {
        guard let binary = Self.binary else { throw KafkaClientError(kind: .invalidArgument, message: "no mockbroker") }
        var controlPath: String?
        if controlled {
            var template = Array("/tmp/sluice-mock-XXXXXX".utf8CString)
            guard let directory = mkdtemp(&template) else { throw KafkaClientError(kind: .connection, message: "mkdtemp failed") }
            let path = String(cString: directory) + "/control"
            guard mkfifo(path, 0o600) == 0 else { throw KafkaClientError(kind: .connection, message: "mkfifo failed") }
            controlPath = path
        }
        self.controlPath = controlPath
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { throw KafkaClientError(kind: .connection, message: "pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
        var child: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(binary), strdup("\(brokers)"), nil]
        var environment: [UnsafeMutablePointer<CChar>?] = []
        var index = 0
        while let entry = environ[index] {
            environment.append(strdup(entry))
            index += 1
        }
        if let controlPath { environment.append(strdup("MOCKBROKER_CONTROL=\(controlPath)")) }
        environment.append(nil)
        defer {
            argv.forEach { free($0) }
            environment.forEach { free($0) }
        }
        let status = posix_spawn(&child, binary, &actions, nil, argv, environment)
        posix_spawn_file_actions_destroy(&actions)
        close(pipeEnds[1])
        guard status == 0 else { throw KafkaClientError(kind: .connection, message: "posix_spawn failed: \(status)") }
        pid = child
        answers = pipeEnds[0]
        bootstrap = Self.readLine(answers)
    }

    private static func readLine(_ descriptor: Int32) -> String {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(descriptor, &byte, 1) == 1, byte != 10 { line.append(byte) }
        return String(decoding: line, as: UTF8.self)
    }

    /// Sends one fault-injection command (`errors 26 51 51`, `coordinator transaction ID 2`, ...)
    /// and waits for the mock's "ok".
    func control(_ command: String) throws {
        guard let controlPath else { throw KafkaClientError(kind: .invalidArgument, message: "the mock was started without control") }
        let descriptor = open(controlPath, O_WRONLY)
        guard descriptor >= 0 else { throw KafkaClientError(kind: .connection, message: "cannot open \(controlPath)") }
        let line = Array((command + "\n").utf8)
        let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        guard written == line.count else { throw KafkaClientError(kind: .connection, message: "short write to the mock's control FIFO") }
        let answer = Self.readLine(answers)
        guard answer == "ok" else { throw KafkaClientError(kind: .invalidArgument, message: "mock refused '\(command)': \(answer)") }
    }

    func clientConfig() throws -> KafkaClientConfig {
        var config = try KafkaClientConfig(bootstrap: bootstrap)
        config.requestTimeout = .seconds(10)
        // The mock advertises flexible versions of the group APIs (JoinGroup v6, SyncGroup v4,
        // Heartbeat v4) but closes the connection on them, and answers LeaveGroup v3 truncated.
        config.apiVersionCaps = [.joinGroup: 5, .syncGroup: 3, .heartbeat: 3, .leaveGroup: 1]
        return config
    }

    deinit {
        close(answers)
        if let controlPath { _ = system("rm -rf '\(controlPath.dropLast("/control".count))'") }
        // SIGKILL: the mock's own shutdown (rd_kafka_mock_cluster_destroy) can hang after SIGTERM.
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}
