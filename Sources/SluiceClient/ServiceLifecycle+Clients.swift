import ServiceLifecycle

/// Producers and consumers run in a `ServiceGroup`: `run()` waits for graceful shutdown
/// (SIGTERM, say), then closes cleanly — the producer flushes every queued record, the
/// consumer commits (with auto-commit), leaves its group and ends `records`.
extension KafkaProducer: Service {
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }
}

extension KafkaConsumer: Service {
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }
}
