import KafkaProtocol
import Logging
import NIOCore
import SluiceStorage

/// Committed offsets (commit, fetch, delete, expiry) and the admin requests (list, describe, delete groups).
extension GroupCoordinator {
    // MARK: Offsets

    /// OffsetCommit: per-partition errors, once the accepted commits are durable.
    public func commitOffsets(_ request: OffsetCommitInput, completion: @escaping ([TopicPartitionKey: KafkaErrorCode]) -> Void) {
        let now = clock()
        func failAll(_ error: KafkaErrorCode) {
            completion(Dictionary(request.entries.map { ($0.partition, error) }, uniquingKeysWith: { first, _ in first }))
        }
        guard !request.groupId.isEmpty else { return failAll(.invalidGroupId) }
        let group: ClassicGroup
        if let existing = groups[request.groupId] {
            group = existing
        } else if request.generationId < 0 {
            // Not using group management (assign() and commit): the group exists for its offsets.
            group = makeGroup(request.groupId, nowMs: now)
        } else {
            // A member of a generation this coordinator does not know (or an expired group).
            return failAll(.illegalGeneration)
        }
        if request.generationId >= 0 || !request.memberId.isEmpty || request.groupInstanceId != nil {
            if group.isFenced(memberId: request.memberId, instanceId: request.groupInstanceId) { return failAll(.fencedInstanceId) }
            guard let member = group.members[request.memberId] else { return failAll(.unknownMemberId) }
            guard request.generationId == group.generationId else { return failAll(.illegalGeneration) }
            if group.state == .completingRebalance { return failAll(.rebalanceInProgress) }
            member.lastHeartbeatMs = now
        } else if group.state != .empty {
            // Only members may commit for a group with members.
            return failAll(.unknownMemberId)
        }
        var errors: [TopicPartitionKey: KafkaErrorCode] = [:]
        var accepted: [(TopicPartitionKey, CommittedOffset)] = []
        for entry in request.entries {
            let metadata = entry.metadata ?? ""
            if metadata.utf8.count > config.offsetMetadataMaxBytes {
                errors[entry.partition] = .offsetMetadataTooLarge
                continue
            }
            let timestamp = entry.commitTimestampMs >= 0 ? entry.commitTimestampMs : now
            let expire = request.retentionTimeMs >= 0 ? timestamp + request.retentionTimeMs : nil
            accepted.append((entry.partition, CommittedOffset(
                offset: entry.offset, leaderEpoch: entry.leaderEpoch, metadata: metadata, commitTimestampMs: timestamp,
                expireTimestampMs: expire)))
        }
        guard !accepted.isEmpty else { return completion(errors) }
        group.pendingOffsetWrites += 1
        persist(accepted.map { .offset(group: group.groupId, $0.0, $0.1) }) { [self] result in
            group.pendingOffsetWrites -= 1
            switch result {
            case .success:
                for (partition, committed) in accepted { group.offsets[partition] = committed }
                for (partition, _) in accepted { errors[partition] = KafkaErrorCode.none }
            case .failure(let error):
                logger.error("could not store offset commit", metadata: ["group": "\(group.groupId)", "error": "\(error)"])
                for (partition, _) in accepted { errors[partition] = .coordinatorNotAvailable }
                forgetIfUnused(group)
            }
            completion(errors)
        }
    }

