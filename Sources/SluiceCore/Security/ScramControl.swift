import KafkaProtocol
import NIOCore
import SluiceSASL

/// AlterUserScramCredentials and DescribeUserScramCredentials decided against the current
/// credentials, with the rules and messages of Kafka's ScramControlManager. Pure: the
/// controller (or a single broker's security store) appends the records and answers once they
/// are durable.
public enum ScramControl {
    public struct Result: Sendable, Equatable {
        public var user: String
        public var error: KafkaErrorCode
        public var message: String?

        public init(user: String, error: KafkaErrorCode, message: String? = nil) {
            self.user = user
            self.error = error
            self.message = message
        }
    }

    /// The records to append and one result per user, in the order users first appear. A user
    /// with any refused change gets none of its changes.
    public static func alter(_ request: AlterUserScramCredentialsRequest, current: UserScramCredentials)
        -> (records: [MetadataRecordToWrite], results: [Result]) {
        var order: [String] = []
        var changes: [String: [(mechanism: Int8, upsertion: AlterUserScramCredentialsRequest.ScramCredentialUpsertion?)]] = [:]
        for deletion in request.deletions {
            if changes[deletion.name] == nil { order.append(deletion.name) }
            changes[deletion.name, default: []].append((deletion.mechanism, nil))
        }
        for upsertion in request.upsertions {
            if changes[upsertion.name] == nil { order.append(upsertion.name) }
            changes[upsertion.name, default: []].append((upsertion.mechanism, upsertion))
        }
        var records: [MetadataRecordToWrite] = []
        var results: [Result] = []
        for user in order {
            let userChanges = changes[user] ?? []
            var userRecords: [MetadataRecordToWrite] = []
            var failure: (KafkaErrorCode, String)?
            // Duplicates first, as Kafka checks them before anything about the credentials.
            if Set(userChanges.map(\.mechanism)).count != userChanges.count {
                failure = (.duplicateResource, "A user credential cannot be altered twice in the same request")
            }
            for change in userChanges where failure == nil {
                if user.isEmpty {
                    failure = (.unacceptableCredential, "Username must not be empty")
                    break
                }
                guard let mechanism = ScramMechanism(rawValue: change.mechanism) else {
                    failure = (.unsupportedSaslMechanism, "Unknown SCRAM mechanism")
                    break
                }
                if let upsertion = change.upsertion {
                    let iterations = Int(upsertion.iterations)
                    if iterations < ScramMechanism.minIterations {
                        failure = (.unacceptableCredential, "Too few iterations")
                        break
                    }
                    if iterations > ScramMechanism.maxIterations {
                        failure = (.unacceptableCredential, "Too many iterations")
                        break
                    }
                    let salt = Array(buffer: upsertion.salt)
                    let salted = Array(buffer: upsertion.saltedPassword)
                    guard !salt.isEmpty, !salted.isEmpty else {
                        failure = (.unacceptableCredential, "Salt and salted password must not be empty")
                        break
                    }
                    let credential = ScramCredential(mechanism: mechanism, saltedPassword: salted, salt: salt, iterations: iterations)
                    userRecords.append(MetadataRecordToWrite(
                        UserScramCredentials.record(user: user, mechanism: mechanism, credential: credential), .userScramCredential))
                } else {
                    guard current.credential(user: user, mechanism: mechanism) != nil else {
                        failure = (.resourceNotFound, "Attempt to delete a user credential that does not exist")
                        break
                    }
                    userRecords.append(MetadataRecordToWrite(
                        RemoveUserScramCredentialRecord(name: user, mechanism: mechanism.rawValue), .removeUserScramCredential))
                }
            }
            if let (error, message) = failure {
                results.append(Result(user: user, error: error, message: message))
            } else {
                records += userRecords
                results.append(Result(user: user, error: .none, message: nil))
            }
        }
        return (records, results)
    }

    /// The same refusal for every user a request names (a save that failed, no controller).
    public static func refusal(of request: AlterUserScramCredentialsRequest, _ error: KafkaErrorCode, _ message: String) -> [Result] {
        Set(request.deletions.map(\.name) + request.upsertions.map(\.name)).sorted().map { Result(user: $0, error: error, message: message) }
    }

    public static func response(_ results: [Result]) -> AlterUserScramCredentialsResponse {
        AlterUserScramCredentialsResponse(results: results.map {
            .init(user: $0.user, errorCode: $0.error.rawValue, errorMessage: $0.message)
        })
    }

    /// Every user with a credential when `users` is nil or empty, else the named ones
    /// (RESOURCE_NOT_FOUND for one without, DUPLICATE_RESOURCE for one named twice).
    public static func describe(_ request: DescribeUserScramCredentialsRequest, current: UserScramCredentials)
        -> DescribeUserScramCredentialsResponse {
        func infos(_ user: String) -> [DescribeUserScramCredentialsResponse.CredentialInfo] {
            (current.users[user] ?? [:]).sorted { $0.key.rawValue < $1.key.rawValue }
                .map { .init(mechanism: $0.key.rawValue, iterations: Int32($0.value.iterations)) }
        }
        guard let named = request.users, !named.isEmpty else {
            return DescribeUserScramCredentialsResponse(results: current.users.keys.sorted().map {
                .init(user: $0, errorCode: 0, errorMessage: nil, credentialInfos: infos($0))
            })
        }
        var counts: [String: Int] = [:]
        for user in named { counts[user.name, default: 0] += 1 }
        var results: [DescribeUserScramCredentialsResponse.DescribeUserScramCredentialsResult] = []
        var answered = Set<String>()
        for user in named.map(\.name) where answered.insert(user).inserted {
            if counts[user, default: 0] > 1 {
                results.append(.init(user: user, errorCode: KafkaErrorCode.duplicateResource.rawValue,
                                     errorMessage: "Cannot describe SCRAM credentials for the same user twice in a single request: \(user)",
                                     credentialInfos: []))
            } else if current.users[user] == nil {
                results.append(.init(user: user, errorCode: KafkaErrorCode.resourceNotFound.rawValue,
                                     errorMessage: "Attempt to describe a user credential that does not exist: \(user)", credentialInfos: []))
            } else {
                results.append(.init(user: user, errorCode: 0, errorMessage: nil, credentialInfos: infos(user)))
            }
        }
        return DescribeUserScramCredentialsResponse(results: results)
    }
}
