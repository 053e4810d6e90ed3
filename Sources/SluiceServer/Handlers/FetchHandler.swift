import KafkaProtocol
import NIOCore
import SluiceCore
import SluiceStorage

/// Fetch v4–16. Record bytes go from segment files to the socket with sendfile (NIO
/// FileRegion), never through a Swift copy. Long polls wait for MaxWaitMs unless MinBytes
/// arrive first. Incremental fetch sessions (KIP-227) live in `FetchSessions`. A consumer with
/// isolation level 1 (read_committed) reads up to the last stable offset and is told the
/// aborted transactions its data overlaps; every answer carries the last stable offset.
enum FetchHandler {
    struct PartitionRead {
        var topic: String
        var topicId: KafkaUUID
        var index: Int32
        var code: KafkaErrorCode = .none
        var highWatermark: Int64 = -1
        var lastStableOffset: Int64 = -1
        var logStartOffset: Int64 = -1
        /// read_committed only (nil, written as null, otherwise): producer id and first offset.
        var abortedTransactions: [(producerId: Int64, firstOffset: Int64)]?
        var slices: [FileRegionSlice] = []
        /// Where the fetcher's log diverged from this one (v12+: it must truncate there).
        var divergingEpoch: (epoch: Int32, endOffset: Int64)?
        /// KIP-392: the replica in the consumer's rack it should fetch from instead (v11+).
        var preferredReadReplica: Int32 = -1
        var bytes: Int { slices.reduce(0) { $0 + $1.length } }
    }

    static func handle(_ request: RequestContext) throws -> EventLoopFuture<OutgoingResponse?> {
        let body = try request.decode(FetchRequest.self)
        let eventLoop = request.eventLoop
        let plan: FetchSessions.Plan
        switch request.broker.fetchSessions.plan(for: body, version: request.version, nowMs: request.broker.nowMs()) {
        case .success(let resolved):
            plan = resolved
        case .failure(let code):
            return eventLoop.makeSucceededFuture(try encode([], sessionId: 0, errorCode: code, request: request))
        }
        let deadline = NIODeadline.now() + .milliseconds(Int64(max(0, body.maxWaitMs)))
        let minBytes = Int(max(0, body.minBytes))
        let promise = eventLoop.makePromise(of: OutgoingResponse?.self)

        // A broker's replica fetch (Kafka's ReplicaState from v15, ReplicaId before): it reads up
        // to the leader's stable end and moves the high watermark; a consumer reads to the high
        // watermark.
        let replica = request.version >= 15 ? body.replicaState.replicaId : body.replicaId
        let replicaId: Int32? = replica >= 0 ? replica : nil
        let replicaEpoch: Int64 = request.version >= 15 ? body.replicaState.replicaEpoch : -1
        let rack: String? = request.version >= 11 && !body.rackId.isEmpty && request.broker.cluster != nil ? body.rackId : nil
        let readCommitted = replicaId == nil && body.isolationLevel == 1
        @Sendable func attempt() {
            readAll(plan, maxBytes: body.maxBytes, replicaId: replicaId, replicaEpoch: replicaEpoch, rack: rack, readCommitted: readCommitted,
                    request: request).whenComplete { result in
                switch result {
                case .failure(let error):
                    promise.fail(error)
                case .success(let reads):
                    let total = reads.reduce(0) { $0 + $1.bytes }
                    let hasError = reads.contains { $0.code != .none }
                    if total >= max(minBytes, 1) || hasError || NIODeadline.now() >= deadline || minBytes == 0 {
                        let answer = request.broker.fetchSessions.filter(reads, keys: plan.wanted.map(\.0), plan: plan)
                        promise.completeWith(Result { try encode(answer, sessionId: plan.sessionId, errorCode: .none, request: request) })
                        return
                    }
                    wait(for: reads, request: request, deadline: deadline, then: attempt)
                }
            }
        }
        attempt()
        return promise.futureResult
    }

