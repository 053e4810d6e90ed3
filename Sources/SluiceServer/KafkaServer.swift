import Glibc
import KafkaProtocol
import Logging
import NIOCore
import NIOPosix
import SluiceClient
import SluiceCore
import SluiceStorage
import Synchronization

/// The broker: a data directory, its topics, and the listener.
///
/// Threads: NIO event loops (one per core the process may run on, unless `num.network.threads`
/// says otherwise) serve connections and own partitions — each partition's log lives on one
/// loop, so the produce and fetch paths take no locks on it — plus one storage thread that
/// carries out log I/O (and a second that runs background fdatasyncs).
public final class KafkaServer: Sendable {
    public let localAddress: SocketAddress
    /// Every listener bound, by name, the inter-broker (first) one's included.
    public let listenerAddresses: [(name: String, address: SocketAddress)]
    public let context: BrokerContext
    private let group: MultiThreadedEventLoopGroup
    /// The listeners' server channels, the inter-broker listener's first.
    private let channels: [any Channel]
    private let dataDirectory: DataDirectoryBox
    private let dataDirectoryPath: String
    private let writer: any LogWriter
    /// Compacts topics with cleanup.policy=compact (nil under log.cleaner.enable=false).
    private let cleaner: LogCleaner?
    private let logger: Logger
    private let groups: GroupCoordinator
    private let groupsLoop: any EventLoop
    /// A broker of its own coordinates transactions on its own loop, with its log.
    private let transactions: (coordinator: TransactionCoordinator, log: PartitionLog, loop: any EventLoop)?
    private let metricsServer: MetricsServer?
    private let requestGate: RequestGate
    /// The controller listener, when this node is a controller and a broker (a controller alone
    /// serves only that listener, as `channel`).
    private let controllerChannel: (any Channel)?
    /// Where `/metrics` is served, when `metrics.listener` is set.
    public var metricsAddress: SocketAddress? { metricsServer?.channel.localAddress }

