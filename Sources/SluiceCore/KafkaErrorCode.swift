/// Kafka's error codes, as clients expect them on the wire.
public struct KafkaErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible, Error {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    public static let unknownServerError = KafkaErrorCode(rawValue: -1)
    public static let none = KafkaErrorCode(rawValue: 0)
    public static let offsetOutOfRange = KafkaErrorCode(rawValue: 1)
    public static let corruptMessage = KafkaErrorCode(rawValue: 2)
    public static let unknownTopicOrPartition = KafkaErrorCode(rawValue: 3)
    public static let invalidFetchSize = KafkaErrorCode(rawValue: 4)
    public static let leaderNotAvailable = KafkaErrorCode(rawValue: 5)
    public static let notLeaderOrFollower = KafkaErrorCode(rawValue: 6)
    public static let requestTimedOut = KafkaErrorCode(rawValue: 7)
    public static let messageTooLarge = KafkaErrorCode(rawValue: 10)
    public static let coordinatorNotAvailable = KafkaErrorCode(rawValue: 15)
    public static let invalidTopicException = KafkaErrorCode(rawValue: 17)
    public static let recordListTooLarge = KafkaErrorCode(rawValue: 18)
    public static let invalidRequiredAcks = KafkaErrorCode(rawValue: 21)
    public static let invalidTimestamp = KafkaErrorCode(rawValue: 32)
    public static let unsupportedSaslMechanism = KafkaErrorCode(rawValue: 33)
    public static let unsupportedVersion = KafkaErrorCode(rawValue: 35)
    public static let topicAlreadyExists = KafkaErrorCode(rawValue: 36)
    public static let invalidPartitions = KafkaErrorCode(rawValue: 37)
    public static let invalidReplicationFactor = KafkaErrorCode(rawValue: 38)
    public static let invalidReplicaAssignment = KafkaErrorCode(rawValue: 39)
    public static let invalidConfig = KafkaErrorCode(rawValue: 40)
    public static let invalidRequest = KafkaErrorCode(rawValue: 42)
    public static let unsupportedForMessageFormat = KafkaErrorCode(rawValue: 43)
    public static let policyViolation = KafkaErrorCode(rawValue: 44)
    public static let transactionalIdAuthorizationFailed = KafkaErrorCode(rawValue: 53)
    public static let kafkaStorageError = KafkaErrorCode(rawValue: 56)
    public static let unknownProducerId = KafkaErrorCode(rawValue: 59)
    public static let invalidRecord = KafkaErrorCode(rawValue: 87)
    public static let unsupportedCompressionType = KafkaErrorCode(rawValue: 76)
    public static let fetchSessionIdNotFound = KafkaErrorCode(rawValue: 70)
    public static let invalidFetchSessionEpoch = KafkaErrorCode(rawValue: 71)
    public static let unknownTopicId = KafkaErrorCode(rawValue: 100)
    public static let inconsistentTopicId = KafkaErrorCode(rawValue: 103)
    public static let offsetNotAvailable = KafkaErrorCode(rawValue: 78)
    public static let resourceNotFound = KafkaErrorCode(rawValue: 91)

    public var description: String { "\(rawValue)" }
}
