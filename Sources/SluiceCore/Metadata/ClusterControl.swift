import KafkaProtocol

/// A metadata record the controller wants appended, with the version it is written at.
public struct MetadataRecordToWrite: Sendable {
    public var record: any KafkaMessage
    public var type: MetadataRecordType
    public var version: Int16

    public init(_ record: any KafkaMessage, _ type: MetadataRecordType, version: Int16 = 0) {
        self.record = record
        self.type = type
        self.version = version
    }
}

/// A controller answer that is a Kafka error.
public struct ControllerError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: KafkaErrorCode
    public var message: String

    public init(_ code: KafkaErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.name): \(message)" }
}

/// The controller's side of broker membership (Kafka's ClusterControlManager and
/// BrokerHeartbeatManager): registration, heartbeats, unfencing a broker once it has caught up
/// with the metadata log, fencing one that asks to or stops heartbeating for
/// `broker.session.timeout.ms`. Pure: it reads the metadata image, takes the time as a number,
/// and returns records to append; what it remembers of heartbeats lives only on the active
/// controller, as in Kafka, and starts afresh when a controller takes over.
public struct ClusterControl: Sendable {
    public struct Registration: Sendable {
        public var brokerId: Int32
        public var clusterId: String
        public var incarnationId: KafkaUUID
        public var listeners: [ListenerEndpoint]
        public var rack: String?

        public init(brokerId: Int32, clusterId: String, incarnationId: KafkaUUID, listeners: [ListenerEndpoint], rack: String?) {
            self.brokerId = brokerId
            self.clusterId = clusterId
            self.incarnationId = incarnationId
            self.listeners = listeners
            self.rack = rack
        }
    }

    public struct Heartbeat: Sendable {
        public var brokerId: Int32
        public var brokerEpoch: Int64
        /// The last metadata offset the broker has applied.
        public var currentMetadataOffset: Int64
        public var wantFence: Bool
        public var wantShutDown: Bool

        public init(brokerId: Int32, brokerEpoch: Int64, currentMetadataOffset: Int64, wantFence: Bool = false, wantShutDown: Bool = false) {
            self.brokerId = brokerId
            self.brokerEpoch = brokerEpoch
            self.currentMetadataOffset = currentMetadataOffset
            self.wantFence = wantFence
            self.wantShutDown = wantShutDown
        }
    }

    public struct HeartbeatReply: Sendable, Equatable {
        public var isCaughtUp: Bool
        public var isFenced: Bool
        public var shouldShutDown: Bool
    }

    public let clusterId: String
    public let sessionTimeoutMs: Int64
    /// When each broker last registered or heartbeated, by this controller's clock.
    private var lastContact: [Int32: Int64] = [:]

    public init(clusterId: String, sessionTimeoutMs: Int64) {
        self.clusterId = clusterId
        self.sessionTimeoutMs = sessionTimeoutMs
    }

    /// A controller that has just become active gives every registered broker a full session
    /// from now (it cannot know when they last heartbeated to its predecessor).
    public mutating func becameActive(image: MetadataImage, now: Int64) {
        lastContact = image.brokers.keys.reduce(into: [:]) { $0[$1] = now }
    }

    public func hasLiveSession(_ brokerId: Int32, now: Int64) -> Bool {
        guard let last = lastContact[brokerId] else { return false }
        return now - last < sessionTimeoutMs
    }

    /// BrokerRegistration: the broker's new epoch is the offset its registration record will
    /// have (`nextOffset`), as in Kafka. It starts fenced.
    public mutating func register(_ request: Registration, image: MetadataImage, nextOffset: Int64, now: Int64)
        throws(ControllerError) -> (records: [MetadataRecordToWrite], brokerEpoch: Int64) {
        guard request.clusterId == clusterId else {
            throw ControllerError(.inconsistentClusterId,
                                  "Expected cluster ID \(clusterId), but got cluster ID \(request.clusterId)")
        }
        if let existing = image.brokers[request.brokerId], existing.incarnationId != request.incarnationId,
           hasLiveSession(request.brokerId, now: now) {
            throw ControllerError(.duplicateBrokerRegistration,
                                  "Another broker is registered with that broker id (\(request.brokerId)), and its session "
                                      + "has not expired (broker.session.timeout.ms=\(sessionTimeoutMs))")
        }
        let record = RegisterBrokerRecord(
            brokerId: request.brokerId, incarnationId: request.incarnationId, brokerEpoch: nextOffset,
            endPoints: request.listeners.map {
                .init(name: $0.name, host: $0.host, port: UInt16(clamping: $0.port), securityProtocol: 0)
            },
            rack: request.rack, fenced: true)
        lastContact[request.brokerId] = now
        return ([MetadataRecordToWrite(record, .registerBroker, version: 3)], nextOffset)
    }

    /// BrokerHeartbeat: keeps the session; unfences a broker that has caught up with its own
    /// registration; fences one that asks to, or that is shutting down.
    public mutating func heartbeat(_ request: Heartbeat, image: MetadataImage, now: Int64)
        throws(ControllerError) -> (records: [MetadataRecordToWrite], reply: HeartbeatReply) {
        guard let broker = image.brokers[request.brokerId] else {
            throw ControllerError(.brokerIdNotRegistered, "Broker \(request.brokerId) is not registered")
        }
        guard broker.epoch == request.brokerEpoch else {
            throw ControllerError(.staleBrokerEpoch,
                                  "Expected broker epoch \(broker.epoch), but got broker epoch \(request.brokerEpoch)")
        }
        lastContact[request.brokerId] = now
        let caughtUp = request.currentMetadataOffset >= broker.epoch
        var records: [MetadataRecordToWrite] = []
        var fenced = broker.fenced
        if request.wantShutDown || request.wantFence {
            if !broker.fenced {
                records.append(MetadataRecordToWrite(FenceBrokerRecord(id: broker.id, epoch: broker.epoch), .fenceBroker))
                fenced = true
            }
        } else if broker.fenced && caughtUp {
            records.append(MetadataRecordToWrite(UnfenceBrokerRecord(id: broker.id, epoch: broker.epoch), .unfenceBroker))
            fenced = false
        }
        return (records, HeartbeatReply(isCaughtUp: caughtUp, isFenced: fenced, shouldShutDown: request.wantShutDown))
    }

    /// Fences every unfenced broker whose session has run out. Called on the controller's timer.
    public mutating func expireSessions(image: MetadataImage, now: Int64) -> [MetadataRecordToWrite] {
        image.activeBrokers.compactMap { broker in
            if lastContact[broker.id] == nil { lastContact[broker.id] = now }
            guard !hasLiveSession(broker.id, now: now) else { return nil }
            return MetadataRecordToWrite(FenceBrokerRecord(id: broker.id, epoch: broker.epoch), .fenceBroker)
        }
    }

    /// When the next session could run out (for the controller's timer).
    public func nextExpiry(image: MetadataImage) -> Int64? {
        image.activeBrokers.compactMap { lastContact[$0.id].map { $0 + sessionTimeoutMs } }.min()
    }
}