    /// Waits until one of the partitions' high watermarks moves, or the deadline.
    private static func wait(for reads: [PartitionRead], request: RequestContext, deadline: NIODeadline,
                             then retry: @escaping @Sendable () -> Void) {
        let partitions = reads.compactMap { request.broker.registry.partition(topic: $0.topic, index: $0.index) }
        let waiters = request.broker.fetchWaiters
        let eventLoop = request.eventLoop
        let fired = NIOLoopBoundBox(false, eventLoop: eventLoop)
        let token = NIOLoopBoundBox(0, eventLoop: eventLoop)
        let started = NIODeadline.now()
        let fetchWait = request.broker.metrics.fetchWait
        let timeout = eventLoop.scheduleTask(deadline: deadline) {
            guard !fired.value else { return }
            fired.value = true
            waiters.cancel(token.value)
            fetchWait.recordNanoseconds((NIODeadline.now() - started).nanoseconds)
            retry()
        }
        token.value = waiters.register(on: partitions) {
            eventLoop.execute {
                guard !fired.value else { return }
                fired.value = true
                timeout.cancel()
                fetchWait.recordNanoseconds((NIODeadline.now() - started).nanoseconds)
                retry()
            }
        }
    }

    /// Reads every requested partition in order, on each partition's own event loop, as Kafka's
    /// ReplicaManager.readFromLog does: each partition gets at most its PartitionMaxBytes and what
    /// is left of the request's MaxBytes; until some partition has returned data, the next one
    /// gets its first batch whole even when that is larger (KIP-74), and after that a batch that
    /// does not fit is cut short or left out, so the response stays within MaxBytes but for that
    /// one first batch.
    private static func readAll(_ plan: FetchSessions.Plan, maxBytes requestMaxBytes: Int32, replicaId: Int32?,
                                replicaEpoch: Int64, rack: String?, readCommitted: Bool,
                                request: RequestContext) -> EventLoopFuture<[PartitionRead]> {
        let registry = request.broker.registry
        let byId = request.version >= 13
        var wanted: [(topic: String, id: KafkaUUID, partition: FetchRequest.FetchPartition, resolved: Partition?, code: KafkaErrorCode)] = []
        for (key, entry) in plan.wanted {
            let known = byId ? registry.topic(id: key.topicId) : registry.topic(named: key.topic)
            let partition = FetchRequest.FetchPartition(partition: key.partition, currentLeaderEpoch: entry.currentLeaderEpoch,
                                                        fetchOffset: entry.fetchOffset, lastFetchedEpoch: entry.lastFetchedEpoch,
                                                        partitionMaxBytes: entry.maxBytes)
            let resolved = known.flatMap { known in
                key.partition >= 0 && Int(key.partition) < known.partitions.count ? known.partitions[Int(key.partition)] : nil
            }
            let missing: KafkaErrorCode = byId && known == nil ? .unknownTopicId : .unknownTopicOrPartition
            wanted.append((known?.name ?? key.topic, key.topicId, partition, resolved, resolved == nil ? missing : .none))
        }
        var future = request.eventLoop.makeSucceededFuture([PartitionRead]())
        let requestLimit = Int(max(0, requestMaxBytes))
        let follower = replicaId
        for entry in wanted {
            future = future.flatMap { reads in
                let template = PartitionRead(topic: entry.topic, topicId: entry.resolved?.topicId ?? entry.id, index: entry.partition.partition, code: entry.code)
                guard let partition = entry.resolved else {
                    return request.eventLoop.makeSucceededFuture(reads + [template])
                }
                let used = reads.reduce(0) { $0 + $1.bytes }
                let minOneMessage = used == 0
                let budget = min(Int(max(0, entry.partition.partitionMaxBytes)), max(0, requestLimit - used))
                let owner = (partition.owner as? EventLoopOwner)?.eventLoop ?? request.eventLoop
                return owner.submit {
                    var read = template
                    let log: PartitionLog
                    // A consumer that names its rack (v11+) may read from a follower (KIP-392);
                    // a leader may send it to a replica in its rack instead.
                    let fromAnyReplica = follower == nil && rack != nil
                    if fromAnyReplica, let preferred = preferredReplica(partition, rack: rack, request: request) {
                        read.preferredReadReplica = preferred
                        if let log = partition.log {
                            read.highWatermark = log.highWatermark
                            read.lastStableOffset = log.lastStableOffset
                            read.logStartOffset = log.logStartOffset
                        }
                        return reads + [read]
                    }
                    let allowed = fromAnyReplica ? partition.replicaLog(currentLeaderEpoch: entry.partition.currentLeaderEpoch)
                        : partition.leaderLog(currentLeaderEpoch: entry.partition.currentLeaderEpoch)
                    switch allowed {
                    case .failure(let code):
                        read.code = code
                        return reads + [read]
                    case .success(let leaderLog):
                        log = leaderLog
                    }
                    do {
                        read.highWatermark = log.highWatermark
                        read.lastStableOffset = log.lastStableOffset
                        read.logStartOffset = log.logStartOffset
                        if request.version >= 12, entry.partition.lastFetchedEpoch >= 0,
                           let diverging = try log.divergence(lastFetchedEpoch: entry.partition.lastFetchedEpoch,
                                                              fetchOffset: entry.partition.fetchOffset) {
                            read.divergingEpoch = diverging
                            return reads + [read]
                        }
                        if let follower {
                            // A follower fetches offset N once everything below N is on its disk.
                            guard partition.followerFetched(follower, brokerEpoch: replicaEpoch, offset: entry.partition.fetchOffset) else {
                                read.code = .notLeaderOrFollower
                                return reads + [read]
                            }
                            read.highWatermark = log.highWatermark
                        }
                        let limit: PartitionLog.ReadLimit = follower != nil ? .stableEnd : (readCommitted ? .lastStable : .highWatermark)
                        let result = try log.read(from: entry.partition.fetchOffset, maxBytes: budget, minOneMessage: minOneMessage,
                                                  limit: limit)
                        read.slices = result.slices
                        if readCommitted {
                            // What the data read can overlap lies below the last stable offset.
                            read.abortedTransactions = log.abortedTransactions(from: entry.partition.fetchOffset, upTo: read.lastStableOffset)
                                .map { ($0.producerId, $0.firstOffset) }
                        }
                    } catch {
                        read.code = StorageErrorMapping.code(for: error)
                    }
                    return reads + [read]
                }.hop(to: request.eventLoop)
            }
        }
        return future
    }

