import Glibc
import Logging
import NIOCore
import SluiceClient
import SluiceCore
import SluiceServer

/// A real Sluice broker in this process, on a free loopback port and a temporary directory.
final class BrokerFixture: @unchecked Sendable {
    let server: KafkaServer
    let directory: String
    let bootstrap: String

    init(settings: [(String, String)] = []) throws {
        var template = Array("/tmp/sluice-client-XXXXXX".utf8CString)
        directory = String(cString: mkdtemp(&template)!)
        var config = BrokerConfig()
        try config.apply([("listeners", "127.0.0.1:0"), ("log.dirs", directory), ("group.initial.rebalance.delay.ms", "0")] + settings)
        var logger = Logger(label: "broker")
        logger.logLevel = .warning
        server = try KafkaServer.start(config: config, logger: logger)
        bootstrap = "127.0.0.1:\(server.localAddress.port ?? 0)"
    }

    func clientConfig() throws -> KafkaClientConfig {
        var config = try KafkaClientConfig(bootstrap: bootstrap)
        config.requestTimeout = .seconds(10)
        return config
    }

    deinit {
        server.shutdown()
        _ = system("rm -rf '\(directory)'")
    }
}