    /// OffsetFetch for one group: every committed offset (`partitions` nil) or the named ones
    /// (-1 where nothing is committed).
    public func fetchOffsets(groupId: String, partitions: [TopicPartitionKey]?) -> [(TopicPartitionKey, CommittedOffset?)] {
        let offsets = groups[groupId]?.offsets ?? [:]
        guard let partitions else { return offsets.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
        return partitions.map { ($0, offsets[$0]) }
    }

    /// OffsetDelete: removes committed offsets of partitions the group no longer subscribes to.
    public func deleteOffsets(groupId: String, partitions: [TopicPartitionKey],
                              completion: @escaping (KafkaErrorCode, [TopicPartitionKey: KafkaErrorCode]) -> Void) {
        guard !groupId.isEmpty else { return completion(.invalidGroupId, [:]) }
        guard let group = groups[groupId], group.state != .dead else { return completion(.groupIdNotFound, [:]) }
        var errors: [TopicPartitionKey: KafkaErrorCode] = [:]
        var deletable: [TopicPartitionKey] = []
        let subscribed: Set<String>
        switch group.state {
        case .empty:
            subscribed = []
        case .preparingRebalance where group.protocolType == "consumer",
             .completingRebalance where group.protocolType == "consumer",
             .stable where group.protocolType == "consumer":
            subscribed = group.subscribedTopics ?? []
        default:
            return completion(.nonEmptyGroup, [:])
        }
        for partition in partitions {
            if subscribed.contains(partition.topic) {
                errors[partition] = .groupSubscribedToTopic
            } else {
                errors[partition] = KafkaErrorCode.none
                if group.offsets[partition] != nil { deletable.append(partition) }
            }
        }
        for partition in deletable { group.offsets.removeValue(forKey: partition) }
        persist(deletable.map { .offset(group: groupId, $0, nil) }) { [self] result in
            if case .failure(let error) = result {
                logger.error("could not store offset deletion", metadata: ["group": "\(groupId)", "error": "\(error)"])
                return completion(.coordinatorNotAvailable, [:])
            }
            completion(.none, errors)
        }
    }

    /// Forgets committed offsets of a deleted topic (as Kafka does when a partition goes away).
    public func removeOffsets(forTopic topic: String) {
        for group in groups.values {
            let gone = group.offsets.keys.filter { $0.topic == topic }
            guard !gone.isEmpty else { continue }
            for partition in gone { group.offsets.removeValue(forKey: partition) }
            persist(gone.map { .offset(group: group.groupId, $0, nil) }) { _ in }
        }
    }

    /// Removes expired offsets (offsets.retention.minutes, KIP-211) and then groups left with
    /// neither members nor offsets.
    public func expireOffsets() {
        let now = clock()
        let retention = config.offsetsRetentionMs
        for group in Array(groups.values) where group.pendingOffsetWrites == 0 {
            let subscribed: Set<String>
            let base: (CommittedOffset) -> Int64
            switch (group.protocolType, group.state) {
            case (nil, _):
                subscribed = []
                base = { $0.commitTimestampMs }
            case (_, .empty):
                subscribed = []
                let emptiedAt = group.stateTimestampMs
                base = { _ in emptiedAt }
            case ("consumer", .stable) where group.subscribedTopics != nil:
                subscribed = group.subscribedTopics ?? []
                base = { $0.commitTimestampMs }
            default:
                continue
            }
            let expired = group.offsets.filter { partition, committed in
                guard !subscribed.contains(partition.topic) else { return false }
                if let expire = committed.expireTimestampMs { return now >= expire }
                return now - base(committed) >= retention
            }.map(\.key)
            var records: [GroupRecord] = expired.map { .offset(group: group.groupId, $0, nil) }
            for partition in expired { group.offsets.removeValue(forKey: partition) }
            if group.offsets.isEmpty && group.isEmptyOfMembers && group.state == .empty && group.pendingMembers.isEmpty {
                group.transition(to: .dead, nowMs: now)
                groups.removeValue(forKey: group.groupId)
                if group.protocolType != nil { records.append(.group(group.groupId, nil)) }
            }
            guard !records.isEmpty else { continue }
            logger.info("expired offsets", metadata: ["group": "\(group.groupId)", "partitions": "\(expired.count)"])
            persist(records) { _ in }
        }
    }

    // MARK: Admin

    public func describeGroup(_ groupId: String) -> GroupDescription {
        guard let group = groups[groupId] else {
            return GroupDescription(groupId: groupId, error: .none, state: .dead, protocolType: "", protocolName: "", members: [])
        }
        let stable = group.state == .stable
        return GroupDescription(
            groupId: groupId, error: .none, state: group.state, protocolType: group.protocolType ?? "",
            protocolName: stable ? group.protocolName ?? "" : "",
            members: group.orderedMembers.map {
                GroupDescription.Member(memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, clientId: $0.clientId,
                                        clientHost: $0.clientHost,
                                        metadata: stable ? $0.metadata(for: group.protocolName) : ByteBuffer(),
                                        assignment: stable ? $0.assignment : ByteBuffer())
            })
    }

    /// Every group, optionally only those in `states` (Kafka's state names, any case).
    public func listGroups(states: [String] = []) -> [GroupListing] {
        let wanted = Set(states.map { $0.lowercased() })
        return groups.values
            .filter { wanted.isEmpty || wanted.contains($0.state.rawValue.lowercased()) }
            .sorted { $0.groupId < $1.groupId }
            .map { GroupListing(groupId: $0.groupId, protocolType: $0.protocolType ?? "", state: $0.state) }
    }

    /// DeleteGroups: only groups without members; their offsets go with them.
    public func deleteGroups(_ groupIds: [String], completion: @escaping ([(String, KafkaErrorCode)]) -> Void) {
        var results: [(String, KafkaErrorCode)] = []
        var records: [GroupRecord] = []
        var deleted: [String] = []
        for groupId in groupIds {
            guard !groupId.isEmpty else { results.append((groupId, .invalidGroupId)); continue }
            guard let group = groups[groupId], group.state != .dead else { results.append((groupId, .groupIdNotFound)); continue }
            guard group.state == .empty, group.pendingOffsetWrites == 0 else { results.append((groupId, .nonEmptyGroup)); continue }
            records += group.offsets.keys.sorted().map { .offset(group: groupId, $0, nil) }
            if group.protocolType != nil { records.append(.group(groupId, nil)) }
            group.transition(to: .dead, nowMs: clock())
            groups.removeValue(forKey: groupId)
            deleted.append(groupId)
            results.append((groupId, .none))
        }
        persist(records) { [logger] result in
            if case .failure(let error) = result {
                logger.error("could not store group deletion", metadata: ["groups": "\(deleted)", "error": "\(error)"])
                completion(results.map { ($0.0, deleted.contains($0.0) ? .coordinatorNotAvailable : $0.1) })
                return
            }
            completion(results)
        }
    }

    /// A group created for a request that then failed, with nothing in it, is not kept.
    func forgetIfUnused(_ group: ClassicGroup) {
        if group.isEmptyOfMembers && group.offsets.isEmpty && group.pendingMembers.isEmpty && group.pendingOffsetWrites == 0
            && group.protocolType == nil && group.state == .empty {
            groups.removeValue(forKey: group.groupId)
        }
    }
}
