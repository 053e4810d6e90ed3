/// Kafka's RangeAssignor: per topic, the members subscribed to it (sorted by member id) get
/// consecutive ranges of partitions, the first `partitions % members` one extra.
enum RangeAssignor {

    static func assign(subscriptions: [String: [String]], partitionCounts: [String: Int32]) -> [String: [TopicPartition]] {
        var result: [String: [TopicPartition]] = Dictionary(uniqueKeysWithValues: subscriptions.keys.map { ($0, []) })
        let topics = Set(subscriptions.values.flatMap { $0 })
        for topic in topics.sorted() {
            guard let count = partitionCounts[topic], count > 0 else { continue }
            let members = subscriptions.filter { $0.value.contains(topic) }.keys.sorted()
            guard !members.isEmpty else { continue }
            let perMember = Int(count) / members.count
            let extra = Int(count) % members.count
            var next: Int32 = 0
            for (index, member) in members.enumerated() {
                let share = perMember + (index < extra ? 1 : 0)
                for _ in 0..<share {
                    result[member, default: []].append(TopicPartition(topic, next))
                    next += 1
                }
            }
        }
        return result
    }
}
