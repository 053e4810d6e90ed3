import KafkaProtocol
import Testing

@testable import SluiceCore

/// Broker membership as the controller decides it; records are applied to an image as the
/// metadata log would apply them once committed.
@Suite struct ClusterControlTests {
    var image = MetadataImage()
    var control = ClusterControl(clusterId: "c1", sessionTimeoutMs: 3_000)
    var nextOffset: Int64 = 100

    mutating func commit(_ records: [MetadataRecordToWrite]) throws {
        for record in records {
            try image.apply(record.record, type: record.type)
            nextOffset += 1
        }
    }

    func registration(_ id: Int32, incarnation: UInt64, cluster: String = "c1") -> ClusterControl.Registration {
        .init(brokerId: id, clusterId: cluster, incarnationId: KafkaUUID(high: 7, low: incarnation),
              listeners: [ListenerEndpoint(name: "PLAINTEXT", host: "127.0.0.\(id)", port: 9092)], rack: "r\(id)")
    }

    @Test mutating func aBrokerRegistersFencedAndIsUnfencedOnceCaughtUp() throws {
        let (records, epoch) = try control.register(registration(1, incarnation: 1), image: image, nextOffset: nextOffset, now: 0)
        #expect(epoch == 100)
        try commit(records)
        #expect(image.brokers[1]?.fenced == true && image.brokers[1]?.rack == "r1")

        // Behind its own registration: stays fenced.
        var beat = try control.heartbeat(.init(brokerId: 1, brokerEpoch: epoch, currentMetadataOffset: 99), image: image, now: 500)
        #expect(beat.records.isEmpty && beat.reply == .init(isCaughtUp: false, isFenced: true, shouldShutDown: false))
        beat = try control.heartbeat(.init(brokerId: 1, brokerEpoch: epoch, currentMetadataOffset: 100), image: image, now: 1_000)
        #expect(beat.reply == .init(isCaughtUp: true, isFenced: false, shouldShutDown: false))
        try commit(beat.records)
        #expect(image.activeBrokers.map(\.id) == [1])
    }

    @Test mutating func heartbeatsWithTheWrongIdOrEpochGetKafkasErrors() throws {
        let (records, epoch) = try control.register(registration(1, incarnation: 1), image: image, nextOffset: nextOffset, now: 0)
        try commit(records)
        #expect(throws: ControllerError(.brokerIdNotRegistered, "Broker 2 is not registered")) {
            try control.heartbeat(.init(brokerId: 2, brokerEpoch: epoch, currentMetadataOffset: 0), image: image, now: 0)
        }
        do {
            _ = try control.heartbeat(.init(brokerId: 1, brokerEpoch: epoch - 1, currentMetadataOffset: 0), image: image, now: 0)
            Issue.record("a stale epoch was accepted")
        } catch {
            #expect(error.code == .staleBrokerEpoch)
        }
        do {
            _ = try control.register(registration(3, incarnation: 1, cluster: "other"), image: image, nextOffset: nextOffset, now: 0)
            Issue.record("another cluster's broker registered")
        } catch {
            #expect(error.code == .inconsistentClusterId)
        }
    }

    @Test mutating func aSecondProcessWithALiveIdIsRefusedUntilTheFirstsSessionRunsOut() throws {
        let first = try control.register(registration(1, incarnation: 1), image: image, nextOffset: nextOffset, now: 0)
        try commit(first.records)
        do {
            _ = try control.register(registration(1, incarnation: 2), image: image, nextOffset: nextOffset, now: 1_000)
            Issue.record("two live processes registered as broker 1")
        } catch {
            #expect(error.code == .duplicateBrokerRegistration)
        }
        // The same process retrying its registration is fine.
        #expect(throws: Never.self) {
            _ = try control.register(registration(1, incarnation: 1), image: image, nextOffset: nextOffset, now: 1_000)
        }
        // Once the first one's session has run out, the new process takes the id with a new epoch.
        let second = try control.register(registration(1, incarnation: 2), image: image, nextOffset: nextOffset, now: 4_500)
        #expect(second.brokerEpoch > first.brokerEpoch)
    }

    @Test mutating func aSilentBrokerIsFencedAfterItsSession() throws {
        for id: Int32 in [1, 2] {
            let (records, epoch) = try control.register(registration(id, incarnation: 1), image: image, nextOffset: nextOffset, now: 0)
            try commit(records)
            try commit(control.heartbeat(.init(brokerId: id, brokerEpoch: epoch, currentMetadataOffset: nextOffset), image: image,
                                         now: 0).records)
        }
        #expect(image.activeBrokers.count == 2)
        let epoch1 = try #require(image.brokers[1]?.epoch)
        _ = try control.heartbeat(.init(brokerId: 1, brokerEpoch: epoch1, currentMetadataOffset: nextOffset), image: image, now: 2_500)
        #expect(control.expireSessions(image: image, now: 2_999).isEmpty)
        #expect(control.nextExpiry(image: image) == 3_000)
        let fenced = control.expireSessions(image: image, now: 3_000)
        try commit(fenced)
        #expect(image.activeBrokers.map(\.id) == [1])
        // A controller taking over gives everyone a fresh session instead of fencing at once.
        var successor = ClusterControl(clusterId: "c1", sessionTimeoutMs: 3_000)
        successor.becameActive(image: image, now: 10_000)
        #expect(successor.expireSessions(image: image, now: 12_000).isEmpty)
        #expect(successor.expireSessions(image: image, now: 13_000).count == 1)
    }

    @Test mutating func aBrokerShuttingDownIsFencedAndToldToGo() throws {
        let (records, epoch) = try control.register(registration(1, incarnation: 1), image: image, nextOffset: nextOffset, now: 0)
        try commit(records)
        try commit(control.heartbeat(.init(brokerId: 1, brokerEpoch: epoch, currentMetadataOffset: 200), image: image, now: 0).records)
        let beat = try control.heartbeat(.init(brokerId: 1, brokerEpoch: epoch, currentMetadataOffset: 200, wantShutDown: true),
                                         image: image, now: 10)
        #expect(beat.reply == .init(isCaughtUp: true, isFenced: true, shouldShutDown: true))
        try commit(beat.records)
        #expect(image.activeBrokers.isEmpty)
    }
}

@Suite struct ProducerIdControlTests {
    @Test func blocksNeverOverlapAndNeedTheCurrentBrokerEpoch() throws {
        var image = MetadataImage()
        for id: Int32 in [1, 2] {
            try image.apply(RegisterBrokerRecord(brokerId: id, brokerEpoch: Int64(id) * 10, fenced: false), type: .registerBroker)
        }
        let control = ProducerIdControl()
        var blocks: [ClosedRange<Int64>] = []
        for round in 0..<6 {
            let broker: Int32 = round % 2 == 0 ? 1 : 2
            let (records, first, count) = try control.allocate(brokerId: broker, brokerEpoch: Int64(broker) * 10, image: image)
            for record in records { try image.apply(record.record, type: record.type) }
            blocks.append(first...(first + count - 1))
        }
        #expect(blocks.first == 0...999)
        for (a, b) in zip(blocks, blocks.dropFirst()) { #expect(a.upperBound < b.lowerBound) }
        do {
            _ = try control.allocate(brokerId: 1, brokerEpoch: 9, image: image)
            Issue.record("a stale broker epoch got a block")
        } catch {
            #expect(error.code == .staleBrokerEpoch)
        }
    }
}
