import SluiceStorage

extension Partition {
    /// On the partition's owner: appends as a leader with acks=all would (refused where this
    /// broker does not lead the partition or its ISR is below min.insync.replicas) and reports
    /// once the high watermark has passed what was appended. How the coordinators write their
    /// internal topics (`__consumer_offsets`, `__transaction_state`) and markers: Kafka's
    /// coordinators append with acks=all too. `append` writes to the leader's log and reports
    /// the offset after its last batch.
    public func appendReplicated(timeoutMs: Int64,
                                 _ append: (PartitionLog, @escaping (Result<Int64, any Error>) -> Void) throws -> Void,
                                 completion: @escaping (Result<Void, any Error>) -> Void) {
        precondition(owner.isCurrent, "a partition is appended to on its owner only")
        let minInsync = minInsyncReplicas
        let log: PartitionLog
        switch logForAppend(acks: -1, minInsyncReplicas: minInsync) {
        case .failure(let refusal): return completion(.failure(refusal))
        case .success(let leaderLog): log = leaderLog
        }
        do {
            try append(log) { result in
                switch result {
                case .failure(let error):
                    completion(.failure(error))
                case .success(let end):
                    self.awaitReplication(through: end, minInsync: minInsync, timeoutMs: timeoutMs) { code in
                        guard code == .none else {
                            return completion(.failure(TopicError(code: code, message: "\(self.topic)[\(self.index)] write not replicated: \(code.name)")))
                        }
                        completion(.success(()))
                    }
                }
            }
        } catch {
            completion(.failure(error))
        }
    }
}