    /// Kafka's RackAwareReplicaSelector, on the leader: the in-sync replica in the consumer's
    /// rack when it is another broker (nil: read here). Only with `replica.selector.class` set.
    static func preferredReplica(_ partition: Partition, rack: String?, request: RequestContext) -> Int32? {
        guard let rack, let cluster = request.broker.cluster,
              request.broker.config.string("replica.selector.class").hasSuffix("RackAwareReplicaSelector") else { return nil }
        let state = partition.state
        guard state.leader == partition.localBroker else { return nil }
        let image = cluster.quorum.status.image
        if image.brokers[state.leader]?.rack == rack { return nil }
        return state.isr.first { id in id != state.leader && image.brokers[id].map { !$0.fenced && $0.rack == rack } ?? false }
    }

    /// Writes the response by hand so each partition's records can be a file region: everything
    /// else as the generated FetchResponse would write it.
    static func encode(_ reads: [PartitionRead], sessionId: Int32, errorCode: KafkaErrorCode,
                       request: RequestContext) throws -> OutgoingResponse {
        try encode(reads, sessionId: sessionId, errorCode: errorCode, version: request.version, correlationId: request.correlationId)
    }

    static func encode(_ reads: [PartitionRead], sessionId: Int32, errorCode: KafkaErrorCode,
                       version: Int16, correlationId: Int32) throws -> OutgoingResponse {
        let flexible = version >= 12
        var parts: [IOData] = []
        var files: [SegmentFile] = []
        var handles: [NIOFileHandle] = []
        var buffer = ByteBuffer()
        var total = 0
        func emit() {
            if buffer.readableBytes > 0 {
                total += buffer.readableBytes
                parts.append(.byteBuffer(buffer))
                buffer = ByteBuffer()
            }
        }
        func writeCount(_ count: Int) {
            if flexible { buffer.writeUnsignedVarint(UInt32(count + 1)) } else { buffer.writeInteger(Int32(count)) }
        }

        // Response header: v1 (tagged fields) in flexible versions.
        buffer.writeInteger(correlationId)
        if flexible { buffer.writeUnsignedVarint(0) }
        buffer.writeInteger(Int32(0))  // throttle time
        if version >= 7 {
            buffer.writeInteger(errorCode.rawValue)
            buffer.writeInteger(sessionId)
        }

        var topics: [(String, KafkaUUID, [PartitionRead])] = []
        for read in reads {
            if let last = topics.last, last.0 == read.topic, last.1 == read.topicId {
                topics[topics.count - 1].2.append(read)
            } else {
                topics.append((read.topic, read.topicId, [read]))
            }
        }
        writeCount(topics.count)
        for (name, id, partitions) in topics {
            if version >= 13 { buffer.writeKafkaUUID(id) } else { try buffer.writeKafkaString(name, compact: flexible, field: "Topic") }
            writeCount(partitions.count)
            for read in partitions {
                buffer.writeInteger(read.index)
                buffer.writeInteger(read.code.rawValue)
                let failed = read.code != .none
                buffer.writeInteger(failed ? -1 : read.highWatermark)
                buffer.writeInteger(failed ? -1 : read.lastStableOffset)
                if version >= 5 { buffer.writeInteger(failed ? -1 : read.logStartOffset) }
                // Aborted transactions: null unless read_committed.
                if let aborted = read.abortedTransactions, !failed {
                    writeCount(aborted.count)
                    for transaction in aborted {
                        buffer.writeInteger(transaction.producerId)
                        buffer.writeInteger(transaction.firstOffset)
                        if flexible { buffer.writeUnsignedVarint(0) }
                    }
                } else if flexible {
                    buffer.writeUnsignedVarint(0)
                } else {
                    buffer.writeInteger(Int32(-1))
                }
                if version >= 11 { buffer.writeInteger(read.preferredReadReplica) }
                // Records: length, then the file regions. Never null in flexible versions
                // (librdkafka rejects a null record set there).
                let length = read.bytes
                if flexible { buffer.writeUnsignedVarint(UInt32(length + 1)) } else { buffer.writeInteger(Int32(length)) }
                for slice in read.slices {
                    emit()
                    let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: slice.file.descriptor)
                    let region = FileRegion(fileHandle: handle, readerIndex: Int(slice.position), endIndex: Int(slice.position) + slice.length)
                    parts.append(.fileRegion(region))
                    total += slice.length
                    files.append(slice.file)
                    handles.append(handle)
                }
                if flexible {
                    // Partition tagged fields: DivergingEpoch (tag 0) when the fetcher must truncate.
                    if let diverging = read.divergingEpoch {
                        buffer.writeUnsignedVarint(1)
                        buffer.writeUnsignedVarint(0)
                        buffer.writeUnsignedVarint(13)  // int32 epoch, int64 end offset, no tagged fields
                        buffer.writeInteger(diverging.epoch)
                        buffer.writeInteger(diverging.endOffset)
                        buffer.writeUnsignedVarint(0)
                    } else {
                        buffer.writeUnsignedVarint(0)
                    }
                }
            }
            if flexible { buffer.writeUnsignedVarint(0) }  // topic tagged fields
        }
        if flexible { buffer.writeUnsignedVarint(0) }  // response tagged fields
        emit()
        var prefix = ByteBuffer()
        prefix.writeInteger(Int32(total))
        parts.insert(.byteBuffer(prefix), at: 0)
        guard !files.isEmpty else { return OutgoingResponse(parts: parts) }
        let borrowed = handles
        let held = files
        let release: @Sendable () -> Void = {
            // The regions borrowed the segments' descriptors; the segments close them.
            for handle in borrowed { _ = try? handle.takeDescriptorOwnership() }
            withExtendedLifetime(held) {}
        }
        return OutgoingResponse(parts: parts, whenWritten: release)
    }
}