    /// Opens the data directory (failing if another broker holds it), loads the topics, and
    /// starts listening.
    public static func start(config: BrokerConfig, logger: Logger) throws -> KafkaServer {
        raiseFileDescriptorLimit()
        let threads = config.int("num.network.threads") > 0 ? config.int("num.network.threads") : defaultLoopCount()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        do {
            return try KafkaServer(config: config, group: group, logger: logger)
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
    }

    private init(config staticConfig: BrokerConfig, group: MultiThreadedEventLoopGroup, logger: Logger) throws {
        self.group = group
        self.logger = logger
        // Settings first: a refused configuration must leave no trace in the data directory.
        let cluster = try ClusterSettings.resolve(staticConfig)
        let listenerSecurity = try Self.listenerSecurity(cluster: cluster, config: staticConfig)
        if cluster.isClustered && staticConfig.string("cluster.id").isEmpty {
            // Every node of a cluster must be given the same id (Kafka's `kafka-storage format --cluster-id`).
            throw ConfigError("controller.quorum.voters is set, so cluster.id must be too: give every node of the cluster the same "
                              + "id (`sluice format` prints a new one)")
        }
        let path = staticConfig.string("log.dirs")
        let data = try DataDirectory(path: path)
        self.dataDirectory = DataDirectoryBox(data)
        self.dataDirectoryPath = path
        let identity = try ClusterIdentity.loadOrCreate(dataDirectory: path, config: staticConfig)
        let metadataDirectory = staticConfig.string("metadata.log.dir").isEmpty ? path : staticConfig.string("metadata.log.dir")
        if cluster.isClustered { try createDirectory(metadataDirectory) }
        let quorum = cluster.isClustered
            ? try QuorumHost(dataDirectory: metadataDirectory, clusterId: identity.clusterId, settings: cluster,
                             sessionTimeoutMs: staticConfig.long("broker.session.timeout.ms"),
                             uncleanLeaderElection: staticConfig.bool("unclean.leader.election.enable"),
                             rebalance: .init(enabled: staticConfig.bool("auto.leader.rebalance.enable"),
                                              intervalMs: staticConfig.long("leader.imbalance.check.interval.seconds") * 1000,
                                              imbalancePercent: staticConfig.int("leader.imbalance.per.broker.percentage")),
                             logger: logger)
            : nil
        let configFiles = DynamicConfigFiles(dataDirectory: path, nodeId: identity.nodeId)
        let config = try Self.withStoredDynamicConfigs(staticConfig, from: configFiles, logger: logger)
        let backend = LogWriterBackend(rawValue: config.string("log.io.backend")) ?? .automatic
        let writer = makeLogWriter(backend: backend, directory: path, maxQueuedBytes: Int(clamping: config.long("log.writer.max.queued.bytes")),
                                   logger: logger).writer
        self.writer = writer
        let loops = Array(group.makeIterator())
        let waiters = FetchWaiters()
        let retentionInterval = config.long("log.retention.check.interval.ms")
        let cleaner = config.bool("log.cleaner.enable") ? LogCleaner(dataDirectory: path, settings: Self.cleanerSettings(config),
                                                                        clock: wallClockMilliseconds, logger: logger) : nil
        self.cleaner = cleaner
        let health = StorageHealth()
        let diskSpace = DiskSpaceGuard(directory: path, health: health, logger: logger)
        var environment = TopicRegistry.Environment(
            broker: config, writer: writer, files: FileHandleCache(capacity: FileHandleCache.capacityForCurrentLimit()),
            cleanShutdown: data.wasCleanShutdown, clock: wallClockMilliseconds,
            ownerFor: { topic, index in
                var hasher = Hasher()
                hasher.combine(topic)
                hasher.combine(index)
                // Spread partitions over the loops; stable within a run, which is all ownership needs.
                return EventLoopOwner(eventLoop: loops[Int(UInt(bitPattern: hasher.finalize()) % UInt(loops.count))])
            },
            logger: logger,
            onPartitionOpened: { partition in
                partition.owner.execute {
                    guard let log = partition.log else { return }
                    log.onHighWatermarkChange = { _ in
                        partition.highWatermarkMoved()
                        waiters.highWatermarkMoved(partition)
                    }
                    // Followers' long polls wait on the stable end; so does a leader's high watermark.
                    log.onStableEndChange = { _ in
                        guard log.highWatermarkFollowsReplicas else { return }
                        partition.stableEndMoved()
                        waiters.highWatermarkMoved(partition)
                    }
                    log.startBackgroundMaintenance(intervalMs: retentionInterval, clock: wallClockMilliseconds)
                    cleaner?.register(log, topic: partition.topic, partition: partition.index)
                }
            },
            health: health, localBroker: identity.nodeId)
        environment.clustered = cluster.isClustered
        let replicationStatistics = ReplicationStatistics()
        let isrChanges = IsrChangeSender(logger: logger, statistics: replicationStatistics)
        if cluster.isClustered {
            environment.replication = ReplicationEnvironment(clock: wallClockMilliseconds, maxLagMs: config.long("replica.lag.time.max.ms"),
                                                             statistics: replicationStatistics,
                                                             proposeIsr: { partition, proposal in isrChanges.propose(partition, proposal) })
        }
        let registry = try TopicRegistry(dataDirectory: path, environment: environment)
        cleaner?.start()
        let configManager = BrokerConfigManager(initial: config, nodeId: identity.nodeId, store: configFiles) { changed in
            registry.reconfigure(changed)
        }
        let groups = try Self.openGroupCoordinator(config: config, dataDirectory: path, environment: environment,
                                                   owner: EventLoopOwner(eventLoop: loops[0]),
                                                   offsetsTopic: cluster.isClustered ? registry : nil, cleaner: cleaner)
        self.groups = groups
        self.groupsLoop = loops[0]
        let producerIds = try ProducerIdAllocator(dataDirectory: path)
        // One set of transaction counters for the broker's coordinators (a cluster runs one per
        // __transaction_state partition it leads), all on one loop.
        let transactionStatistics = TransactionStatistics()
        let transactionLoop = loops[1 % loops.count]
        let transactions = cluster.isClustered ? nil : try Self.openTransactionCoordinator(
            config: config, dataDirectory: path, environment: environment, loop: transactionLoop, registry: registry,
            groups: groups, producerIds: producerIds, cleaner: cleaner, statistics: transactionStatistics)
        self.transactions = transactions

        let servesClients = !cluster.isClustered || cluster.roles.contains(.broker)
        let maxFrame = config.int("socket.request.max.bytes")
        let contextBox = ContextBox()
        let metrics = BrokerMetrics(storage: writer.statistics, health: health, diskSpace: diskSpace, cleaner: cleaner,
                                    replication: cluster.isClustered ? replicationStatistics : nil,
                                    transactions: transactionStatistics)
        let dispatcher: KafkaConnectionHandler.Dispatcher
        // In a cluster, clients wait until this broker has caught up and been unfenced (Kafka's
        // BrokerServer enables request processing only then).
        let requestGate = RequestGate(open: !cluster.isClustered || !servesClients)
        self.requestGate = requestGate
        if servesClients {
            dispatcher = { request in
                if requestGate.isOpen { return try RequestDispatcher.handle(request) }
                return requestGate.whenOpen(on: request.eventLoop).flatMapThrowing { try RequestDispatcher.handle(request) }.flatMap { $0 }
            }
        } else {
            dispatcher = { request in try ControllerApis.handle(request) }
        }
        let shared = ClientListener.Shared(metrics: metrics, contextBox: contextBox, dispatcher: dispatcher, logger: logger,
                                           idleMs: config.long("connections.max.idle.ms"), maxFrame: maxFrame,
                                           maxPendingRequests: config.int("connection.max.pending.requests"))
        // The inter-broker listener is bound first: its address is `localAddress`, and brokers
        // register it first.
        var channels: [any Channel] = []
        var advertisedListeners: [ListenerEndpoint] = []
        for (endpoint, security) in listenerSecurity {
            let channel = try ClientListener.bind(endpoint, security: security, group: group, shared: shared)
            channels.append(channel)
            let boundPort = channel.localAddress?.port ?? endpoint.port
            let bindHost = endpoint.host.isEmpty ? "0.0.0.0" : endpoint.host
            var advertised = ListenerEndpoint(name: endpoint.name, host: bindHost == "0.0.0.0" || bindHost == "::" ? "localhost" : bindHost,
                                              port: boundPort)
            if let named = cluster.advertisedListeners.first(where: { $0.name == endpoint.name })
                ?? (listenerSecurity.count == 1 ? cluster.advertisedListeners.first : nil) {
                advertised.host = named.host.isEmpty ? advertised.host : named.host
                advertised.port = named.port == 0 ? boundPort : named.port
            }
            advertisedListeners.append(advertised)
        }
        self.channels = channels
        guard let address = channels.first?.localAddress else { throw ConfigError("listener has no address") }
        self.localAddress = address
        self.listenerAddresses = zip(listenerSecurity, channels).compactMap { listener, channel in
            channel.localAddress.map { (listener.endpoint.name, $0) }
        }
        let interBroker = listenerSecurity[0].endpoint
        let (advertisedHost, advertisedPort) = (advertisedListeners[0].host, advertisedListeners[0].port)
        let security = cluster.isClustered ? BrokerSecurity() : try BrokerSecurity(file: SecurityFile(dataDirectory: path))
        let clusterNode = quorum.map { quorum in
            let controllerClient = ControllerClient(
                channels: NodeChannels(voters: cluster.voters, localHost: cluster.controllerListener?.host ?? interBroker.host,
                                             clientId: "sluice-broker-\(identity.nodeId)", group: group),
                quorum: quorum)
            let registration = ClusterControl.Registration(
                brokerId: identity.nodeId, clusterId: identity.clusterId, incarnationId: KafkaUUID.random(),
                listeners: servesClients ? advertisedListeners : [], rack: cluster.rack)
            let lifecycle = servesClients
                ? BrokerLifecycle(registration: registration, client: controllerClient, quorum: quorum,
                                  heartbeatIntervalMs: config.long("broker.heartbeat.interval.ms"),
                                  wantsFence: { diskSpace.isFull() }, logger: logger)
                : nil
            isrChanges.connect(controllerClient, nodeId: identity.nodeId, brokerEpoch: { lifecycle?.brokerEpoch ?? -1 })
            let localHost = interBroker.host
            let fetchers = servesClients
                ? ReplicaFetcherManager(
                    settings: ReplicaFetcher.Settings(
                        nodeId: identity.nodeId,
                        localAddress: localHost.isEmpty || localHost == "0.0.0.0" || localHost == "::"
                            ? nil : try? SocketAddress(ipAddress: localHost, port: 0),
                        maxWaitMs: Int32(clamping: config.int("replica.fetch.wait.max.ms")),
                        partitionMaxBytes: Int32(clamping: config.int("replica.fetch.max.bytes")),
                        responseMaxBytes: Int32(clamping: config.int("replica.fetch.response.max.bytes")),
                        backoffMs: Int64(config.int("replica.fetch.backoff.ms"))),
                    interBrokerListenerName: interBroker.name, brokerEpoch: { lifecycle?.brokerEpoch ?? -1 }, group: group, logger: logger)
                : nil
            let groupPartitions = servesClients
                ? GroupPartitions(nodeId: identity.nodeId, registry: registry, coordinator: groups, logger: logger) : nil
            let transactionPartitions = servesClients
                ? Self.transactionPartitions(config: config, nodeId: identity.nodeId, registry: registry, groups: groups, quorum: quorum,
                                             interBroker: interBroker, loop: transactionLoop, group: group,
                                             statistics: transactionStatistics, contextBox: contextBox, logger: logger)
                : nil
            let highWatermarks = servesClients
                ? HighWatermarkCheckpointer(registry: registry, intervalMs: config.long("replica.high.watermark.checkpoint.interval.ms"),
                                            logger: logger) : nil
            return ClusterNode(settings: cluster, quorum: quorum, controller: controllerClient, lifecycle: lifecycle, fetchers: fetchers,
                               groupPartitions: groupPartitions, transactionPartitions: transactionPartitions,
                               highWatermarks: highWatermarks)
        }
        self.context = BrokerContext(configs: configManager, identity: identity, registry: registry,
                                     advertisedListeners: advertisedListeners, logger: logger, fetchWaiters: waiters,
                                     producerIds: producerIds, groups: groups, transactions: transactions?.coordinator, metrics: metrics,
                                     writer: writer, security: security, cluster: clusterNode)
        contextBox.context = self.context
        if let quorum, let clusterNode {
            if servesClients, let controllerListener = cluster.controllerListener {
                controllerChannel = try Self.bindControllerListener(controllerListener, group: group, context: self.context,
                                                                    maxFrame: maxFrame, logger: logger)
            } else {
                controllerChannel = nil
            }
            let fetchers = clusterNode.fetchers
            let groupPartitions = clusterNode.groupPartitions
            let transactionPartitions = clusterNode.transactionPartitions
            let incarnation = clusterNode.lifecycle?.registration.incarnationId
            let (nodeId, requestGate) = (identity.nodeId, self.requestGate)
            quorum.onImage { [logger] image, _ in
                registry.apply(image: image)
                security.follow(image)
                fetchers?.reconcile(image: image, registry: registry)
                groupPartitions?.reconcile()
                transactionPartitions?.reconcile()
                // Clients are served once this node's own image has this incarnation registered
                // and unfenced: its answers then name at least this broker, with current leaders.
                if !requestGate.isOpen, let incarnation, let me = image.brokers[nodeId], me.incarnationId == incarnation, !me.fenced {
                    requestGate.open()
                    logger.info("registered and unfenced: serving clients", metadata: ["brokerEpoch": "\(me.epoch)"])
                }
            }
            quorum.start()
            clusterNode.lifecycle?.start()
            clusterNode.highWatermarks?.start()
        } else {
            controllerChannel = nil
        }
        let metricsListener = config.string("metrics.listener")
        if metricsListener.isEmpty {
            metricsServer = nil
        } else {
            let metricsEndpoint = try ListenerEndpoint.parseHostPort(metricsListener, name: "METRICS", text: metricsListener,
                                                                    setting: "metrics.listener")
            let (metricsHost, metricsPort) = (metricsEndpoint.host.isEmpty ? "0.0.0.0" : metricsEndpoint.host, metricsEndpoint.port)
            metricsServer = try MetricsServer.start(host: metricsHost, port: metricsPort, group: group, broker: self.context, logger: logger)
        }
        try loops[0].submit { groups.start() }.wait()
        if let transactions { try transactions.loop.submit { transactions.coordinator.start() }.wait() }
        logger.info("sluice broker started", metadata: [
            "listeners": "\(zip(listenerSecurity, channels).map { "\($0.0.endpoint.name)://\($0.1.localAddress.map { "\($0)" } ?? "?")" }.joined(separator: ","))",
            "advertised": "\(advertisedHost):\(advertisedPort)", "dataDir": "\(path)",
            "ioBackend": "\(writer.backendName)", "topics": "\(registry.allTopics.count)", "cluster": "\(identity.clusterId)",
            "node": "\(identity.nodeId)", "eventLoops": "\(loops.count)", "cleanStart": "\(data.wasCleanShutdown)"])
    }

    /// The CONTROLLER listener: the quorum's RPCs and what brokers send the controller.
    private static func bindControllerListener(_ listener: ListenerEndpoint, group: any EventLoopGroup, context: BrokerContext,
                                               maxFrame: Int, logger: Logger) throws -> any Channel {
        let host = listener.host.isEmpty ? "0.0.0.0" : listener.host
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 << 10, high: 4 << 20))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(KafkaFrameHandler(frames: KafkaFrameDecoder(maximumFrameSize: maxFrame)))
                    try sync.addHandler(KafkaConnectionHandler(broker: context, logger: logger, maxPendingRequests: 64,
                                                               dispatcher: ControllerApis.handle))
                }
            }
            .bind(host: host, port: listener.port).wait()
        logger.info("controller listener", metadata: ["listener": "\(host):\(channel.localAddress?.port ?? listener.port)"])
        return channel
    }

    /// The static settings under the dynamic ones stored in the data directory; stored values
    /// that are no longer acceptable are left out with a warning, as Kafka ignores them.
    private static func withStoredDynamicConfigs(_ config: BrokerConfig, from files: DynamicConfigFiles, logger: Logger) throws -> BrokerConfig {
        let stored = try files.load()
        let defaults = DynamicBrokerConfigs.usable(stored.defaults)
        let own = DynamicBrokerConfigs.usable(stored.broker)
        for (name, reason) in defaults.dropped.merging(own.dropped, uniquingKeysWith: { first, _ in first }) {
            logger.warning("ignoring a stored dynamic broker config", metadata: ["config": "\(name)", "reason": "\(reason)"])
        }
        if !defaults.kept.isEmpty || !own.kept.isEmpty {
            logger.info("dynamic broker configs", metadata: [
                "clusterDefault": "\(defaults.kept.sorted { $0.key < $1.key })", "broker": "\(own.kept.sorted { $0.key < $1.key })"])
        }
        return config.withDynamic(defaults: defaults.kept, values: own.kept)
    }

    /// The coordinator and its log (`__sluice_group_log` in the data directory), on one loop.
    private static func openGroupCoordinator(config: BrokerConfig, dataDirectory: String, environment: TopicRegistry.Environment,
                                             owner: EventLoopOwner, offsetsTopic registry: TopicRegistry?,
                                             cleaner: LogCleaner?) throws -> GroupCoordinator {
        if let registry {
            // A cluster keeps groups on the replicated __consumer_offsets topic.
            let store = OffsetsTopicStore(registry: registry, owner: owner, clock: wallClockMilliseconds,
                                          commitTimeoutMs: Int64(config.int("offsets.commit.timeout.ms")))
            return try GroupCoordinator(config: GroupCoordinatorConfig(broker: config), store: store, owner: owner,
                                        clock: wallClockMilliseconds, logger: environment.logger)
        }
        // Compacted as __consumer_offsets is, never deleted by time or size.
        let logConfig = TopicConfigs.logConfig(overrides: ["cleanup.policy": "compact",
                                                           "segment.bytes": "\(config.int("offsets.topic.segment.bytes"))"], broker: config)
        let log = try PartitionLog(
            directory: dataDirectory + "/" + LogGroupStore.directoryName, config: logConfig, writer: environment.writer,
            owner: owner, files: environment.files, cleanShutdown: environment.cleanShutdown, nowMs: wallClockMilliseconds(),
            logger: environment.logger, health: environment.health)
        // Timed flushes and segment.ms rolls run there (no retention: the policy is compact alone).
        let maintenanceInterval = config.long("log.retention.check.interval.ms")
        owner.execute { log.startBackgroundMaintenance(intervalMs: maintenanceInterval, clock: wallClockMilliseconds) }
        cleaner?.register(log, topic: LogGroupStore.cleanerName.topic, partition: LogGroupStore.cleanerName.partition)
        let store = LogGroupStore(log: log, clock: wallClockMilliseconds, logger: environment.logger)
        return try GroupCoordinator(config: GroupCoordinatorConfig(broker: config), store: store, owner: owner,
                                    clock: wallClockMilliseconds, logger: environment.logger)
    }

    /// A broker of its own: the transaction coordinator and its log (`__sluice_transaction_log`
    /// in the data directory, compacted like `__transaction_state`), on one loop; markers go
    /// to this broker's partitions.
    private static func openTransactionCoordinator(
        config: BrokerConfig, dataDirectory: String, environment: TopicRegistry.Environment, loop: any EventLoop, registry: TopicRegistry,
        groups: GroupCoordinator, producerIds: ProducerIdAllocator, cleaner: LogCleaner?, statistics: TransactionStatistics
    ) throws -> (coordinator: TransactionCoordinator, log: PartitionLog, loop: any EventLoop) {
        let owner = EventLoopOwner(eventLoop: loop)
        let logConfig = TopicConfigs.logConfig(overrides: ["cleanup.policy": "compact",
                                                           "segment.bytes": "\(config.int("transaction.state.log.segment.bytes"))"], broker: config)
        let log = try PartitionLog(
            directory: dataDirectory + "/" + LogTransactionStore.directoryName, config: logConfig, writer: environment.writer,
            owner: owner, files: environment.files, cleanShutdown: environment.cleanShutdown, nowMs: wallClockMilliseconds(),
            logger: environment.logger, health: environment.health)
        let maintenanceInterval = config.long("log.retention.check.interval.ms")
        let coordinator = try loop.submit {
            log.startBackgroundMaintenance(intervalMs: maintenanceInterval, clock: wallClockMilliseconds)
            return try TransactionCoordinator(
                config: TransactionCoordinatorConfig(broker: config), store: LogTransactionStore(log: log, clock: wallClockMilliseconds),
                markers: LocalMarkerWriter(appender: MarkerAppender(registry: registry, groups: groups, clock: wallClockMilliseconds),
                                           coordinatorOwner: owner),
                newProducerId: { $0(Result { try producerIds.allocate() }) }, owner: owner, statistics: statistics,
                clock: wallClockMilliseconds, logger: environment.logger)
        }.wait()
        cleaner?.register(log, topic: LogTransactionStore.cleanerName.topic, partition: LogTransactionStore.cleanerName.partition)
        return (coordinator, log, loop)
    }

    /// A cluster broker's transaction coordinators: one per `__transaction_state` partition it
    /// leads, all on `loop`, with the partition as store, markers sent to each partition's
    /// leader, and producer ids in blocks from the controller.
    private static func transactionPartitions(
        config: BrokerConfig, nodeId: Int32, registry: TopicRegistry, groups: GroupCoordinator, quorum: QuorumHost,
        interBroker: ListenerEndpoint, loop: any EventLoop, group: any EventLoopGroup, statistics: TransactionStatistics,
        contextBox: ContextBox, logger: Logger
    ) -> TransactionPartitions {
        let owner = EventLoopOwner(eventLoop: loop)
        let listenerName = interBroker.name
        let channels = NodeChannels(endpoint: { node in
            guard let registration = quorum.status.image.brokers[node] else { return nil }
            return registration.interBrokerEndpoint(listenerName).map { BrokerAddress(host: $0.host, port: $0.port) }
        }, localHost: interBroker.host, clientId: "sluice-transaction-markers-\(nodeId)", group: group)
        let markers = ClusterMarkerWriter(appender: MarkerAppender(registry: registry, groups: groups, clock: wallClockMilliseconds),
                                          channels: channels, nodeId: nodeId, coordinatorOwner: owner)
        let coordinatorConfig = TransactionCoordinatorConfig(broker: config)
        let writeTimeoutMs = Int64(config.int("offsets.commit.timeout.ms"))
        return TransactionPartitions(nodeId: nodeId, registry: registry, owner: owner, verifier: TransactionVerifier(channels: channels),
                                     logger: logger) { partition, epoch, records in
            try TransactionCoordinator(
                config: coordinatorConfig,
                store: TransactionStateTopicStore(partition: partition, records: records, owner: owner, clock: wallClockMilliseconds,
                                                  writeTimeoutMs: writeTimeoutMs),
                markers: markers,
                newProducerId: { done in
                    Task {
                        guard let cluster = contextBox.context?.cluster else {
                            return done(.failure(ControllerClient.Unavailable(description: "the broker is still starting")))
                        }
                        do { done(.success(try await cluster.nextProducerId())) } catch { done(.failure(error)) }
                    }
                },
                owner: owner, coordinatorEpoch: epoch, statistics: statistics, clock: wallClockMilliseconds, logger: logger)
        }
    }

    /// The listeners this node binds, each with its security: a broker's client listeners, the
    /// inter-broker one first; a controller alone, its controller listener.
    private static func listenerSecurity(cluster: ClusterSettings, config: BrokerConfig) throws
        -> [(endpoint: ListenerEndpoint, security: ListenerSecurity)] {
        let servesClients = !cluster.isClustered || cluster.roles.contains(.broker)
        var endpoints = servesClients ? cluster.brokerListeners : cluster.controllerListener.map { [$0] } ?? []
        guard !endpoints.isEmpty else { throw ConfigError("listeners names no listener for clients") }
        if servesClients, let interBroker = cluster.interBrokerListener, let index = endpoints.firstIndex(of: interBroker) {
            endpoints.insert(endpoints.remove(at: index), at: 0)
        }
        return try endpoints.map { endpoint in
            (endpoint, try ListenerSecurity.resolve(listener: endpoint.name, securityProtocol: cluster.securityProtocol(of: endpoint.name),
                                                    config: config))
        }
    }

    static func cleanerSettings(_ config: BrokerConfig) -> LogCleaner.Settings {
        var settings = LogCleaner.Settings()
        settings.dedupeBufferBytes = Int(clamping: config.long("log.cleaner.dedupe.buffer.size"))
        settings.loadFactor = Double(config.string("log.cleaner.io.buffer.load.factor")) ?? 0.9
        settings.maxBytesPerSecond = Double(config.string("log.cleaner.io.max.bytes.per.second")) ?? .greatestFiniteMagnitude
        settings.backoffMs = config.long("log.cleaner.backoff.ms")
        return settings
    }

    /// Stops accepting, lets in-flight requests finish briefly, flushes every log, writes the
    /// clean-shutdown marker, and stops the threads.
    public func shutdown() {
        logger.info("shutting down")
        if let lifecycle = context.cluster?.lifecycle {
            // Controlled shutdown: the controller moves this broker's partitions now, not after its session times out.
            let stopped = group.next().makePromise(of: Void.self)
            stopped.completeWithTask { await lifecycle.stop() }
            try? stopped.futureResult.wait()
        }
        self.requestGate.close()
        context.cluster?.fetchers?.stop()
        context.cluster?.highWatermarks?.stop()
        for channel in channels { try? channel.close().wait() }
        try? controllerChannel?.close().wait()
        context.cluster?.quorum.shutdown()
        // Before the logs close: a swap in progress finishes or never starts.
        cleaner?.shutdown()
        context.cluster?.controller.close()
        metricsServer?.close()
        // Give connections a moment to finish what they were answering.
        usleep(200_000)
        var clean = true
        // Each log writes its files unsynced; one syncfs below makes them all durable at once
        // (tens of thousands of partitions would otherwise cost several fdatasyncs each).
        var closing: [EventLoopFuture<Void>] = []
        for topic in context.registry.allTopics {
            for partition in topic.partitions {
                guard let owner = (partition.owner as? EventLoopOwner)?.eventLoop else {
                    do { try partition.log?.closeCleanly(sync: false) } catch { clean = false }
                    continue
                }
                let name = topic.name
                let logger = self.logger
                closing.append(owner.submit {
                    do {
                        try partition.log?.closeCleanly(sync: false)
                    } catch {
                        logger.error("could not close a log cleanly", metadata: ["topic": "\(name)", "partition": "\(partition.index)", "error": "\(error)"])
                        throw error
                    }
                })
            }
        }
        for future in closing {
            do { try future.wait() } catch { clean = false }
        }
        if !syncFileSystem(of: dataDirectoryPath) {
            clean = false
            logger.error("could not sync the data directory's file system", metadata: ["errno": "\(errno)"])
        }
        do {
            try groupsLoop.submit { [groups] in
                groups.stop()
                try groups.closeLog()
            }.wait()
        } catch {
            clean = false
            logger.error("could not close the group log cleanly", metadata: ["error": "\(error)"])
        }
        if let transactions {
            do {
                try transactions.loop.submit {
                    transactions.coordinator.stop()
                    try transactions.log.closeCleanly()
                }.wait()
            } catch {
                clean = false
                logger.error("could not close the transaction log cleanly", metadata: ["error": "\(error)"])
            }
        }
        writer.shutdown()
        if clean { try? dataDirectory.value.markCleanShutdown() }
        try? group.syncShutdownGracefully()
        logger.info("stopped", metadata: ["clean": "\(clean)"])
    }
}

