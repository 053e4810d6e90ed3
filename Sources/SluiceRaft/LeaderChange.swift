import KafkaProtocol
import NIOCore

/// The control record a new leader writes first in its epoch: Kafka's LeaderChangeMessage
/// (control type 2), naming the leader and the voters. Committing it commits every earlier
/// record, which is why a leader exposes nothing before it.
enum LeaderChangeRecord {
    static func encode(leaderId: Int32, voters: Set<Int32>, grantingVoters: Set<Int32>) -> [UInt8] {
        let message = LeaderChangeMessage(
            version: 0, leaderId: leaderId,
            voters: voters.sorted().map { LeaderChangeMessage.Voter(voterId: $0) },
            grantingVoters: grantingVoters.sorted().map { LeaderChangeMessage.Voter(voterId: $0) })
        var buffer = ByteBufferAllocator().buffer(capacity: 32)
        // Writing a generated message to a growable buffer cannot fail at version 0.
        try? message.write(to: &buffer, version: 0)
        return Array(buffer.readableBytesView)
    }

    static func decode(_ bytes: [UInt8]) -> LeaderChangeMessage? {
        var buffer = ByteBuffer(bytes: bytes)
        return try? LeaderChangeMessage(from: &buffer, version: 0)
    }
}