/// The context is created after bind (it needs the bound port); connections accepted before
/// that are refused.
/// The broker's context, set once start-up has finished. The listener is bound before that (its
/// port goes into the context), so a connection that arrives meanwhile waits here, accepted and
/// unread, as Kafka's do until request processing is enabled; it is not closed.
final class ContextBox: @unchecked Sendable {
    // @unchecked: both fields are guarded by `lock`.
    private let lock = Mutex<(context: BrokerContext?, waiters: [EventLoopPromise<BrokerContext>])>((nil, []))

    var context: BrokerContext? {
        get { lock.withLock { $0.context } }
        set {
            let waiters = lock.withLock { state in
                state.context = newValue
                defer { state.waiters = [] }
                return newValue == nil ? [] : state.waiters
            }
            if let newValue { waiters.forEach { $0.succeed(newValue) } }
        }
    }

    func whenSet(on eventLoop: any EventLoop) -> EventLoopFuture<BrokerContext> {
        lock.withLock { state in
            if let context = state.context { return eventLoop.makeSucceededFuture(context) }
            let promise = eventLoop.makePromise(of: BrokerContext.self)
            state.waiters.append(promise)
            return promise.futureResult
        }
    }
}

/// DataDirectory holds the lock for the broker's lifetime; it is only read after start.
private final class DataDirectoryBox: @unchecked Sendable {
    let value: DataDirectory
    init(_ value: DataDirectory) { self.value = value }
}
